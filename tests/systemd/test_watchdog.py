"""The unit's watchdog (WatchdogSec, pings from the supervisor's event loop) under systemd: a loop kept busy
serving the status socket for longer than WatchdogSec keeps pinging and is left alone; a stopped loop
(SIGSTOP) is aborted after WatchdogSec and restarted by Restart=on-failure, children and all."""
import re
import time

import pytest

from conftest import UNIT, Machine, figure, local_config, need_chdb, need_engine, usec, wait_until


@pytest.fixture(scope="module")
def machine(tmp_path_factory):
    need_engine()
    need_chdb()
    m = Machine(tmp_path_factory.mktemp("watchdog"), "watchdog")
    m.install_appliance(local_config())
    m.boot()
    try:
        wait_until(lambda: m.show(UNIT, "ActiveState")["ActiveState"] in ("active", "failed"), 120, 0.2,
                   "otel-supervisor.service active")
        yield m
    finally:
        m.shutdown()


def cpu_seconds(machine, pid):
    fields = machine.run(["cat", f"/proc/{pid}/stat"]).stdout.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in USER_HZ (100 on Linux)


def test_busy_loop_is_not_killed(machine):
    s = machine.show(UNIT, "MainPID", "NRestarts", "WatchdogUSec", "ActiveState")
    assert s["ActiveState"] == "active", s
    wd = usec(s["WatchdogUSec"])
    assert wd, s
    pid = s["MainPID"]
    seconds = int(wd * 1.5 / 1e6)
    cpu0 = cpu_seconds(machine, pid)
    load = machine.run(["systemd-run", "--unit", "status-load", "--property", "StandardOutput=journal",
                        "/usr/local/bin/http-load", "--unix", "/run/otel-supervisor/status.sock",
                        "--connections", "8", "--seconds", str(seconds)])
    assert load.returncode == 0
    # systemd keeps receiving WATCHDOG=1 while the loop answers request after request.
    pings = set()
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        pings.add(machine.show(UNIT, "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"])
        time.sleep(1)
    wait_until(lambda: machine.show("status-load.service", "ActiveState")["ActiveState"] != "active", 30, 0.5,
               "the load generator done")
    busy = (cpu_seconds(machine, pid) - cpu0) / seconds
    out = machine.journal("status-load.service", output="cat")
    print(out)
    m = re.search(r"(\d+) requests in ([0-9.]+) s = (\d+) req/s.*max ([0-9.]+) ms, errors (\d+)", out)
    assert m, out
    figure(f"watchdog: busy loop for {seconds} s (1.5 × WatchdogSec)",
           f"{m.group(3)} req/s, max latency {m.group(4)} ms, loop CPU {busy:.0%} of a core, "
           f"{len(pings)} distinct WatchdogTimestamp values")
    # The loop was busy (otherwise this proves nothing), pinged all along, and was left alone.
    assert int(m.group(1)) > 1000 and busy > 0.1, (m.group(0), busy)
    assert len(pings) >= seconds * 1e6 / wd, pings
    after = machine.show(UNIT, "MainPID", "NRestarts", "ActiveState", "SubState", "StatusText")
    assert (after["MainPID"], after["NRestarts"], after["ActiveState"], after["SubState"]) == \
        (pid, s["NRestarts"], "active", "running"), after
    assert "Watchdog timeout" not in machine.journal()


def test_stuck_loop_is_aborted_and_restarted(machine):
    s = machine.show(UNIT, "MainPID", "NRestarts", "WatchdogUSec", "RestartUSec")
    pid, wd = s["MainPID"], usec(s["WatchdogUSec"])
    old_children = set(machine.run(["pgrep", "-P", pid]).stdout.split())
    assert len(old_children) == 3
    stopped = machine.now_usec()
    machine.run(["kill", "-STOP", pid])

    # systemd notices the missing pings within WatchdogSec, aborts (SIGABRT) and restarts.
    wait_until(lambda: machine.show(UNIT, "NRestarts")["NRestarts"] == str(int(s["NRestarts"]) + 1),
               wd / 1e6 + 60, 0.5, "a restart")
    msgs = [(t, m) for t, m in machine.messages() if t >= stopped]
    print("\n".join(m for _, m in msgs))
    timeout_at = next(t for t, m in msgs if "Watchdog timeout" in m)
    waited = (timeout_at - stopped) / 1e6
    figure("watchdog: SIGSTOP → systemd's watchdog timeout (s)", round(waited, 1))
    # The last ping was at most WatchdogSec/2 before the stop (sd-event pings twice per interval).
    assert wd / 2e6 - 1 <= waited <= wd / 1e6 + 2, waited
    assert any(re.search(rf"Killing process {pid} \(otel-supervisor\) with signal SIGABRT", m) for _, m in msgs)
    assert any("Failed with result 'watchdog'" in m for _, m in msgs)
    assert any("Scheduled restart job" in m for _, m in msgs)

    new = wait_until(lambda: (x := machine.show(UNIT, "MainPID", "ActiveState", "SubState", "StatusText"))
                     ["ActiveState"] == "active" and x, 120, 0.5, "active again")
    figure("watchdog: restarted instance", new)
    assert new["MainPID"] != pid and new["StatusText"].startswith("ready:"), new
    # The old children went with the old supervisor; the new one has its own three.
    kids = set(machine.run(["pgrep", "-P", new["MainPID"]]).stdout.split())
    assert len(kids) == 3 and not kids & old_children
    assert machine.run(["pgrep", "-u", "otel", "-c"]).stdout.strip() == "4"
