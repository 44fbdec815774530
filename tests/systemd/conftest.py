"""Boot tests: otel-supervisor under a real systemd as PID 1.

Each test machine is the cached Debian 12 tree (scripts/deps/systemd.sh, tests/systemd/rootfs.env), booted by
systemd-nspawn under a throwaway overlay, so the cached tree stays untouched. Into the overlay go what the
appliance VM installs: the unit rendered from vm/otel-supervisor.service.in exactly as vm/default.nix renders
it (its placeholders and nothing else), enabled in multi-user.target; the user `otel` in groups otel and
docker; /etc/otel-supervisor/config.yaml derived from vm/config.yaml (no password file: the supervisor
generates the passwords into its state directory at first start, docs/security.md); the project's programs from the build. The container boots with its unit, and the tests read what systemd
reports (`systemctl show`, the journal) from inside it through nsenter.

The host's PID 1 need not be systemd: nspawn runs with --register=no --keep-unit, in a cgroup of its own.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
import yaml

SOURCE_ROOT = os.environ.get("SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = {
    "otel-supervisor": os.environ.get("SUPERVISOR_BIN", ""),
    "otelctl": os.environ.get("OTELCTL_BIN", ""),
    "loggen": os.environ.get("LOGGEN_BIN", ""),
    "shipper": os.environ.get("SHIPPER_BIN", ""),
    "clickhouse-endpoint": os.environ.get("ENDPOINT_BIN", ""),
    "http-load": os.environ.get("HTTP_LOAD_BIN", ""),
}
CHDB_LIB = os.environ.get("CHDB_LIB", "")
TEMPLATE = os.path.join(SOURCE_ROOT, "vm", "otel-supervisor.service.in")
VM_MODULE = os.path.join(SOURCE_ROOT, "vm", "default.nix")
VM_CONFIG = os.path.join(SOURCE_ROOT, "vm", "config.yaml")
UNIT = "otel-supervisor.service"
# Where the programs go in the machine; the rendered unit's PATH starts there (vm/default.nix puts the
# Nix store paths of minikube, docker, kubectl and coreutils there).
PREFIX = "/usr/local"
UNIT_PATH = f"{PREFIX}/bin:/usr/bin:/bin"
SCHEMA_DIR = f"{PREFIX}/share/otel/manifests/clickhouse/schema"

FIGURES = []


def figure(name, value):
    """A measured figure, printed at the end of the run (pytest's terminal summary)."""
    FIGURES.append((name, value))


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("figures")
        for name, value in FIGURES:
            terminalreporter.write_line(f"{name}: {value}")


def missing(why):
    if os.environ.get("CI") == "true":
        pytest.fail(why + " (CI needs it: scripts/install-deps.sh test)")
    pytest.skip(why)


def rootfs():
    out = subprocess.run(
        ["bash", "-c", '. "$1"/tests/systemd/rootfs.env && rootfs_dir', "-", SOURCE_ROOT],
        capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(out, "rootfs")


def need_engine():
    if os.geteuid() != 0:
        missing("boot tests need root (systemd-nspawn, overlay mounts)")
    if not shutil.which("systemd-nspawn") or not shutil.which("nsenter"):
        missing("systemd-nspawn not installed (Debian package systemd-container)")
    r = rootfs()
    if not os.path.exists(os.path.join(os.path.dirname(r), ".complete")):
        missing(f"boot-test rootfs missing in {os.path.dirname(r)} (scripts/deps/systemd.sh builds it)")
    for name, path in BIN.items():
        if not path or not os.access(path, os.X_OK):
            pytest.fail(f"{name} not built ({path!r})")


def need_chdb():
    if not os.path.exists(CHDB_LIB):
        missing(f"libchdb not found at {CHDB_LIB!r} (scripts/deps/chdb.sh)")


def render_unit(exe=f"{PREFIX}/bin/otel-supervisor", path=UNIT_PATH):
    """vm/otel-supervisor.service.in with its placeholders filled, as vm/default.nix's `substitute` does.
    The template's placeholders must be exactly the ones the NixOS module substitutes: a new placeholder
    that only one side knows fails here."""
    with open(TEMPLATE) as f:
        text = f.read()
    with open(VM_MODULE) as f:
        module = f.read()
    in_template = set(re.findall(r"@([A-Za-z_][A-Za-z0-9_]*)@", text))
    in_module = set(re.findall(r"--subst-var-by\s+([A-Za-z_][A-Za-z0-9_]*)", module))
    assert in_template == in_module, \
        f"vm/otel-supervisor.service.in has placeholders {sorted(in_template)}, vm/default.nix substitutes {sorted(in_module)}"
    values = {"OTEL_SUPERVISOR": exe, "PATH": path}
    assert set(values) == in_template, f"the harness fills {sorted(values)}, the template has {sorted(in_template)}"
    for k, v in values.items():
        text = text.replace(f"@{k}@", v)
    return text


def unit_settings(text):
    """The [Service] settings of a unit file: key → list of values (in order)."""
    out, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        k, _, v = line.partition("=")
        out.setdefault((section, k.strip()), []).append(v.strip())
    return out


def vm_config():
    with open(VM_CONFIG) as f:
        return yaml.safe_load(f)


def usec(value):
    """A systemd time span (TimeoutStartUSec=1min 30s) or a Go duration (1m30s) in microseconds."""
    if value in ("infinity", ""):
        return None
    units = {"us": 1, "ms": 1000, "s": 10**6, "m": 60 * 10**6, "min": 60 * 10**6, "h": 3600 * 10**6,
             "d": 86400 * 10**6}
    total = 0
    for num, unit in re.findall(r"([0-9.]+)\s*([a-z]+)", value):
        total += float(num) * units[unit]
    return int(total)


def wait_until(predicate, timeout, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")


class Machine:
    """One systemd-booted container on an overlay of the cached tree."""

    def __init__(self, base, name):
        self.name = name
        self.dir = base / name
        self.upper = self.dir / "upper"
        self.root = self.dir / "root"
        for d in (self.upper, self.dir / "work", self.root):
            d.mkdir(parents=True)
        self.binds = []
        self.proc = None
        self.pid1 = None
        self.cgroups = []
        self.mounted = False

    # --- what goes into the machine before it boots -------------------------------------------------
    def put(self, path, content, mode=0o644):
        p = self.upper / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
        os.chmod(p, mode)
        return p

    def copy(self, src, path, mode=None):
        p = self.upper / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        if os.path.isdir(src):
            shutil.copytree(src, p, dirs_exist_ok=True)
        else:
            shutil.copy2(src, p)
            if mode is not None:
                os.chmod(p, mode)

    def link(self, path, target):
        p = self.upper / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, p)

    def bind_ro(self, host_path, path=None):
        self.binds.append(f"--bind-ro={host_path}:{path or host_path}")

    def install_appliance(self, config):
        """What the VM's NixOS module installs for the supervisor, with `config` as its config.yaml."""
        for name, path in BIN.items():
            self.copy(path, f"{PREFIX}/bin/{name}", 0o755)
        self.copy(os.path.join(SOURCE_ROOT, "manifests", "clickhouse", "schema"), SCHEMA_DIR)
        self.unit_text = render_unit()
        self.put(f"/etc/systemd/system/{UNIT}", self.unit_text)
        # systemd.targets.multi-user.wants = [ "otel-supervisor.service" ]
        self.link(f"/etc/systemd/system/multi-user.target.wants/{UNIT}", f"/etc/systemd/system/{UNIT}")
        # users.users.otel (system user, group otel, extraGroups docker, home /var/lib/otel); otelview is a
        # member of group otel only, for the status socket's permissions.
        self.put("/etc/sysusers.d/otel.conf", "\n".join([
            'g otel -', 'g docker -',
            'u otel -:otel "otel appliance supervisor" /var/lib/otel', 'm otel docker',
            'u otelview - "reads the status socket"', 'm otelview otel', '']))
        self.put("/etc/otel-supervisor/config.yaml", yaml.safe_dump(config, sort_keys=False))
        if CHDB_LIB and os.path.exists(CHDB_LIB):
            self.bind_ro(os.path.dirname(CHDB_LIB))

    # --- boot, talk, stop ---------------------------------------------------------------------------
    def _own_cgroup(self):
        """nspawn --keep-unit splits its own cgroup into supervisor/ and payload/: give it one of its own,
        so that machines never share one (and nothing lands in the host's root cgroup)."""
        name = f"otel-boot-{os.getpid()}-{self.name}"
        for h in ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
            if os.path.exists(os.path.join(h, "cgroup.procs")) and os.access(h, os.W_OK):
                path = os.path.join(h, name)
                os.makedirs(path, exist_ok=True)
                self.cgroups.append(path)

    def boot(self):
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={rootfs()},upperdir={self.upper},workdir={self.dir / 'work'}", str(self.root)],
                       check=True)
        self.mounted = True
        self._own_cgroup()
        cgroups = list(self.cgroups)

        def enter_cgroup():
            for path in cgroups:
                with open(os.path.join(path, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))

        self.console = open(self.dir / "console.log", "w")
        self.t_boot = time.monotonic()
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "--quiet", "--directory", str(self.root), "--machine", f"otel-{self.name}"[:64],
             "--register=no", "--keep-unit", "--private-network", "--boot", "--console=passive",
             "--timezone=off", "--link-journal=no"] + self.binds,
            stdin=subprocess.DEVNULL, stdout=self.console, stderr=subprocess.STDOUT, preexec_fn=enter_cgroup)

        def leader():
            if self.proc.poll() is not None:
                raise AssertionError(f"systemd-nspawn exited with {self.proc.returncode}: {self.console_text()}")
            try:
                with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                    kids = f.read().split()
            except FileNotFoundError:
                return None
            for kid in kids:
                # nspawn's helper children come and go; PID 1 of the new PID namespace is the one.
                try:
                    with open(f"/proc/{kid}/status") as f:
                        nspid = re.search(r"^NSpid:\s*(.*)$", f.read(), re.M).group(1).split()
                except (FileNotFoundError, AttributeError):
                    continue
                if len(nspid) > 1 and nspid[-1] == "1":
                    return int(kid)
            return None

        self.pid1 = wait_until(leader, 30, 0.02, "the container's PID 1")

        def manager_up():
            r = self.run(["systemctl", "is-system-running"], check=False, timeout=10)
            return r.stdout.strip() in ("initializing", "starting", "running", "degraded")

        wait_until(manager_up, 60, 0.05, "systemd in the container answering")
        self.t_manager = time.monotonic() - self.t_boot
        return self

    def console_text(self):
        try:
            return (self.dir / "console.log").read_text()[-4000:]
        except OSError:
            return ""

    def run(self, argv, check=True, timeout=120, user=None, input=None):
        """A command inside the machine (all its namespaces), as root or as `user` (runuser)."""
        if isinstance(argv, str):
            argv = ["sh", "-c", argv]
        if user:
            argv = ["runuser", "-u", user, "--"] + argv
        r = subprocess.run(["nsenter", "-t", str(self.pid1), "-a"] + argv, capture_output=True, text=True,
                           timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"{argv} exited {r.returncode}: {r.stdout}{r.stderr}")
        return r

    def show(self, unit, *props):
        """systemctl show UNIT -p ... as a dict (unit None: the manager's own properties)."""
        argv = ["systemctl", "show"] + ([unit] if unit else [])
        for p in props:
            argv += ["-p", p]
        out = self.run(argv).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, unit=UNIT, output="short-monotonic"):
        argv = ["journalctl", "--no-pager", "-o", output, "-b"]
        if unit:
            argv += ["-u", unit]
        return self.run(argv, check=False).stdout

    def messages(self, unit=UNIT):
        """The unit's journal as (monotonic µs, message) pairs: the supervisor's lines and systemd's about it."""
        out = self.run(["journalctl", "--no-pager", "-o", "json", "-b", "-u", unit,
                        "--output-fields=MESSAGE,_SOURCE_MONOTONIC_TIMESTAMP"], check=False).stdout
        res = []
        for line in out.splitlines():
            e = json.loads(line)
            msg = e.get("MESSAGE")
            if isinstance(msg, list):  # non-UTF-8 bytes
                msg = bytes(msg).decode(errors="replace")
            res.append((int(e.get("_SOURCE_MONOTONIC_TIMESTAMP") or e["__MONOTONIC_TIMESTAMP"]), msg or ""))
        return res

    def now_usec(self):
        # nspawn shares the host's CLOCK_MONOTONIC (no time namespace), which systemd's *Monotonic use.
        return int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)

    def shutdown(self):
        if self.proc and self.proc.poll() is None:
            try:
                (self.dir / "journal.txt").write_text(self.journal(unit=None))
            except Exception:  # noqa: BLE001 - best effort, for debugging a failed test
                pass
            self.run(["systemctl", "poweroff", "--no-block"], check=False, timeout=20)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(30)
        if self.mounted:
            subprocess.run(["umount", str(self.root)], check=False)
            self.mounted = False
        for top in self.cgroups:
            for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
        self.cgroups = []


@pytest.fixture
def machine_factory(tmp_path):
    machines = []

    def make(name):
        need_engine()
        m = Machine(tmp_path, name)
        machines.append(m)
        return m

    yield make
    for m in machines:
        m.shutdown()


def local_config():
    """vm/config.yaml turned into the local runtime (the embedded ClickHouse engine, loggen, the shipper as
    children): the VM's paths, socket and user stay; the cluster section goes."""
    c = vm_config()
    c["mode"] = "local"
    c.pop("cluster", None)
    c["poll_interval"] = "1s"
    c["max_log_age"] = "30s"
    c["clickhouse"] = {"url": "http://127.0.0.1:8123", "user": "otel_reader"}
    c["local"] = {"data_dir": "/var/lib/otel/local", "chdb_lib": CHDB_LIB, "schema_dir": SCHEMA_DIR,
                  "loggen_args": ["--sleep-duration", "200ms"]}
    return c


def pytest_sessionfinish(session, exitstatus):
    """Every test skipped (no nspawn, no tree): exit 77, which meson counts as skipped rather than passed."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter and exitstatus == 0:
        stats = reporter.stats
        if stats.get("skipped") and not stats.get("passed") and not stats.get("failed"):
            session.exitstatus = 77
