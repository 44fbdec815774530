# SPDX-License-Identifier: MIT
"""Every HTTP port the project opens survives a connection flood: 500 connections held open by a client that
reopens each one the server closes (idle ones, ones stalled after a request line, ones trickling a partial
request a byte at a time, kept-alive ones), and a normal request still gets its answer within DEADLINE, during
the flood and after it. The programs run as they do in production, each on its own free port."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import flood  # noqa: E402

BIN = {k: os.environ.get(v) for k, v in (("loggen", "LOGGEN_BIN"), ("shipper", "SHIPPER_BIN"), ("supervisor", "SUPERVISOR_BIN"), ("endpoint", "ENDPOINT_BIN"))}
CHDB_LIB = os.environ.get("CHDB_LIB", "")

CONNECTIONS = 500
# Generous: an answer takes milliseconds (see the timeline each test prints); this only bounds a wedge.
DEADLINE = 10.0
PROBES = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Program:
    def __init__(self, tmp_path, name, argv):
        self.name = name
        self.log_path = tmp_path / f"{name}.log"
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=tmp_path)

    def text(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            assert self.proc.poll() is None, f"{self.name} exited with {self.proc.returncode}:\n{self.text()[-3000:]}"
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: {pattern!r} not logged within {timeout}s:\n{self.text()[-3000:]}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_loggen(tmp_path):
    p = Program(tmp_path, "loggen", [BIN["loggen"], "--health-address", "127.0.0.1", "--health-port", "0", "--sleep-duration", "1s"])
    port = int(p.wait_for(r'"msg":"health server listening".*"port":(\d+)').group(1))
    return p, ("tcp", ("127.0.0.1", port)), "/health"


def start_shipper(tmp_path):
    (tmp_path / "logs").mkdir()
    p = Program(tmp_path, "shipper", [
        BIN["shipper"], "--paths", str(tmp_path / "logs" / "*.log"), "--listen-address", "127.0.0.1", "--listen-port", "0",
        "--checkpoint-file", str(tmp_path / "checkpoints"), "--dead-letter-file", str(tmp_path / "dead-letter.jsonl"),
        # Nothing listens there: the shipper keeps retrying, its endpoints must answer all the same.
        "--clickhouse-url", f"http://127.0.0.1:{free_port()}"])
    port = int(p.wait_for(r"Serving /metrics and /health on 127\.0\.0\.1:(\d+)").group(1))
    return p, ("tcp", ("127.0.0.1", port)), "/health"


def start_supervisor(tmp_path):
    # The local runtime, whose children answer on their own ports; the engine may be missing (the
    # ClickHouse child then restarts with backoff): the status endpoints are served whatever the state.
    config = tmp_path / "config.yaml"
    config.write_text(f"""mode: local
state_dir: {tmp_path}/state
status:
  socket: {tmp_path}/status.sock
  listen: 127.0.0.1:0
local:
  data_dir: {tmp_path}/data
  chdb_lib: {CHDB_LIB or '/nonexistent/libchdb.so'}
  schema_dir: {os.environ.get('SCHEMA_DIR', '/nonexistent')}
  loggen: {BIN['loggen']}
  shipper: {BIN['shipper']}
  clickhouse_endpoint: {BIN['endpoint']}
  clickhouse_port: {free_port()}
  shipper_port: {free_port()}
  loggen_health_port: {free_port()}
""")
    p = Program(tmp_path, "supervisor", [BIN["supervisor"], "--config", str(config)])
    port = int(p.wait_for(r"Status on http://127\.0\.0\.1:(\d+)/v1/status").group(1))
    return p, port, str(tmp_path / "status.sock")


def start_endpoint(tmp_path):
    if not os.path.exists(CHDB_LIB):
        if os.environ.get("CI") == "true":
            pytest.fail(f"libchdb not found at {CHDB_LIB!r}: scripts/deps/chdb.sh fetches it")
        pytest.skip("libchdb not fetched (scripts/deps/chdb.sh)")
    # The users' passwords are generated into the secrets directory at start (docs/security.md).
    p = Program(tmp_path, "clickhouse-endpoint", [
        BIN["endpoint"], "--port", "0", "--data-dir", str(tmp_path / "data"), "--chdb-lib", CHDB_LIB,
        "--secrets-dir", str(tmp_path / "secrets")])
    port = int(p.wait_for(r"Listening on 127\.0\.0\.1 port (\d+)").group(1))
    return p, ("tcp", ("127.0.0.1", port)), "/ping"


def start(tmp_path, which):
    if which == "loggen":
        return start_loggen(tmp_path)
    if which == "shipper":
        return start_shipper(tmp_path)
    if which == "clickhouse-endpoint":
        return start_endpoint(tmp_path)
    p, port, sock = start_supervisor(tmp_path)
    if which == "supervisor-tcp":
        return p, ("tcp", ("127.0.0.1", port)), "/healthz"
    return p, ("unix", sock), "/v1/status"


def answered(target, path, what):
    """A normal request must get a complete HTTP answer (any status: /healthz may say 503 while the runtime
    starts) within DEADLINE."""
    status, secs, err = flood.probe(target, path, DEADLINE)
    assert status is not None, f"{what}: {path} not answered: {err}"
    return secs


@pytest.mark.parametrize("which", ["loggen", "shipper", "supervisor-tcp", "supervisor-unix", "clickhouse-endpoint"])
def test_flood(tmp_path, which):
    proc, target, path = start(tmp_path, which)
    try:
        deadline = time.monotonic() + 30
        while flood.probe(target, path, 1.0)[0] is None:
            assert time.monotonic() < deadline, f"{which} never answered {path}:\n{proc.text()[-3000:]}"
            assert proc.proc.poll() is None, f"{which} exited:\n{proc.text()[-3000:]}"
            time.sleep(0.1)

        timeline = []
        with flood.FloodProcess(target, CONNECTIONS, path, reconnect=True) as fl:
            # Every connection opened at least once, and the server had a second to fall behind.
            time.sleep(1.0)
            for i in range(PROBES):
                secs = answered(target, path, f"{which} while {CONNECTIONS} connections are held ({fl.counts()})")
                timeline.append(f"during #{i + 1}: {secs * 1000:.1f} ms {fl.counts()}")
                time.sleep(0.2)
        for i in range(PROBES):
            secs = answered(target, path, f"{which} after the flood")
            timeline.append(f"after #{i + 1}: {secs * 1000:.1f} ms")
            time.sleep(0.2)
        print(f"\n{which} ({target[1]}): " + "; ".join(timeline), flush=True)
        assert proc.proc.poll() is None, f"{which} died under the flood:\n{proc.text()[-3000:]}"
    finally:
        proc.stop()
