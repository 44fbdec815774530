"""Shared fixtures of the supervisor's black-box tests: binaries, free ports, a NOTIFY_SOCKET that records
what the daemon tells systemd, raw HTTP over TCP and unix sockets, and a running supervisor."""
import json
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

BIN = {
    "supervisor": os.environ.get("SUPERVISOR_BIN"),
    "otelctl": os.environ.get("OTELCTL_BIN"),
    "loggen": os.environ.get("LOGGEN_BIN"),
    "shipper": os.environ.get("SHIPPER_BIN"),
    "endpoint": os.environ.get("ENDPOINT_BIN"),
}
SOURCE_ROOT = os.environ.get("SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
CHDB_LIB = os.environ.get("CHDB_LIB", "")


@pytest.fixture
def tmp_path(tmp_path):
    """pytest's tmp_path under a short name: the tests put unix sockets there (status.sock, notify.sock),
    whose paths may not exceed 107 bytes, and a build directory deep in a checkout gives longer ones. A
    symbolic link in /tmp points at the real directory, which stays where pytest keeps it."""
    link = pathlib.Path(tempfile.mkdtemp(prefix="otel-sup-")) / "t"
    link.symlink_to(tmp_path)
    yield link
    link.unlink()
    link.parent.rmdir()


def need_chdb():
    if not os.path.exists(CHDB_LIB):
        if os.environ.get("CI") == "true":
            pytest.fail(f"libchdb not found at {CHDB_LIB!r}: scripts/deps/chdb.sh fetches it")
        pytest.skip("libchdb not fetched (scripts/deps/chdb.sh)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(predicate, timeout, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except OSError as e:  # e.g. the status socket does not exist yet
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")


class Notify:
    """A NOTIFY_SOCKET: records every datagram the daemon sends."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.extend(data.decode().splitlines())

    def lines(self):
        with self.lock:
            return list(self.messages)

    def wait_for(self, want, timeout=10):
        """The datagrams are read by a thread: a line the daemon sent before it answered a status request
        may not be recorded yet when the answer is. Waits for a line equal to `want` (or for which `want`,
        a function, is true) and returns every line recorded so far."""
        match = want if callable(want) else (lambda line: line == want)
        return wait_until(lambda: (lambda lines: lines if any(match(line) for line in lines) else None)(self.lines()),
                          timeout, interval=0.05, what=f"notify line {want!r}")

    def count(self, message):
        return sum(1 for m in self.lines() if m == message)

    def statuses(self):
        return [m[len("STATUS="):] for m in self.lines() if m.startswith("STATUS=")]

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def http(method, path, *, port=None, unix=None, body=b"", raw=None, timeout=10):
    """One HTTP/1.1 request; returns (status, headers dict, body bytes)."""
    if unix:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(unix)
    else:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if raw is None:
        raw = (f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    s.sendall(raw)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    s.close()
    if not data:
        return None, {}, b""
    head, _, payload = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return status, headers, payload


class Supervisor:
    def __init__(self, tmp_path, config_text, env=None):
        self.dir = tmp_path
        self.config = tmp_path / "config.yaml"
        self.config.write_text(config_text)
        self.notify = Notify(str(tmp_path / "notify.sock"))
        self.log = open(tmp_path / "supervisor.log", "w+")
        e = dict(os.environ)
        e["NOTIFY_SOCKET"] = self.notify.path
        # As systemd's WatchdogSec=4s would: the loop itself must send WATCHDOG=1 at half that interval.
        e["WATCHDOG_USEC"] = "4000000"
        e.pop("WATCHDOG_PID", None)
        e.update(env or {})
        self.proc = subprocess.Popen([BIN["supervisor"], "--config", str(self.config)], stdout=self.log, stderr=subprocess.STDOUT, env=e)

    def logtext(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("supervisor did not stop after SIGTERM:\n" + self.logtext()[-3000:])
        self.notify.close()
        return self.proc.returncode


def otelctl(*args, timeout=120):
    r = subprocess.run([BIN["otelctl"], *args], capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def status_json(sock):
    st, _, body = http("GET", "/v1/status", unix=sock)
    assert st == 200
    return json.loads(body)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is not running.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
