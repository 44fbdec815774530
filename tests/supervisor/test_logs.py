"""`otelctl logs` against the real local pipeline: rows written by a container runtime (loggen's file, and a
second container log file the test writes as a runtime would), shipped by the shipper, stored by the engine,
read through the supervisor (which holds the password) — filters, bounds, hostile filter values, --follow
while ClickHouse restarts, and the TCP port's rule."""
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import BIN, Supervisor, free_port, http, need_chdb, otelctl, status_json, wait_until
from test_local import local_config, ready

PROBE_POD = "loggen-probe"


def start(tmp_path, tcp_logs=False):
    need_chdb()
    ports = {k: free_port() for k in ("status", "clickhouse", "shipper", "loggen")}
    text = local_config(tmp_path, ports)
    if tcp_logs:
        text = text.replace("status:\n", "status:\n  tcp_logs: true\n", 1)
    sup = Supervisor(tmp_path, text)
    sup.ports = ports
    sup.sock = str(tmp_path / "status.sock")
    return sup


@pytest.fixture
def stack(tmp_path):
    sup = start(tmp_path)
    yield sup
    if sup.proc.poll() is None:
        sup.stop()


def cri_time(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def write_probe(sup, entries):
    """A second container's log file, as a container runtime writes it (CRI), where the shipper looks."""
    path = os.path.join(sup.dir, "data", "log", "containers", f"{PROBE_POD}_otel-demo_loggen-{'ab' * 32}.log")
    with open(path, "a") as f:
        for e in entries:
            f.write(f"{cri_time(time.time())} stdout F {json.dumps(e)}\n")
    return path


def logs(sup, *args, timeout=60):
    return otelctl("--socket", sup.sock, "logs", *args, timeout=timeout)


def logs_json(sup, *args):
    rc, out, err = logs(sup, "--json", *args)
    assert rc == 0, err
    return [json.loads(line) for line in out.splitlines()]


def row_count(sup):
    return status_json(sup.sock)["clickhouse"]["rows"]


HOSTILE = [
    "x' OR '1'='1",
    "'; DROP TABLE otel_logs; --",
    "{match:String}",
    "back\\slash \\' \\n",
    "tab\there",
    "%27%20OR%201%3D1",
    "UNION SELECT * FROM system.users",
]


def test_filters_bounds_and_hostile_values(stack):
    ready(stack)
    now = time.time()
    entries = [
        {"level": "info", "ts": now - 5400, "msg": "an old line"},
        {"level": "debug", "ts": now, "msg": "a debug line"},
        {"level": "warn", "ts": now, "msg": "a WARNING line"},
        {"level": "error", "ts": now, "msg": "an error line", "code": "E42"},
        {"level": "info", "ts": now, "msg": "two\nlines"},
        {"level": "info", "ts": now, "msg": "x" * 40000},
    ] + [{"level": "info", "ts": now, "msg": f"hostile {h}"} for h in HOSTILE]
    write_probe(stack, entries)
    # The newest of them arrived: every row is in.
    wait_until(lambda: len(logs_json(stack, "--pod", PROBE_POD, "--since", "2h")) == len(entries), 60, what="probe rows shipped")
    before = row_count(stack)

    # Oldest first, the bodies as written, with the pod, container and severity the runtime and zap gave.
    rows = logs_json(stack, "--pod", PROBE_POD, "--since", "2h")
    assert [r["body"] for r in rows][:5] == ["an old line", "a debug line", "a WARNING line", "an error line", "two\nlines"]
    assert all(r["pod"] == PROBE_POD and r["container"] == "loggen" and r["service"] == "loggen" for r in rows)
    assert [r["severity"] for r in rows[:4]] == ["INFO", "DEBUG", "WARN", "ERROR"]
    assert rows[3]["attributes"]["code"] == "E42"
    # --since: the line an hour and a half old is left out by default (1h).
    assert "an old line" not in [r["body"] for r in logs_json(stack, "--pod", PROBE_POD)]

    # Severity at or above; names or OpenTelemetry numbers.
    assert [r["body"] for r in logs_json(stack, "--pod", PROBE_POD, "--severity", "warn")] == ["a WARNING line", "an error line"]
    assert [r["body"] for r in logs_json(stack, "--pod", PROBE_POD, "--severity", "17")] == ["an error line"]
    # Text match, any case.
    assert [r["body"] for r in logs_json(stack, "--pod", PROBE_POD, "--match", "warning")] == ["a WARNING line"]
    # --service, and a pod prefix.
    assert logs_json(stack, "--service", "nosuch") == []
    assert len(logs_json(stack, "--service", "loggen", "--pod", "loggen-pro", "--limit", "3")) == 3
    # --limit: the newest N, oldest first.
    last2 = logs_json(stack, "--pod", PROBE_POD, "--limit", "2")
    assert [r["body"] for r in last2] == [f"hostile {HOSTILE[-2]}", f"hostile {HOSTILE[-1]}"]

    # Bounded: a 40 000-character body comes cut at 16 384 and marked.
    big = next(r for r in rows if r["body"].startswith("xxx"))
    assert len(big["body"]) == 16384 and big["body_truncated"] is True

    # For people: one line per row, control characters escaped, a cut body marked, attributes as key=value.
    rc, out, _ = logs(stack, "--pod", PROBE_POD, "--severity", "error")
    assert rc == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z loggen-probe ERROR an error line code=E42\n", out), out
    rc, out, _ = logs(stack, "--pod", PROBE_POD, "--match", "two")
    assert out.endswith(" two\\nlines\n") and out.count("\n") == 1, out
    rc, out, _ = logs(stack, "--pod", PROBE_POD, "--match", "xxxxx")
    assert out.rstrip("\n").endswith("x…"), out[-20:]

    # Hostile filter values are values: each finds exactly the row that contains it, and nothing breaks.
    for h in HOSTILE:
        got = logs_json(stack, "--pod", PROBE_POD, "--match", h)
        assert [r["body"] for r in got] == [f"hostile {h}"], (h, got)
        assert logs_json(stack, "--service", h) == [], h
        assert logs_json(stack, "--pod", h) == [], h
    assert row_count(stack) >= before and status_json(stack.sock)["state"] == "ready"
    assert len(logs_json(stack, "--pod", PROBE_POD, "--since", "2h")) == len(entries)

    # Bad values: a usage error naming the setting, before or from the supervisor.
    for args, name in ((("--limit", "1001"), "--limit"), (("--limit", "0"), "--limit"), (("--since", "0s"), "--since"), (("--since", "45d"), "--since"),
                       (("--severity", "loud"), "severity"), (("--match", "m" * 1025), "match")):
        rc, _, err = logs(stack, *args)
        assert rc == 64 and name in err, (args, rc, err)
    for q in ("limit=5000", "after=abc", "after=1.", "since=1ms", "severity=25", "pod=" + "p" * 1025):
        st, _, body = http("GET", "/v1/logs?" + q, unix=stack.sock)
        assert st == 400, (q, st, body)
    # Unknown severity numbers and every answer stay within the limits: a full page is LIMIT_MAX rows.
    st, _, body = http("GET", "/v1/logs?limit=1000&since=2h", unix=stack.sock)
    assert st == 200 and len(json.loads(body)["rows"]) <= 1000


def test_follow_shows_new_lines_through_a_clickhouse_restart(stack):
    ready(stack)
    proc = subprocess.Popen([BIN["otelctl"], "--socket", stack.sock, "logs", "--follow", "--json", "--pod", "loggen-local", "--limit", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()

    def counts():
        return [int(r["attributes"]["count"]) for r in map(json.loads, list(lines)) if "count" in r["attributes"]]

    def complete():
        """Every count from the first shown to the highest ClickHouse holds, with none missing below it
        (a batch the shipper retries after the restart may come seconds after later ones)."""
        s = status_json(stack.sock)["pipeline"]["streams"][0]
        have = counts()
        return have and s["lost"] == 0 and s["duplicated"] == 0 and set(range(min(have), s["max_count"] + 1)) <= set(have)

    try:
        time.sleep(5)
        # ClickHouse goes away and comes back: the follow says so and goes on where it was.
        rc, _, err = otelctl("--socket", stack.sock, "restart", "clickhouse")
        assert rc == 0, err
        ready(stack, timeout=90)
        time.sleep(4)
        wait_until(complete, 90, what="every stored line followed")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        reader.join(5)
        err = proc.stderr.read()
        # For the record: each row with its position (the order ClickHouse committed them in).
        (stack.dir / "follow.jsonl").write_text("".join(lines))
        (stack.dir / "follow.err").write_text(err)
    assert rc == 0, err

    # The 5 newest at the start, then every line loggen wrote (10 a second) once, none missing, in the order
    # ClickHouse stored them: around the restart, the shipper's batch retried after a later one was stored
    # comes after it.
    c = counts()
    assert len(c) >= 60, (len(c), err)
    assert len(set(c)) == len(c), "a row shown twice"
    assert sorted(c) == list(range(min(c), min(c) + len(c))), c
    assert c[:5] == list(range(c[0], c[0] + 5)), c
    assert "asking again every second" in err and "getting the logs again" in err, err


def test_tcp_port_serves_logs_only_when_configured(tmp_path):
    sup = start(tmp_path)
    try:
        ready(sup)
        host = f"127.0.0.1:{sup.ports['status']}"
        rc, _, err = otelctl("--host", host, "logs")
        assert rc == 1 and "403" in err and "status.tcp_logs" in err, err
        assert http("GET", "/v1/logs", port=sup.ports["status"])[0] == 403
    finally:
        sup.stop()

    (tmp_path / "on").mkdir()
    sup = start(tmp_path / "on", tcp_logs=True)
    try:
        ready(sup)
        host = f"127.0.0.1:{sup.ports['status']}"
        rc, out, err = otelctl("--host", host, "logs", "--limit", "3", "--json")
        assert rc == 0, err
        rows = [json.loads(l) for l in out.splitlines()]
        assert len(rows) == 3 and all(r["pod"] == "loggen-local" for r in rows)
        # Still read-only: the port answers GET only.
        assert http("POST", "/v1/logs", port=sup.ports["status"])[0] == 405
    finally:
        sup.stop()


def test_unreachable_names_the_socket_and_the_host(tmp_path):
    path = str(tmp_path / "nowhere.sock")
    for verb in (["status"], ["logs"], ["restart", "clickhouse"], ["reapply"], ["wait", "--timeout", "1s"]):
        rc, _, err = otelctl("--socket", path, *verb)
        assert rc == 2, err
        assert f"cannot connect to the supervisor's socket {path}: No such file or directory" in err, err
        assert "port 80" not in err and "localhost" not in err, err
    port = free_port()
    rc, _, err = otelctl("--host", f"127.0.0.1:{port}", "status")
    assert rc == 2 and f"cannot connect to the supervisor at 127.0.0.1:{port}: Connection refused" in err, err
    # A socket file nobody listens on.
    dead = str(tmp_path / "dead.sock")
    import socket as sk
    s = sk.socket(sk.AF_UNIX)
    s.bind(dead)
    s.close()
    rc, _, err = otelctl("--socket", dead, "wait", "--timeout", "1s")
    assert rc == 2 and f"{dead}: Connection refused" in err, err
