"""Cluster mode against a real control plane: a thin stand-in `minikube` (tests/supervisor/minikube) starts
tests/k8s's etcd + kube-apiserver + controller-manager + scheduler + kwok, records image loads and answers
`status -o json` in minikube's format. The supervisor drives start → images → apply → rollout → ready on
it, with the real manifests/ and a real ClickHouse engine (the embedded endpoint). kwok's pods run no
process, so the rows come from the project's own pipeline beside it: a loggen process whose stdout is
written as a CRI container log file (as a container runtime writes it) and a shipper process tailing that
file into the endpoint. No test writes a row. The same stack on a real node, with the rows coming from
the pods themselves, is the node suite's (tests/node/)."""
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tarfile
import threading
import time
import urllib.request

import pytest
import yaml

from conftest import BIN, CHDB_LIB, SOURCE_ROOT, Supervisor, free_port, http, need_chdb, otelctl, status_json, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
MINIKUBE = os.path.join(HERE, "minikube")
CONTROL_PLANE = os.path.join(SOURCE_ROOT, "tests", "k8s", "control-plane.sh")


def need_control_plane():
    bindir = subprocess.run([CONTROL_PLANE, "bindir"], capture_output=True, text=True).stdout.strip()
    if not os.path.exists(os.path.join(bindir, "kube-apiserver")):
        if os.environ.get("CI") == "true":
            pytest.fail(f"control-plane binaries missing in {bindir}: scripts/deps/k8s.sh builds them")
        pytest.skip("control-plane binaries not built (scripts/deps/k8s.sh)")


def never_pulled_images(manifests_dir):
    """Images the manifests reference with imagePullPolicy: Never: the node must have them before applying."""
    found = set()
    for root, _, files in os.walk(manifests_dir):
        for f in files:
            if not f.endswith((".yaml", ".yml")):
                continue
            for doc in yaml.safe_load_all(open(os.path.join(root, f))):
                spec = ((doc or {}).get("spec") or {}).get("template", {}).get("spec", {})
                for c in spec.get("containers", []) + spec.get("initContainers", []):
                    if c.get("imagePullPolicy") == "Never":
                        found.add(c["image"])
    return sorted(found)


def image_archive(path, tag, compress=False):
    """A small but complete docker-archive (docker save layout): manifest.json, config blob, one layer."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        data = f"image {tag}\n".encode()
        info = tarfile.TarInfo("etc/image-name")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    layer_bytes = layer.getvalue()
    diff_id = hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]}, "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]}}).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": f"{config_hex}.json", "RepoTags": [tag], "Layers": [f"{diff_id}/layer.tar"]}]).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, blob in ((f"{config_hex}.json", config), (f"{diff_id}/layer.tar", layer_bytes), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            t.addfile(info, io.BytesIO(blob))
    data = out.getvalue()
    with open(path, "wb") as f:
        f.write(gzip.compress(data) if compress else data)
    return "sha256:" + config_hex


class Kube:
    """Just enough of a Kubernetes client for assertions, with the control plane's admin certificate."""

    def __init__(self, home):
        pki = os.path.join(home, "control-plane", "pki")
        self.ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
        self.ctx.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))
        with open(os.path.join(home, "control-plane", "api-port")) as f:
            self.base = f"https://127.0.0.1:{f.read().strip()}"

    def request(self, method, path, body=None, content_type="application/json"):
        req = urllib.request.Request(self.base + path, method=method, data=json.dumps(body).encode() if body is not None else None, headers={"Content-Type": content_type})
        with urllib.request.urlopen(req, context=self.ctx, timeout=20) as r:
            return json.loads(r.read())


class Endpoint:
    """The embedded ClickHouse endpoint, run by the test: in cluster mode ClickHouse is not the supervisor's
    child, so the test can stop and start it. Its rows come from loggen and the shipper (LogPipeline)."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path / "clickhouse"
        self.dir.mkdir()
        # The ClickHouse users' passwords (docs/security.md): the supervisor reads as otel_reader, the
        # test inserts as otel_ingest, as the in-cluster shipper does.
        self.secrets = tmp_path / "ch-secrets"
        self.secrets.mkdir(mode=0o700)
        for name in ("admin", "ingest", "reader"):
            (self.secrets / f"{name}.password").write_text(f"{name}-s3cret-for-tests\n")
        self.password_file = self.secrets / "reader.password"
        self.proc = None
        self.start()
        self.pipeline = LogPipeline(tmp_path, self)

    def start(self):
        self.log = open(self.dir / "endpoint.log", "a")
        self.proc = subprocess.Popen(
            [BIN["endpoint"], "--listen", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.dir / "data"), "--chdb-lib", CHDB_LIB,
             "--secrets-dir", str(self.secrets), "--schema-dir", os.path.join(SOURCE_ROOT, "manifests", "clickhouse", "schema")],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self._ping(), 60, what="endpoint up")

    def _ping(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=2) as r:
                return r.read() == b"Ok.\n"
        except OSError:
            return False

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)

    def close(self):
        self.pipeline.close()
        if self.proc.poll() is None:
            self.stop()


class LogPipeline:
    """loggen → a CRI container log file → shipper → the endpoint. The thread does what a container runtime
    does with a container's stdout (a timestamp, the stream and the F tag before each line); the rows are
    the shipper's."""

    def __init__(self, tmp_path, endpoint):
        d = tmp_path / "log" / "containers"
        d.mkdir(parents=True)
        self.path = d / ("loggen-kwok_otel-demo_loggen-" + hashlib.sha256(str(tmp_path).encode()).hexdigest() + ".log")
        self.loggen = subprocess.Popen([BIN["loggen"], "--sleep-duration", "500ms", "--health-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.thread = threading.Thread(target=self._write, daemon=True)
        self.thread.start()
        env = dict(os.environ, SHIPPER_PASSWORD=(endpoint.secrets / "ingest.password").read_text().strip())
        self.shipper_log = open(tmp_path / "shipper.log", "w")
        self.shipper = subprocess.Popen(
            [BIN["shipper"], "--paths", str(d / "*.log"), "--clickhouse-url", f"http://127.0.0.1:{endpoint.port}", "--user", "otel_ingest",
             "--checkpoint-file", str(tmp_path / "shipper-checkpoints"), "--dead-letter-file", str(tmp_path / "dead-letter.jsonl"),
             "--listen-address", "127.0.0.1", "--listen-port", "0", "--flush-interval", "200ms", "--retry-max", "2s"],
            stdout=self.shipper_log, stderr=subprocess.STDOUT, env=env)

    def _write(self):
        with open(self.path, "ab", buffering=0) as out:
            for line in self.loggen.stdout:
                ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() % 1_000_000_000:09d}Z"
                out.write(ts.encode() + b" stdout F " + line)

    def close(self):
        for p in (self.loggen, self.shipper):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.thread.join(10)


def cluster_config(tmp_path, endpoint, status_port, manifests, images, start_timeout="10m"):
    return f"""mode: cluster
state_dir: {tmp_path}/state
poll_interval: 1s
max_log_age: 20s
start_timeout: {start_timeout}
status:
  socket: {tmp_path}/status.sock
  listen: 127.0.0.1:{status_port}
clickhouse:
  url: http://127.0.0.1:{endpoint.port}
  user: otel_reader
  password_file: {endpoint.password_file}
cluster:
  minikube: {MINIKUBE}
  profile: otel
  start_args: [--driver=docker, --cpus=2]
  images_dir: {images}
  manifests_dir: {manifests}
  namespace: otel-demo
  reapply_interval: 15s
"""


@pytest.fixture
def cluster(tmp_path):
    need_chdb()
    need_control_plane()
    home = tmp_path / "minikube-home"
    manifests = tmp_path / "manifests"
    shutil.copytree(os.path.join(SOURCE_ROOT, "manifests"), manifests)
    images = tmp_path / "images"
    images.mkdir()
    ids = {}
    for i, tag in enumerate(never_pulled_images(manifests)):
        name = re.sub(r"[^a-z0-9]+", "-", tag)
        # One archive compressed, as Nix builds them: the supervisor must unpack it before loading.
        ids[tag] = image_archive(images / (name + (".tar.gz" if i == 0 else ".tar")), tag, compress=i == 0)
    endpoint = Endpoint(tmp_path)
    env = {"FAKE_MINIKUBE_HOME": str(home)}
    ctx = {"tmp": tmp_path, "home": home, "manifests": manifests, "images": images, "ids": ids, "endpoint": endpoint, "env": env, "status_port": free_port()}
    yield ctx
    if "sup" in ctx and ctx["sup"].proc.poll() is None:
        ctx["sup"].stop()
    endpoint.close()
    subprocess.run([CONTROL_PLANE, "stop", str(home / "control-plane")], capture_output=True)


def start(ctx, extra_env=None, start_timeout="10m"):
    env = dict(ctx["env"], **(extra_env or {}))
    config = cluster_config(ctx["tmp"], ctx["endpoint"], ctx["status_port"], ctx["manifests"], ctx["images"], start_timeout)
    ctx["sup"] = Supervisor(ctx["tmp"], config, env=env)
    ctx["sock"] = str(ctx["tmp"] / "status.sock")
    return ctx["sup"]


def state_is(sock, state):
    s = status_json(sock)
    return s if s["state"] == state else None


def wait_ready(ctx, timeout=300):
    rc, _, err = otelctl("--socket", ctx["sock"], "wait", "--timeout", f"{timeout}s", timeout=timeout + 30)
    assert rc == 0, f"{err}\n{ctx['sup'].logtext()[-5000:]}"


def test_start_images_apply_ready_and_faults(cluster):
    sup = start(cluster)
    wait_ready(cluster)

    # The phases, in order, as systemd was told.
    order = ["starting-cluster", "loading-images", "applying", "waiting-rollout", "ready"]
    sup.notify.wait_for("READY=1")
    seen = [next((i for i, s in enumerate(sup.notify.statuses()) if s.startswith(p)), None) for p in order]
    assert None not in seen and seen == sorted(seen), sup.notify.statuses()

    st = status_json(cluster["sock"])
    assert st["mode"] == "cluster" and st["cluster"]["apiserver"] == "Running"
    # Every image loaded, the compressed one from its unpacked copy, and the node has exactly these IDs.
    assert {i["id"] for i in st["images"]} == set(cluster["ids"].values())
    assert all(i["state"] == "loaded" for i in st["images"]), st["images"]
    assert any("normalized" in i for i in st["images"])
    node = json.load(open(cluster["home"] / "state.json"))
    assert {i["id"] for i in node["images"]} == set(cluster["ids"].values())
    assert all(not p.endswith(".gz") for p in node["load_calls"]), "a compressed archive was offered to minikube"
    assert node["start_args"] == [["--driver=docker", "--cpus=2"]]
    kinds = {(w["kind"], w["name"]) for w in st["workloads"]}
    assert {("Deployment", "loggen"), ("DaemonSet", "shipper"), ("StatefulSet", "clickhouse")} <= kinds, kinds
    assert all(w["rollout"] == "done" for w in st["workloads"]), st["workloads"]
    assert st["pods"] and all(p["ready"] for p in st["pods"])
    assert st["apply"]["objects"] > 10 and st["apply"]["error"] is None
    rc, out, _ = otelctl("--host", f"127.0.0.1:{cluster['status_port']}", "status")
    assert rc == 0 and re.search(r"^Deployment\s+loggen\s+done", out, re.M), out

    kube = Kube(cluster["home"])
    ready_at = len(sup.notify.statuses())

    # A new manifest file is applied without a restart.
    (cluster["manifests"] / "extra.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra-settings\n  namespace: otel-demo\ndata:\n  a: '1'\n")
    wait_until(lambda: _exists(kube, "/api/v1/namespaces/otel-demo/configmaps/extra-settings"), 60, what="new ConfigMap applied")
    # ... and removing it prunes the object.
    os.unlink(cluster["manifests"] / "extra.yaml")
    wait_until(lambda: not _exists(kube, "/api/v1/namespaces/otel-demo/configmaps/extra-settings"), 60, what="ConfigMap pruned")
    # Applying again on a healthy stack (the file watch above, the periodic re-apply) is not a problem: the
    # stack never left ready while it happened.
    applies = sup.logtext().count("Applied ")
    wait_until(lambda: sup.logtext().count("Applied ") > applies, 60, what="a periodic re-apply")
    assert not [s for s in sup.notify.statuses()[ready_at:] if not s.startswith("ready")], sup.notify.statuses()[ready_at:]

    # The ClickHouse credentials: no Secret is in the manifests; the supervisor created it from the passwords
    # it generated into its state directory (0600 files), and pruning — which ran above — left it alone.
    import base64
    sec = kube.request("GET", "/api/v1/namespaces/otel-demo/secrets/clickhouse-credentials")
    secrets = cluster["tmp"] / "state" / "secrets"
    assert oct(secrets.stat().st_mode & 0o777) == "0o700"
    for key in ("admin", "ingest", "reader"):
        f = secrets / f"{key}.password"
        assert oct(f.stat().st_mode & 0o777) == "0o600"
        assert base64.b64decode(sec["data"][f"{key}-password"]).decode() == f.read_text().strip()
    assert "otel.appliance/inventory" not in sec["metadata"].get("labels", {})
    hdx = kube.request("GET", "/api/v1/namespaces/otel-demo/secrets/hyperdx-credentials")
    for key, name in (("mongodb-password", "mongodb.password"), ("session-secret", "hyperdx-session.secret")):
        assert base64.b64decode(hdx["data"][key]).decode() == (secrets / name).read_text().strip()
    # Deleted, it comes back with the same passwords at the next apply.
    kube.request("DELETE", "/api/v1/namespaces/otel-demo/secrets/clickhouse-credentials")
    wait_until(lambda: _exists(kube, "/api/v1/namespaces/otel-demo/secrets/clickhouse-credentials"), 60, what="Secret created again")
    again = kube.request("GET", "/api/v1/namespaces/otel-demo/secrets/clickhouse-credentials")
    assert again["data"] == sec["data"]

    # Drift is corrected: a change made behind the supervisor's back is undone by the periodic re-apply.
    kube.request("PATCH", "/apis/apps/v1/namespaces/otel-demo/deployments/loggen", {"spec": {"replicas": 3}}, content_type="application/merge-patch+json")
    want = yaml.safe_load(open(cluster["manifests"] / "loggen" / "deployment.yaml"))["spec"].get("replicas", 1)
    wait_until(lambda: kube.request("GET", "/apis/apps/v1/namespaces/otel-demo/deployments/loggen")["spec"]["replicas"] == want, 60, what="replicas restored")
    wait_ready(cluster, 120)

    # A crash-looping pod is named with its reason, and the stack is degraded.
    pod = next(p["name"] for p in st["pods"] if p["name"].startswith("loggen"))
    kube.request("PATCH", f"/api/v1/namespaces/otel-demo/pods/{pod}/status", {"status": {"containerStatuses": [
        {"name": "loggen", "ready": False, "restartCount": 5, "image": "otel/loggen:0.1.0", "imageID": "", "started": False,
         "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s restarting failed container"}}, "lastState": {}}],
        "conditions": [{"type": "Ready", "status": "False"}]}}, content_type="application/strategic-merge-patch+json")
    st = wait_until(lambda: state_is(cluster["sock"], "degraded"), 60, what="degraded by the crash loop")
    assert f"pod {pod}: CrashLoopBackOff" in st["reason"], st["reason"]
    assert any(p["name"] == pod and p["reason"] == "CrashLoopBackOff" for p in st["pods"])
    rc, out, _ = otelctl("--socket", cluster["sock"], "status")
    assert rc == 1 and "CrashLoopBackOff" in out
    # The pod is replaced; the stack is ready again.
    kube.request("DELETE", f"/api/v1/namespaces/otel-demo/pods/{pod}")
    wait_ready(cluster, 120)

    # ClickHouse stopped: degraded with the reason, then ready once it is back.
    cluster["endpoint"].stop()
    st = wait_until(lambda: state_is(cluster["sock"], "degraded"), 60, what="degraded without ClickHouse")
    assert "ClickHouse unreachable" in st["reason"]
    cluster["endpoint"].start()
    wait_ready(cluster, 120)

    # The API server goes away: degraded with the reason, the watchdog keeps being fed; minikube is
    # started again and the stack comes back.
    subprocess.run([MINIKUBE, "-p", "otel", "stop"], env=dict(os.environ, **cluster["env"]), check=True, capture_output=True)
    pings = sup.notify.count("WATCHDOG=1")
    st = wait_until(lambda: state_is(cluster["sock"], "degraded"), 90, what="degraded without the API server")
    assert "Kubernetes API" in st["reason"] or "minikube" in st["reason"], st["reason"]
    time.sleep(3)
    assert sup.notify.count("WATCHDOG=1") > pings, "the watchdog must be fed while the API server is away"
    wait_ready(cluster, 300)
    assert json.load(open(cluster["home"] / "state.json"))["starts"] == 2
    assert "is not running" in sup.logtext()

    assert sup.stop() == 0
    sup.notify.wait_for("STOPPING=1")


def _exists(kube, path):
    try:
        kube.request("GET", path)
        return True
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return False
        raise


def test_minikube_start_failures_back_off_and_missing_images_block_apply(cluster):
    # The shipper's image is not there at first.
    shipper_tarball = next(p for p in cluster["images"].iterdir() if "shipper" in p.name)
    held = cluster["tmp"] / shipper_tarball.name
    shutil.move(shipper_tarball, held)

    sup = start(cluster, {"FAKE_MINIKUBE_FAIL_STARTS": "2"})
    st = wait_until(lambda: (lambda s: s if "minikube start failed" in (s["reason"] or "") else None)(status_json(cluster["sock"])), 60, what="start failure reported")
    assert st["state"] == "starting-cluster" and "GUEST_PROVISION" in st["reason"]
    # Two failures, retried after 5 s and 10 s, then the third start works.
    st = wait_until(lambda: (lambda s: s if "not on the node" in (s["reason"] or "") else None)(status_json(cluster["sock"])), 120, what="missing image reported")
    assert st["state"] == "loading-images" and "otel/shipper" in st["reason"], st["reason"]
    log = sup.logtext()
    assert "Retrying in 5 s" in log and "Retrying in 10 s" in log
    assert json.load(open(cluster["home"] / "state.json"))["starts"] == 3
    # Nothing was applied while an image was missing.
    assert status_json(cluster["sock"])["apply"]["last_applied"] is None

    shutil.move(held, shipper_tarball)
    wait_ready(cluster, 300)
    assert sup.stop() == 0


def test_not_up_by_start_timeout_is_degraded_with_the_phase_named(cluster):
    # An image that is not there holds the start in loading-images; at start_timeout the start is over for
    # systemd (READY=1) and the state says what is wrong, the phase named, instead of "loading-images" for ever.
    shipper_tarball = next(p for p in cluster["images"].iterdir() if "shipper" in p.name)
    held = cluster["tmp"] / shipper_tarball.name
    shutil.move(shipper_tarball, held)
    sup = start(cluster, start_timeout="20s")
    st = wait_until(lambda: state_is(cluster["sock"], "loading-images"), 60, what="loading-images")
    assert "READY=1" not in sup.notify.lines()
    st = wait_until(lambda: state_is(cluster["sock"], "degraded"), 60, what="degraded at start_timeout")
    assert st["reason"].startswith("loading-images: ") and "otel/shipper" in st["reason"], st["reason"]
    sup.notify.wait_for("READY=1")
    # The retries (5 s, then 10 s after) check the images again: their progress never hid the problem.
    assert sup.logtext().count("Retrying in") >= 2, sup.logtext()[-3000:]
    statuses = sup.notify.statuses()
    first = next(i for i, s in enumerate(statuses) if "otel/shipper" in s)
    assert all("otel/shipper" in s for s in statuses[first:]), statuses[first:]
    rc, out, _ = otelctl("--socket", cluster["sock"], "status")
    assert rc != 0 and "loading-images: " in out, out

    # The phases go on; once the image is there the stack comes up and is ready.
    shutil.move(held, shipper_tarball)
    wait_ready(cluster, 300)
    assert sup.stop() == 0


def test_bad_manifest_is_failed_with_file_and_line_then_recovers(cluster):
    bad = cluster["manifests"] / "loggen" / "deployment.yaml"
    good = bad.read_text()
    bad.write_text(good + "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: broken\n")
    sup = start(cluster)
    st = wait_until(lambda: state_is(cluster["sock"], "failed"), 120, what="failed")
    assert "deployment.yaml:" in st["reason"], st["reason"]
    # The rest keeps running: the status answers, and a fixed file is picked up without a restart.
    bad.write_text(good)
    wait_ready(cluster, 300)
    assert sup.stop() == 0
