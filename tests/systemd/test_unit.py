"""The unit as vm/default.nix renders it against the configuration the VM installs (vm/config.yaml): what one
promises the other must keep. No machine is booted here."""
import os

from conftest import render_unit, unit_settings, usec, vm_config


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
