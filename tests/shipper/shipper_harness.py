# SPDX-License-Identifier: MIT
"""Helpers for the shipper's integration tests and benchmark: an embedded
ClickHouse endpoint on a random port, the shipper as a child process, and
writers of container log files in docker json-file and CRI format."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

# The endpoint's users (docs/security.md): the shipper inserts as otel_ingest, the tests read as otel_admin.
INGEST = ("otel_ingest", "shipper-test-password")
ADMIN = ("otel_admin", "admin-test-password")
READER = ("otel_reader", "reader-test-password")
PASSWORD = INGEST[1]  # the shipper's


def write_secrets(directory):
    """The users' password files as the appliance keeps them (0700 directory, 0600 files)."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    for name, password in (ADMIN, INGEST, READER):
        fd = os.open(os.path.join(directory, name.replace("otel_", "") + ".password"),
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
CONTAINER_ID = "0123456789abcdef" * 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


class Endpoint:
    """The embedded ClickHouse endpoint (the real engine, libchdb)."""

    def __init__(self, binary, schema_dir, workdir, port=None, extra_args=None):
        self.binary = binary
        self.extra_args = list(extra_args or [])
        self.schema_dir = schema_dir
        self.data_dir = os.path.join(workdir, "clickhouse")
        self.secrets_dir = os.path.join(workdir, "secrets")
        self.log_path = os.path.join(workdir, "endpoint.log")
        self.port = port or free_port()
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=120):
        logf = open(self.log_path, "ab")
        write_secrets(self.secrets_dir)
        self.proc = subprocess.Popen(
            [self.binary, "--listen", "127.0.0.1", "--port", str(self.port), "--data-dir", self.data_dir,
             "--secrets-dir", self.secrets_dir, "--schema-dir", self.schema_dir] + self.extra_args,
            stdout=logf, stderr=subprocess.STDOUT,
            # The engine only knows named zones; the test run's TZ=GMT+12 (a POSIX rule) is for our code.
            env=dict(os.environ, TZ="UTC"))
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"clickhouse-endpoint exited with {self.proc.returncode}; see {self.log_path}:\n"
                                   + open(self.log_path, errors="replace").read()[-2000:])
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError("clickhouse-endpoint did not answer /ping")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def query(self, sql):
        req = urllib.request.Request(self.url + "/", data=sql.encode(),
                                     headers={"X-ClickHouse-User": ADMIN[0], "X-ClickHouse-Key": ADMIN[1]})
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.read().decode()

    def rows(self, sql):
        out = self.query(sql + " FORMAT TSV").strip()
        return [line.split("\t") for line in out.splitlines()] if out else []


class Shipper:
    def __init__(self, binary, workdir, endpoint_url, globs, extra=None, env=None):
        self.binary = binary
        self.workdir = workdir
        self.checkpoint = os.path.join(workdir, "checkpoints")
        self.dead_letter = os.path.join(workdir, "dead-letter.jsonl")
        self.log_path = os.path.join(workdir, "shipper.log")
        self.metrics_port = free_port()
        self.args = [self.binary, "--paths", ",".join(globs), "--clickhouse-url", endpoint_url,
                     "--user", INGEST[0], "--password", INGEST[1], "--checkpoint-file", self.checkpoint,
                     "--dead-letter-file", self.dead_letter, "--listen-address", "127.0.0.1",
                     "--listen-port", str(self.metrics_port), "--flush-interval", "200ms",
                     "--rescan-interval", "500ms", "--rotate-wait", "1s", "--retry-max", "2s",
                     "--retry-initial", "100ms", "--request-timeout", "20s"] + (extra or [])
        self.env = dict(os.environ, **(env or {}))
        self.proc = None

    def start(self):
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=logf, stderr=subprocess.STDOUT, env=self.env)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        """SIGTERM; the shipper must exit 0 (under the sanitizers that includes no leak and no error)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("shipper did not exit within 20 s of SIGTERM")
        if self.proc and self.proc.returncode != 0:
            tail = open(self.log_path, errors="replace").read()[-3000:]
            raise AssertionError(f"shipper exited with {self.proc.returncode}:\n{tail}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def metrics(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except (urllib.error.URLError, ConnectionError, OSError):
            return {}
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def rss_kb(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0


def zap_line(count, ts, pod):
    return json.dumps({"level": "info", "ts": round(ts, 6), "caller": "loggen/loop.c:42", "msg": "tick",
                       "count": count, "random_number": count % 101, "random_string": "gamma", "pod": pod},
                      separators=(",", ":"))


def rfc3339(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%09dZ" % int((ts % 1) * 1e9)


def docker_line(text, ts, stream="stdout"):
    return json.dumps({"log": text + "\n", "stream": stream, "time": rfc3339(ts)}, separators=(",", ":")) + "\n"


def cri_line(text, ts, stream="stdout", tag="F"):
    return f"{rfc3339(ts)} {stream} {tag} {text}\n"


class LogWriter:
    """Appends numbered loggen lines for one pod to <dir>/<pod>_<ns>_<container>-<id>.log."""

    def __init__(self, directory, pod, fmt="docker", namespace="otel-test"):
        self.pod = pod
        self.fmt = fmt
        self.path = os.path.join(directory, f"{pod}_{namespace}_loggen-{CONTAINER_ID}.log")
        self.count = 0
        self.f = open(self.path, "a")

    def line(self, n):
        ts = time.time()
        text = zap_line(n, ts, self.pod)
        return docker_line(text, ts) if self.fmt == "docker" else cri_line(text, ts)

    def write(self, n=1):
        buf = []
        for _ in range(n):
            self.count += 1
            buf.append(self.line(self.count))
        self.f.write("".join(buf))
        self.f.flush()

    def reopen(self):
        self.f.close()
        self.f = open(self.path, "a")

    def close(self):
        self.f.close()


def wait_for(pred, timeout, what, interval=0.5):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last is True:
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last})")


def per_pod(endpoint):
    """pod -> (rows, distinct counts, min count, max count)"""
    out = {}
    for pod, rows, uniq, lo, hi in endpoint.rows(
            "SELECT ResourceAttributes['k8s.pod.name'] AS pod, count(), uniqExact(Count), min(Count), max(Count) "
            "FROM otel_logs WHERE ResourceAttributes['k8s.namespace.name'] = 'otel-test' GROUP BY pod ORDER BY pod"):
        out[pod] = (int(rows), int(uniq), int(lo), int(hi))
    return out


def exactly_once(endpoint, expected):
    """expected: pod -> number of lines written (counts 1..n). True when ClickHouse has each exactly once."""
    got = per_pod(endpoint)
    want = {pod: (n, n, 1, n) for pod, n in expected.items() if n > 0}
    if got == want:
        return True
    return f"got {got}, want {want}"


def make_workdir(name):
    return tempfile.mkdtemp(prefix=f"shipper-{name}-")


class AckHoldingProxy:
    """An HTTP proxy in front of the endpoint that can withhold the answers: while `hold` is set, each request
    is forwarded whole (ClickHouse stores the rows) but its answer never reaches the shipper — what a shipper
    killed between an INSERT and its acknowledgement sees."""

    def __init__(self, upstream_port):
        import http.client
        import http.server
        import socketserver
        proxy = self
        self.hold = threading.Event()
        self.requests = 0
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=120)
                conn.request("POST", self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                with proxy.lock:
                    proxy.requests += 1
                if proxy.hold.is_set():
                    # Stored, but the answer is lost: keep the connection until the client gives up or dies.
                    self.close_connection = True
                    while proxy.hold.is_set() and not proxy.closed.is_set():
                        time.sleep(0.1)
                    return
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.closed = threading.Event()
        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def close(self):
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()
