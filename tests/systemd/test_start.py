"""Cluster mode under systemd with the unit as rendered: a first boot's minikube start outlasts the unit's own
TimeoutStartSec= (docs/vm.md: 3–6 minutes on a real first boot).

minikube is the project's stand-in (tests/supervisor/minikube: a real kube-apiserver, etcd, controller-manager,
scheduler and kwok, started as user otel inside the unit's sandbox), behind a wrapper whose `start` first
sleeps longer than the unit's start timeout. ClickHouse is a second otel-supervisor in local mode in the same
machine (embedded engine, loggen → shipper → ClickHouse): the rows the cluster supervisor checks are real
pipeline rows. The configuration is the VM's (vm/config.yaml) with only these paths and intervals changed."""
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
import time

import pytest
import yaml

from conftest import (CHDB_LIB, PREFIX, SCHEMA_DIR, SOURCE_ROOT, UNIT, Machine, figure, need_chdb, need_engine,
                      render_unit, unit_settings, usec, vm_config, wait_until)

STACK = "otel-test-stack.service"
STACK_PORT = 18123
PHASES = ["starting-cluster", "loading-images", "applying", "waiting-rollout", "ready"]


def k8s_bindir():
    out = subprocess.run([os.path.join(SOURCE_ROOT, "tests", "k8s", "control-plane.sh"), "bindir"],
                                       capture_output=True, text=True).stdout.strip()
    if not os.path.exists(os.path.join(out, "kube-apiserver")):
        if os.environ.get("CI") == "true":
            pytest.fail(f"control-plane binaries missing in {out} (scripts/deps/k8s.sh)")
        pytest.skip("control-plane binaries not built (scripts/deps/k8s.sh)")
    return out


def image_archive(tag, compress):
    """A small complete docker-archive (manifest.json, config blob, one layer) named `tag`."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        data = f"image {tag}\n".encode()
        info = tarfile.TarInfo("etc/image-name")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    layer_bytes = layer.getvalue()
    diff_id = hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]}}).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": f"{config_hex}.json", "RepoTags": [tag],
                            "Layers": [f"{diff_id}/layer.tar"]}]).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, blob in ((f"{config_hex}.json", config), (f"{diff_id}/layer.tar", layer_bytes),
                           ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            t.addfile(info, io.BytesIO(blob))
    return gzip.compress(out.getvalue()) if compress else out.getvalue()


def manifests():
    """The repository's manifests (what the VM installs in /etc/otel-supervisor/manifests) and the images they
    use with imagePullPolicy: Never, which the node must have before the apply."""
    files, images = {}, set()
    root = os.path.join(SOURCE_ROOT, "manifests")
    for d, _, names in os.walk(root):
        for n in names:
            if not n.endswith(".yaml"):
                continue
            path = os.path.join(d, n)
            files[os.path.relpath(path, root)] = open(path).read()
            for doc in yaml.safe_load_all(files[os.path.relpath(path, root)]):
                spec = ((doc or {}).get("spec") or {}).get("template", {}).get("spec", {})
                for c in spec.get("containers", []) + spec.get("initContainers", []):
                    if c.get("imagePullPolicy") == "Never":
                        images.add(c["image"])
    return files, sorted(images)


def start_timeout_usec():
    """TimeoutStartSec= of the unit as vm/default.nix renders it."""
    v = unit_settings(render_unit()).get(("Service", "TimeoutStartSec"), ["90s"])[-1]
    return usec(v)


def cluster_machine(tmp_path, name, start_delay, start_timeout):
    """A machine with the VM's unit and config in cluster mode; `minikube start` sleeps `start_delay` seconds
    (None: forever) before the stand-in starts the control plane; `start_timeout` is the config's."""
    bindir = k8s_bindir()
    m = Machine(tmp_path, name)
    c = vm_config()
    c["poll_interval"] = "1s"
    c["max_log_age"] = "30s"
    c["start_timeout"] = f"{start_timeout}s"
    # ClickHouse is the test's stack below, not the cluster's: the supervisor reads it with the stack's
    # reader password, given to both (the stack keeps a password file it finds, docs/security.md).
    c["clickhouse"].update({"url": f"http://127.0.0.1:{STACK_PORT}", "password_file": "/etc/otel-test-stack/reader.password"})
    c["cluster"].update({"start_args": ["--driver=docker"], "reapply_interval": "1m"})
    m.install_appliance(c)
    m.bind_ro(os.path.dirname(bindir))

    files, images = manifests()
    for rel, text in files.items():
        m.put(os.path.join(c["cluster"]["manifests_dir"], rel), text)
    for i, tag in enumerate(images):
        # One compressed, as Nix builds them: the supervisor unpacks it before loading.
        name_ = re.sub(r"[^a-z0-9]+", "-", tag) + (".tar.gz" if i == 0 else ".tar")
        m.put(os.path.join(c["cluster"]["images_dir"], name_), image_archive(tag, i == 0))

    # The stand-in and the control plane script, laid out as in the repository.
    lib = f"{PREFIX}/lib/otel-test"
    m.copy(os.path.join(SOURCE_ROOT, "tests", "supervisor", "minikube"), f"{lib}/supervisor/minikube", 0o755)
    for f in ("control-plane.sh", "free-port.py", "lib.sh", "versions.env"):
        m.copy(os.path.join(SOURCE_ROOT, "tests", "k8s", f), f"{lib}/k8s/{f}", 0o755)
    sleep = "infinity" if start_delay is None else str(start_delay)
    m.put(f"{PREFIX}/bin/minikube", f"""#!/bin/sh
# The stand-in minikube with a first boot's slow start: `start` sleeps {sleep} s before it starts anything.
export FAKE_MINIKUBE_HOME="$MINIKUBE_HOME/stand-in"
for a in "$@"; do
	if [ "$a" = start ]; then
		echo "* slow start: sleeping {sleep} s"
		sleep {sleep}
	fi
done
exec python3 {lib}/supervisor/minikube "$@"
""", 0o755)

    # ClickHouse with real rows: the local runtime as a unit of its own.
    stack = {"mode": "local", "state_dir": "/var/lib/otel-test-stack", "poll_interval": "1s",
             "status": {"socket": "/run/otel-test-stack/status.sock", "listen": ""},
             "clickhouse": {"url": f"http://127.0.0.1:{STACK_PORT}", "user": "otel_reader"},
             "local": {"data_dir": "/var/lib/otel-test-stack/local", "chdb_lib": CHDB_LIB, "schema_dir": SCHEMA_DIR,
                       "clickhouse_port": STACK_PORT, "shipper_port": 12020, "loggen_health_port": 18081,
                       "loggen_args": ["--sleep-duration", "200ms"]}}
    m.put("/etc/otel-test-stack/config.yaml", yaml.safe_dump(stack))
    m.put("/etc/otel-test-stack/reader.password", "boot-test-reader-password\n", 0o440)
    m.put("/etc/tmpfiles.d/otel-boot-test.conf", "z /etc/otel-test-stack/reader.password 0440 root otel -\n")
    os.chmod(m.put("/var/lib/otel-test-stack/secrets/reader.password", "boot-test-reader-password\n", 0o600).parent, 0o700)
    m.put(f"/etc/systemd/system/{STACK}", f"""[Unit]
Description=ClickHouse for the boot test (otel-supervisor local runtime)
[Service]
Type=notify
ExecStart={PREFIX}/bin/otel-supervisor --config /etc/otel-test-stack/config.yaml
Environment=PATH={PREFIX}/bin:/usr/bin:/bin
StateDirectory=otel-test-stack
RuntimeDirectory=otel-test-stack
TimeoutStartSec=5min
[Install]
WantedBy=multi-user.target
""")
    m.link(f"/etc/systemd/system/multi-user.target.wants/{STACK}", f"/etc/systemd/system/{STACK}")
    return m


class Watch:
    """Samples what systemd reports about the unit (and the system) until `done` says stop."""

    def __init__(self, machine):
        self.m = machine
        self.samples = []

    def sample(self):
        s = self.m.show(UNIT, "ActiveState", "SubState", "NRestarts", "MainPID", "StatusText")
        s["t"] = time.monotonic()
        s["system"] = self.m.run(["systemctl", "is-system-running"], check=False).stdout.strip()
        if not self.samples or {k: v for k, v in s.items() if k != "t"} != \
                {k: v for k, v in self.samples[-1].items() if k != "t"}:
            print(f"{s['t'] - self.m.t_boot:7.1f}s {s}")
        self.samples.append(s)
        return s

    def phases(self):
        out = []
        for s in self.samples:
            p = s["StatusText"].split(":")[0]
            if p and (not out or out[-1] != p):
                out.append(p)
        return out


@pytest.fixture
def machines(tmp_path):
    made = []
    yield made
    for m in made:
        m.shutdown()


def test_slow_cluster_start_is_not_killed(tmp_path, machines):
    need_engine()
    need_chdb()
    limit = start_timeout_usec()
    delay = int(limit / 1e6) + 15
    m = cluster_machine(tmp_path, "slow-start", delay, start_timeout=1200)
    machines.append(m)
    m.boot()
    figure("slow start: systemd answering after (s)", round(m.t_manager, 2))
    loaded = m.show(UNIT, "TimeoutStartUSec", "Type")
    assert usec(loaded["TimeoutStartUSec"]) == limit and loaded["Type"] == "notify", loaded

    w = Watch(m)

    wait_until(lambda: (s := w.sample())["ActiveState"] in ("active", "failed") or s["NRestarts"] != "0",
               delay + 300, 0.5, "the unit active (or killed)")
    s = m.show(UNIT, "ActiveState", "SubState", "NRestarts", "StatusText", "ExecMainStartTimestampMonotonic",
               "ActiveEnterTimestampMonotonic", "Result")
    print(s)
    journal = m.journal()
    assert "timed out" not in journal and "Terminating" not in journal, journal
    assert (s["ActiveState"], s["SubState"], s["NRestarts"], s["Result"]) == ("active", "running", "0", "success"), s
    assert len({x["MainPID"] for x in w.samples if x["MainPID"] != "0"}) == 1

    # The start outlasted the unit's TimeoutStartSec=, and READY came with the stack ready.
    took = int(s["ActiveEnterTimestampMonotonic"]) - int(s["ExecMainStartTimestampMonotonic"])
    figure("slow start: ExecStart → READY (s)", round(took / 1e6, 1))
    figure("slow start: the unit's TimeoutStartSec (s)", limit / 1e6)
    assert took > limit, (took, limit)
    assert s["StatusText"].startswith("ready: "), s
    before = [x for x in w.samples if x["ActiveState"] != "active"]
    assert before and all((x["ActiveState"], x["SubState"]) == ("activating", "start") for x in before if x["MainPID"] != "0")
    # STATUS= showed each phase as it passed, in order: the journal has a "state: " line for each change
    # of the state the supervisor told systemd (a short phase may fall between two samples of systemctl).
    told = []
    for _, msg in m.messages():
        found = re.search(r"\bstate: ([a-z-]+)", msg)
        if found and (not told or told[-1] != found.group(1)):
            told.append(found.group(1))
    figure("slow start: STATUS= phases told", " → ".join(told))
    assert [p for p in told if p in PHASES] == PHASES, told
    # What systemctl showed while sampling is that sequence or a part of it, in the same order.
    seen = [p for p in w.phases() if p in PHASES]
    assert seen == sorted(seen, key=PHASES.index) and seen[-1] == "ready", seen
    # multi-user.target waits for READY: the system is "starting" until the stack is ready.
    assert {x["system"] for x in before} <= {"initializing", "starting"}, {x["system"] for x in before}
    wait_until(lambda: m.run(["systemctl", "is-system-running"], check=False).stdout.strip() == "running", 30, 0.5,
               "system running")


def test_start_timeout_of_the_config_ends_the_start(tmp_path, machines):
    """A cluster that never starts: the configuration's start_timeout (longer than the unit's TimeoutStartSec)
    ends the start; systemd is told so and neither kills nor restarts the supervisor, whose status says why."""
    need_engine()
    need_chdb()
    limit = start_timeout_usec()
    start_timeout = int(limit / 1e6) + 15
    m = cluster_machine(tmp_path, "never-ready", None, start_timeout=start_timeout)
    machines.append(m)
    m.boot()
    w = Watch(m)
    wait_until(lambda: (s := w.sample())["ActiveState"] == "active" or s["NRestarts"] != "0",
               start_timeout + 120, 0.5, "the unit active (or killed)")
    s = m.show(UNIT, "ActiveState", "SubState", "NRestarts", "StatusText", "ExecMainStartTimestampMonotonic",
               "ActiveEnterTimestampMonotonic")
    print(s)
    journal = m.journal()
    assert "timed out" not in journal and "Terminating" not in journal, journal
    assert (s["ActiveState"], s["SubState"], s["NRestarts"]) == ("active", "running", "0"), s
    took = (int(s["ActiveEnterTimestampMonotonic"]) - int(s["ExecMainStartTimestampMonotonic"])) / 1e6
    figure("start_timeout passed: ExecStart → READY (s)", round(took, 1))
    assert start_timeout <= took < start_timeout + 10, (took, start_timeout)
    # Still starting the cluster at start_timeout: degraded, the phase named first in the reason.
    assert s["StatusText"].startswith("degraded: starting-cluster: "), s
