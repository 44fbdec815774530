"""The unit as vm/default.nix renders it against the configuration the VM installs (vm/config.yaml): what one
promises the other must keep. No machine is booted here."""
import os
import re
import signal
import socket
import subprocess
import time

import pytest
import yaml

from conftest import BIN, SOURCE_ROOT, render_unit, unit_settings, usec, vm_config


def service(key):
    return unit_settings(render_unit()).get(("Service", key), [])


def under(path, roots):
    return any(os.path.commonpath([path, r]) == r for r in roots)


def test_rendered_like_the_module():
    text = render_unit()
    assert "@" not in text.replace("@system-service", ""), "a placeholder is left"
    assert service("Type") == ["notify"] and service("NotifyAccess") == ["main"]


def test_what_the_config_writes_is_writable_under_the_sandbox():
    """ProtectSystem=strict leaves writable only the unit's StateDirectory, RuntimeDirectory (and its
    private /tmp): every path the supervisor writes must lie there."""
    assert service("ProtectSystem") == ["strict"]
    state = ["/var/lib/" + d for d in " ".join(service("StateDirectory")).split()]
    run = ["/run/" + d for d in " ".join(service("RuntimeDirectory")).split()]
    rw = " ".join(service("ReadWritePaths")).split()
    c = vm_config()
    writes = {"state_dir": c["state_dir"], "status.socket": os.path.dirname(c["status"]["socket"])}
    env = dict(e.split("=", 1) for e in service("Environment"))
    writes.update({"HOME": env["HOME"], "MINIKUBE_HOME": env["MINIKUBE_HOME"],
                   "WorkingDirectory": service("WorkingDirectory")[0]})
    for what, path in writes.items():
        assert under(path, state + run + rw), f"{what} {path} is not writable under the unit ({state + run + rw})"
    # otelctl's default socket is the one the config names, in the RuntimeDirectory.
    assert c["status"]["socket"] == "/run/otel-supervisor/status.sock"
    assert os.path.dirname(c["status"]["socket"]) in run


def test_stop_timeout_covers_the_supervisors_own():
    """On SIGTERM the supervisor gives each child stop_timeout, one after the other, plus one more for a
    minikube command and 2 s; systemd must not SIGKILL it before (KillMode=mixed kills the rest after)."""
    c = vm_config()
    stop = usec(c["stop_timeout"])
    children = 0 if c.get("mode", "cluster") == "cluster" else 3
    own = stop * (children + 1) + 2_000_000
    assert usec(service("TimeoutStopSec")[0]) > own, (service("TimeoutStopSec"), own)
    assert service("KillMode") == ["mixed"]


def test_watchdog_set():
    assert usec(service("WatchdogSec")[0]) >= 10_000_000
    assert service("Restart") == ["on-failure"]


def extend_message(tmp_path, start_timeout):
    """What the supervisor tells systemd first, run with the VM's configuration (start_timeout changed)."""
    c = vm_config()
    c["start_timeout"] = start_timeout
    c["state_dir"] = str(tmp_path / "state")
    c["status"] = {"socket": str(tmp_path / "status.sock"), "listen": ""}
    (tmp_path / "password").write_text("x\n")
    c["clickhouse"]["password_file"] = str(tmp_path / "password")
    c["cluster"]["minikube"] = "/bin/false"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(c))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(10)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
    env["NOTIFY_SOCKET"] = str(tmp_path / "notify.sock")
    p = subprocess.Popen([BIN["otel-supervisor"], "--config", str(tmp_path / "config.yaml")], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(x.startswith("EXTEND_TIMEOUT_USEC=") for x in lines):
            try:
                lines += sock.recv(65536).decode().splitlines()
            except TimeoutError:
                break
        return lines
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        sock.close()


@pytest.mark.parametrize("start_timeout", ["from-vm-config", "7m"])
def test_start_deadline_is_the_configs(tmp_path, start_timeout):
    """READY=1 waits for the stack; the unit's TimeoutStartSec= is shorter than a first minikube start, so
    the supervisor itself tells systemd its start deadline, derived from the configuration it runs with:
    start_timeout plus a minute (by then it has sent READY=1 whatever the state). The unit and the config
    cannot disagree about how long a start may take."""
    if not BIN["otel-supervisor"]:
        pytest.fail("otel-supervisor not built")
    value = vm_config()["start_timeout"] if start_timeout == "from-vm-config" else start_timeout
    lines = extend_message(tmp_path, value)
    ext = [int(x.split("=", 1)[1]) for x in lines if x.startswith("EXTEND_TIMEOUT_USEC=")]
    assert ext, lines
    assert ext[0] == usec(value) + 60_000_000, (ext, value)
    # ... and that is longer than the unit's own bound, which only covers the way to the event loop.
    assert ext[0] > usec(service("TimeoutStartSec")[0])


def test_nothing_the_readiness_needs_waits_for_it():
    """READY=1 waits for ClickHouse, which the supervisor reaches through the VM's port-forward units: a unit
    ordered after otel-supervisor.service would start only once READY came, that is never (or at
    start_timeout)."""
    with open(os.path.join(SOURCE_ROOT, "vm", "default.nix")) as f:
        module = f.read()
    assert not re.search(r'after\s*=\s*\[[^\]]*"otel-supervisor\.service"', module), \
        "vm/default.nix orders a unit after otel-supervisor.service"
    assert vm_config()["clickhouse"]["url"].startswith("http://127.0.0.1:")
