"""The local runtime end to end: loggen → shipper → the embedded ClickHouse endpoint, supervised, with the
status served on a unix socket and a TCP port, and the faults the supervisor must notice."""
import json
import os
import re
import signal
import stat
import subprocess
import time
import urllib.request

import pytest

from conftest import BIN, CHDB_LIB, SOURCE_ROOT, Supervisor, free_port, http, need_chdb, otelctl, pid_alive, status_json, wait_until


def local_config(tmp_path, ports, loggen_args=("--sleep-duration", "100ms")):
    return f"""mode: local
state_dir: {tmp_path}/state
poll_interval: 500ms
max_log_age: 5s
start_timeout: 2m
stop_timeout: 10s
status:
  socket: {tmp_path}/status.sock
  listen: 127.0.0.1:{ports['status']}
local:
  data_dir: {tmp_path}/data
  loggen: {BIN['loggen']}
  shipper: {BIN['shipper']}
  clickhouse_endpoint: {BIN['endpoint']}
  chdb_lib: {CHDB_LIB}
  schema_dir: {SOURCE_ROOT}/manifests/clickhouse/schema
  clickhouse_port: {ports['clickhouse']}
  shipper_port: {ports['shipper']}
  loggen_health_port: {ports['loggen']}
  restart_max: 2s
  loggen_args: [{', '.join(loggen_args)}]
"""


@pytest.fixture
def stack(tmp_path):
    need_chdb()
    ports = {k: free_port() for k in ("status", "clickhouse", "shipper", "loggen")}
    sup = Supervisor(tmp_path, local_config(tmp_path, ports))
    sup.ports = ports
    sup.sock = str(tmp_path / "status.sock")
    sup.password = None
    yield sup
    if sup.proc.poll() is None:
        sup.stop()


def ready(sup, timeout=120):
    rc, out, err = otelctl("--socket", sup.sock, "wait", "--timeout", f"{timeout}s", timeout=timeout + 30)
    assert rc == 0, f"not ready: {err}\n{sup.logtext()[-4000:]}"


def query(sup, sql, user="reader"):
    """Runs sql as one of the ClickHouse users whose passwords the supervisor generated (docs/security.md)."""
    pw = open(os.path.join(sup.dir, "state", "secrets", f"{user}.password")).read().strip()
    req = urllib.request.Request(f"http://127.0.0.1:{sup.ports['clickhouse']}/", data=sql.encode(), headers={"X-ClickHouse-User": f"otel_{user}", "X-ClickHouse-Key": pw})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read().decode()


def process(st, name):
    return next(p for p in st["processes"] if p["name"] == name)


def highest_count_written(sup):
    """The highest loggen count in the container log files, read as the runtime wrote them."""
    best = 0
    logdir = os.path.join(sup.dir, "data", "log", "containers")
    for f in os.listdir(logdir):
        with open(os.path.join(logdir, f)) as fh:
            for m in re.finditer(r'"count":(\d+)', fh.read()):
                best = max(best, int(m.group(1)))
    return best


def test_local_pipeline_end_to_end(stack):
    ready(stack)

    # systemd was told: READY=1 once, and a STATUS= line at each change, ending in ready.
    lines = stack.notify.wait_for("READY=1")
    assert lines.count("READY=1") == 1
    statuses = stack.notify.statuses()
    assert statuses[0].startswith("starting"), statuses
    assert any(s.startswith("ready") for s in statuses), statuses

    rc, out, _ = otelctl("--socket", stack.sock, "status")
    assert rc == 0
    assert re.search(r"^STATE\s+ready", out, re.M), out
    for name in ("clickhouse", "shipper", "loggen"):
        assert re.search(rf"^{name}\s+running", out, re.M), out

    rc, out, _ = otelctl("--host", f"127.0.0.1:{stack.ports['status']}", "status", "--json")
    assert rc == 0
    st = json.loads(out)
    assert st["schema"] == "otel-supervisor/status/v1"
    assert st["state"] == "ready" and st["mode"] == "local"
    assert st["clickhouse"]["reachable"] and st["clickhouse"]["rows"] > 0
    assert st["clickhouse"]["newest_log_age_seconds"] < 5

    # A shipper killed with SIGKILL is noticed and restarted, and no count is lost or doubled.
    shipper = process(st, "shipper")
    os.kill(shipper["pid"], signal.SIGKILL)
    st = wait_until(lambda: (lambda s: s if process(s, "shipper")["restarts"] >= 1 and process(s, "shipper")["state"] == "running" else None)(status_json(stack.sock)), 30, what="shipper restarted")
    assert process(st, "shipper")["pid"] != shipper["pid"]
    assert "shipper: killed by signal" in stack.logtext()
    ready(stack)

    time.sleep(2)
    target = highest_count_written(stack)
    assert target > 10
    wait_until(lambda: status_json(stack.sock)["pipeline"]["streams"] and max(s["max_count"] for s in status_json(stack.sock)["pipeline"]["streams"]) >= target, 60, what=f"count {target} in ClickHouse")
    st = status_json(stack.sock)
    assert st["pipeline"]["lost"] == 0 and st["pipeline"]["duplicated"] == 0, st["pipeline"]
    # The same figures straight from ClickHouse.
    rows, distinct, top = map(int, query(stack, "SELECT count(), uniqExact(Count), max(Count) FROM otel_logs WHERE ServiceName = 'loggen' AND Count > 0 FORMAT TSV").split())
    assert rows == distinct == top >= target

    # The event loop fed the watchdog all along (WatchdogSec=4s: a ping at least every 2 s).
    uptime = status_json(stack.sock)["uptime_seconds"]
    assert stack.notify.count("WATCHDOG=1") >= uptime / 2 - 2, (stack.notify.count("WATCHDOG=1"), uptime)

    # SIGTERM: clean exit, STOPPING=1, every child reaped.
    pids = [p["pid"] for p in st["processes"]]
    assert stack.stop() == 0
    stack.notify.wait_for("STOPPING=1")
    assert not any(pid_alive(p) for p in pids)
    assert not os.path.exists(stack.sock)


def test_status_endpoints(stack):
    ready(stack)
    sock, port = stack.sock, stack.ports["status"]
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660

    for kw in ({"unix": sock}, {"port": port}):
        st, h, body = http("GET", "/v1/status", **kw)
        assert st == 200 and h["content-type"] == "application/json"
        assert json.loads(body)["state"] == "ready"
        assert http("HEAD", "/v1/status", **kw)[0] == 200
        assert http("GET", "/healthz", **kw)[:1] == (200,)
        st, h, body = http("GET", "/metrics", **kw)
        assert st == 200 and b'otel_supervisor_state{state="ready"} 1' in body
        assert http("GET", "/nope", **kw)[0] == 404
        assert http("GET", "/v1/status/", **kw)[0] == 404
        st, h, _ = http("POST", "/v1/status", **kw)
        assert st == 405 and "GET" in h["allow"]
        assert http("DELETE", "/healthz", **kw)[0] == 405

    # The TCP port is read-only: the write routes answer 405 there, and nothing happens.
    before = process(status_json(sock), "loggen")
    assert http("POST", "/v1/restart?process=loggen", port=port)[0] == 405
    rc, _, err = otelctl("--host", f"127.0.0.1:{port}", "restart", "loggen")
    assert rc == 1 and "405" in err
    assert process(status_json(sock), "loggen")["pid"] == before["pid"]

    # Junk and oversized requests get an error or a closed connection; the daemon keeps serving.
    for raw in (b"\x00\x01\x02 garbage\r\n\r\n", b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n", b"GET " + b"/x" * 40000 + b" HTTP/1.1\r\n\r\n"):
        for kw in ({"unix": sock}, {"port": port}):
            st, _, _ = http(None, None, raw=raw, **kw)
            assert st in (None, 400, 413, 414, 431), st
    st, _, body = http("POST", "/v1/restart?process=loggen", unix=sock, body=b"x" * 100000)
    assert st in (None, 413)
    assert http("GET", "/v1/status", port=port)[0] == 200

    # On the socket the restart is allowed.
    rc, out, err = otelctl("--socket", sock, "restart", "loggen")
    assert rc == 0, err
    wait_until(lambda: process(status_json(sock), "loggen")["restarts"] == 1 and process(status_json(sock), "loggen")["state"] == "running", 30, what="loggen restarted")
    rc, _, err = otelctl("--socket", sock, "restart", "nosuch")
    assert rc == 1 and "404" in err


def test_logs_stopping_is_degraded_then_recovers(stack):
    ready(stack)
    loggen = process(status_json(stack.sock), "loggen")
    os.kill(loggen["pid"], signal.SIGSTOP)
    try:
        st = wait_until(lambda: (lambda s: s if s["state"] == "degraded" else None)(status_json(stack.sock)), 40, what="degraded")
        assert "logs stopped arriving" in st["reason"], st["reason"]
        rc, out, _ = otelctl("--socket", stack.sock, "status")
        assert rc == 1 and "degraded" in out
        assert http("GET", "/healthz", unix=stack.sock)[0] == 503
        stack.notify.wait_for(lambda line: line.startswith("STATUS=degraded: logs stopped arriving"))
    finally:
        os.kill(loggen["pid"], signal.SIGCONT)
    ready(stack, timeout=60)


def test_clickhouse_stopped_is_degraded_then_ready(stack):
    ready(stack)
    ch = process(status_json(stack.sock), "clickhouse")
    os.kill(ch["pid"], signal.SIGSTOP)
    try:
        st = wait_until(lambda: (lambda s: s if s["state"] == "degraded" else None)(status_json(stack.sock)), 60, what="degraded")
        assert "ClickHouse unreachable" in st["reason"], st["reason"]
        assert st["clickhouse"]["reachable"] is False
    finally:
        os.kill(ch["pid"], signal.SIGCONT)
    ready(stack, timeout=90)


def test_otelctl_unreachable_and_usage(tmp_path):
    rc, _, err = otelctl("--socket", str(tmp_path / "none.sock"), "status")
    assert rc == 2 and "cannot get the status" in err
    rc, _, err = otelctl("--host", f"127.0.0.1:{free_port()}", "status", "--json")
    assert rc == 2
    rc, _, err = otelctl("--socket", str(tmp_path / "none.sock"), "wait", "--timeout", "1s")
    assert rc == 2 and "cannot reach" in err
    rc, _, err = otelctl("frobnicate")
    assert rc == 64 and "unknown command" in err
    rc, _, err = otelctl("--timeout", "soon", "wait")
    assert rc == 64 and "--timeout" in err
    rc, _, err = otelctl()
    assert rc == 64
    rc, out, _ = otelctl("--help")
    assert rc == 0 and "status" in out and "wait" in out
    rc, out, _ = otelctl("--version")
    assert rc == 0 and out.startswith("otelctl ")
