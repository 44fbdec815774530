"""The local runtime's integrity and health judgement: rows really lost or duplicated make the state degraded
with the pod and the gap named (and ready never comes back by itself), a refused ClickHouse password is
named as such, and the journal gets a line per change of state plus the counts now and then, not a line per
row count."""
import json
import os
import re
import signal
import time
import urllib.request

import pytest

from conftest import Supervisor, free_port, http, need_chdb, otelctl, status_json, wait_until
from test_local import local_config, process, ready


def start(tmp_path, extra=""):
    need_chdb()
    ports = {k: free_port() for k in ("status", "clickhouse", "shipper", "loggen")}
    text = local_config(tmp_path, ports).replace("mode: local\n", "mode: local\n" + extra, 1)
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


def credentials(sup, role):
    """(user, password) of a ClickHouse user of the local runtime: the per-role users when the runtime made
    them (<state_dir>/secrets), else its one user."""
    secrets = os.path.join(sup.dir, "state", "secrets")
    if os.path.isdir(secrets):
        return f"otel_{role}", open(os.path.join(secrets, f"{role}.password")).read().strip()
    return "otel", open(os.path.join(sup.dir, "data", "clickhouse-password")).read().strip()


def admin(sup, sql):
    """The test making a fault in storage, as the database administrator would."""
    user, pw = credentials(sup, "admin")
    req = urllib.request.Request(f"http://127.0.0.1:{sup.ports['clickhouse']}/", data=sql.encode(), headers={"X-ClickHouse-User": user, "X-ClickHouse-Key": pw})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read().decode()


def stream(sup):
    streams = status_json(sup.sock)["pipeline"]["streams"]
    assert len(streams) == 1, streams
    return streams[0]


def degraded_with(sup, text, timeout=60):
    return wait_until(lambda: (lambda s: s if s["state"] == "degraded" and text in (s["reason"] or "") else None)(status_json(sup.sock)), timeout, what=f"degraded with {text!r}")


def metric(sup, name):
    st, _, body = http("GET", "/metrics", port=sup.ports["status"])
    m = re.search(rf"^{name} (\d+)$", body.decode(), re.M)
    return int(m.group(1)) if m else None


def test_lost_rows(stack):
    ready(stack)
    # Rows older than the settle time (10 s here) around the gap: a gap right behind the newest row may
    # still be filled by a late batch, this one cannot.
    wait_until(lambda: stream(stack)["max_count"] >= 160, 60, what="count 160")
    assert status_json(stack.sock)["state"] == "ready"
    admin(stack, "ALTER TABLE otel_logs DELETE WHERE ServiceName = 'loggen' AND Count BETWEEN 40 AND 44 SETTINGS mutations_sync = 1")
    admin(stack, "ALTER TABLE otel_logs DELETE WHERE ServiceName = 'loggen' AND Count = 60 SETTINGS mutations_sync = 1")

    st = degraded_with(stack, "6 rows lost")
    reason = st["reason"]
    assert re.search(r"pipeline: pod loggen-local \(container [0-9a-f]{12}\): 6 rows lost \(count 40-44, 60\)", reason), reason
    s = stream(stack)
    assert s["lost"] == 6 and s["duplicated"] == 0, s
    assert s["gaps"] == [{"from": 40, "to": 44}, {"from": 60, "to": 60}], s
    assert status_json(stack.sock)["pipeline"]["lost"] == 6
    assert metric(stack, "otel_supervisor_pipeline_lost_rows") == 6

    rc, out, _ = otelctl("--socket", stack.sock, "status")
    assert rc == 1 and "degraded" in out and "6 rows lost" in out, out
    assert http("GET", "/healthz", unix=stack.sock)[0] == 503
    stack.notify.wait_for(lambda line: line.startswith("STATUS=") and "6 rows lost (count 40-44, 60)" in line)
    # Lost rows do not come back: the state stays degraded while new rows keep arriving.
    time.sleep(3)
    st = status_json(stack.sock)
    assert st["state"] == "degraded" and "6 rows lost" in st["reason"], st["reason"]


def test_duplicates(stack):
    ready(stack)
    wait_until(lambda: stream(stack)["max_count"] >= 30, 60, what="count 30")
    # The shipper loses its checkpoint: stopped, the file removed, killed; restarted by the supervisor, it
    # reads loggen's file from its start and sends every line again (other batch boundaries: ClickHouse's
    # deduplication does not catch them).
    shipper = process(status_json(stack.sock), "shipper")
    os.kill(shipper["pid"], signal.SIGSTOP)
    ckpt = os.path.join(stack.dir, "data", "shipper", "checkpoints")
    assert os.path.exists(ckpt)
    os.unlink(ckpt)
    os.kill(shipper["pid"], signal.SIGKILL)

    st = degraded_with(stack, "duplicated (count 1 ×2, 2 ×2, 3 ×2, …)")
    assert re.search(r"pipeline: pod loggen-local \(container [0-9a-f]{12}\): \d+ duplicated \(count 1 ×2, 2 ×2, 3 ×2, …\)", st["reason"]), st["reason"]
    s = stream(stack)
    assert s["duplicated"] >= 30 and s["lost"] == 0, s
    assert s["duplicated_counts"][:3] == [{"count": 1, "rows": 2}, {"count": 2, "rows": 2}, {"count": 3, "rows": 2}], s
    assert metric(stack, "otel_supervisor_pipeline_duplicated_rows") == s["duplicated"]
    rc, _, _ = otelctl("--socket", stack.sock, "status")
    assert rc == 1


def test_auth_refused(stack):
    ready(stack)
    # The password changes under the running supervisor and shipper: ClickHouse restarts with a new one.
    secrets = os.path.join(stack.dir, "state", "secrets")
    files = [os.path.join(secrets, f) for f in ("reader.password", "ingest.password")] if os.path.isdir(secrets) else [os.path.join(stack.dir, "data", "clickhouse-password")]
    old = {f: open(f).read() for f in files}
    for f in files:
        with open(f, "w") as fh:
            fh.write("not-the-password-any-more\n")
    rc, _, err = otelctl("--socket", stack.sock, "restart", "clickhouse")
    assert rc == 0, err

    st = degraded_with(stack, "authentication failed")
    assert re.search(r"ClickHouse: authentication failed for user otel\w* \(HTTP 403, code 516\)", st["reason"]), st["reason"]
    assert st["clickhouse"]["reachable"] is True
    rc, out, _ = otelctl("--socket", stack.sock, "status")
    assert rc == 1 and "authentication failed" in out
    # The shipper says on /health what it cannot fix by retrying, and the reason names it.
    st = degraded_with(stack, "shipper: ClickHouse refused the password of user otel_ingest (HTTP 403, code 516)")
    code, _, body = http("GET", "/health", port=stack.ports["shipper"])
    assert code == 503 and body.decode().startswith("degraded: ClickHouse refused the password"), (code, body)

    # The right password again: ready, and nothing the shipper held back is lost.
    for f, text in old.items():
        with open(f, "w") as fh:
            fh.write(text)
    rc, _, err = otelctl("--socket", stack.sock, "restart", "clickhouse")
    assert rc == 0, err
    ready(stack, timeout=90)
    st = status_json(stack.sock)
    assert st["pipeline"]["lost"] == 0 and st["pipeline"]["duplicated"] == 0, st["pipeline"]


def test_shipper_password_refused(stack):
    """Only the shipper's password is refused (the supervisor still reads): the state's reason is the
    shipper's, from its /health; the shipper keeps the rows, and once the password is accepted again every
    row arrives once."""
    ready(stack)
    ingest = os.path.join(stack.dir, "state", "secrets", "ingest.password")
    assert os.path.exists(ingest), "the local runtime keeps a password per role"
    old = open(ingest).read()
    with open(ingest, "w") as fh:
        fh.write("not-the-shippers-password\n")
    rc, _, err = otelctl("--socket", stack.sock, "restart", "clickhouse")
    assert rc == 0, err

    reason = "shipper: ClickHouse refused the password of user otel_ingest (HTTP 403, code 516), rows are kept and retried"
    st = degraded_with(stack, reason)
    assert "ClickHouse: authentication failed" not in st["reason"], st["reason"]
    code, _, body = http("GET", "/health", port=stack.ports["shipper"])
    assert code == 503, (code, body)
    assert http("GET", "/live", port=stack.ports["shipper"])[0] == 200
    st, _, body = http("GET", "/metrics", port=stack.ports["shipper"])
    text = body.decode()
    assert re.search(r"^shipper_clickhouse_auth_refused 1$", text, re.M), text
    assert int(re.search(r"^shipper_clickhouse_auth_failures_total (\d+)$", text, re.M).group(1)) >= 1
    rc, out, _ = otelctl("--socket", stack.sock, "status")
    assert rc == 1 and "ClickHouse refused the password of user otel_ingest" in out, out
    # The shipper is not restarted for it: it is the same process all along.
    pid = process(status_json(stack.sock), "shipper")["pid"]

    with open(ingest, "w") as fh:
        fh.write(old)
    rc, _, err = otelctl("--socket", stack.sock, "restart", "clickhouse")
    assert rc == 0, err
    ready(stack, timeout=90)
    st = status_json(stack.sock)
    assert process(st, "shipper")["pid"] == pid
    assert st["pipeline"]["lost"] == 0 and st["pipeline"]["duplicated"] == 0, st["pipeline"]
    assert http("GET", "/health", port=stack.ports["shipper"])[:1] == (200,)


def test_shipper_checkpoint_unwritable(stack):
    """The shipper's directory moved away under it: its checkpoint cannot be written, so it sends nothing,
    and the state's reason says why (from its /health); moved back, ready again with nothing lost or
    duplicated, the shipper never restarted."""
    ready(stack)
    d = os.path.join(stack.dir, "data", "shipper")
    pid = process(status_json(stack.sock), "shipper")["pid"]
    os.rename(d, d + ".away")
    try:
        st = degraded_with(stack, f"shipper: checkpoint file {d}/checkpoints cannot be written (No such file or directory), nothing is sent")
        code, _, body = http("GET", "/health", port=stack.ports["shipper"])
        assert code == 503, (code, body)
        rc, out, _ = otelctl("--socket", stack.sock, "status")
        assert rc == 1 and "checkpoint file" in out, out
    finally:
        os.rename(d + ".away", d)
    ready(stack, timeout=90)
    st = status_json(stack.sock)
    assert process(st, "shipper")["pid"] == pid
    assert st["pipeline"]["lost"] == 0 and st["pipeline"]["duplicated"] == 0, st["pipeline"]


def test_journal_lines(tmp_path):
    sup = start(tmp_path, "counts_log_interval: 2s\n")
    try:
        ready(sup)
        first = status_json(sup.sock)["clickhouse"]["rows"]
        time.sleep(9)
        st = status_json(sup.sock)
        assert st["state"] == "ready" and st["clickhouse"]["rows"] > first + 40
        # Logs stop for a while: the reason's age changes at every poll, the journal hears of it once.
        loggen = process(st, "loggen")
        os.kill(loggen["pid"], signal.SIGSTOP)
        try:
            degraded_with(sup, "logs stopped arriving")
            time.sleep(4)
        finally:
            os.kill(loggen["pid"], signal.SIGCONT)
        ready(sup)
    finally:
        sup.stop()
    log = sup.logtext()
    states = re.findall(r"^otel-supervisor: state: (.*)$", log, re.M)
    counts = re.findall(r"^otel-supervisor: counts: (\d+) rows in ClickHouse \(([+-]\d+) since the last count\), 0 lost, 0 duplicated$", log, re.M)
    # One line per change of state (starting with its reasons, ready, degraded, ready), not one per row count:
    # the rows changed at every poll (500 ms) of the ~20 s run.
    ready_lines = [i for i, s in enumerate(states) if s.startswith("ready")]
    assert len(ready_lines) == 2 and ready_lines[0] <= 5, states
    assert [s for s in states if "logs stopped arriving" in s] == [states[ready_lines[0] + 1]], states
    assert len(states) == ready_lines[1] + 1, states
    # The counts every 2 s.
    assert 5 <= len(counts) <= 14, counts
    assert [int(n) for n, _ in counts] == sorted(int(n) for n, _ in counts)
    assert sum(1 for _, d in counts if int(d) > 0) >= 3, counts
    assert all(int(n) - int(d) == int(p) for (n, d), (p, _) in zip(counts[1:], counts)), counts
    # systemd's STATUS= still follows the rows (systemctl status shows the latest; it is not journaled).
    assert len({s for s in sup.notify.statuses() if s.startswith("ready: ")}) >= 5
