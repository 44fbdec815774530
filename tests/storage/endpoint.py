# SPDX-License-Identifier: MIT
"""Test harness: runs the real clickhouse-endpoint (on libchdb) on 127.0.0.1 and a free port, and talks
to it over HTTP the way our clients do. Paths come from the environment meson sets:
  CLICKHOUSE_ENDPOINT  the built program
  CHDB_LIB             the cached libchdb.so (scripts/deps/chdb.sh)
  SCHEMA_DIR           manifests/clickhouse/schema
"""
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

# The endpoint's three users (docs/security.md); tests write their passwords into the secrets directory.
ADMIN = ("otel_admin", "admin-test-password")
INGEST = ("otel_ingest", "ingest-test-password")
READER = ("otel_reader", "reader-test-password")
USER, PASSWORD = ADMIN  # what requests use unless they say otherwise


def write_secrets(directory, users=(ADMIN, INGEST, READER)):
    """Writes the users' password files as the appliance keeps them (0700 directory, 0600 files)."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    for name, password in users:
        path = os.path.join(directory, name.replace("otel_", "") + ".password")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")


def require_engine():
    """Skips (exit 77) when libchdb is not cached, but fails under CI, where it must be."""
    lib = os.environ.get("CHDB_LIB", "")
    if lib and os.path.exists(lib):
        return lib
    msg = (f"libchdb not found at CHDB_LIB={lib!r}: run scripts/deps/chdb.sh "
           "(scripts/install-deps.sh does) to fetch it")
    if os.environ.get("CI", "").lower() == "true":
        print("FAIL: " + msg, file=sys.stderr)
        sys.exit(1)
    print("SKIP: " + msg, file=sys.stderr)
    sys.exit(77)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    @property
    def exception_code(self):
        v = self.headers.get("x-clickhouse-exception-code")
        return int(v) if v is not None else None

    def __repr__(self):
        return f"<{self.status} code={self.exception_code} {self.text[:300]!r}>"


class Endpoint:
    def __init__(self, data_dir=None, schema=True, extra_args=(), env=None):
        self.lib = require_engine()
        self.program = os.environ["CLICKHOUSE_ENDPOINT"]
        self.schema_dir = os.environ["SCHEMA_DIR"]
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="ch-endpoint-")
        self.schema = schema
        self.extra_args = list(extra_args)
        self.env = env or {}
        self.proc = None
        self.port = None
        self.log_path = None

    def start(self, timeout=60):
        self.port = free_port()
        self.secrets_dir = self.data_dir + ".secrets"
        write_secrets(self.secrets_dir)
        args = [self.program, "--port", str(self.port), "--data-dir", self.data_dir,
                "--chdb-lib", self.lib, "--secrets-dir", self.secrets_dir] + self.extra_args
        if self.schema:
            args += ["--schema-dir", self.schema_dir]
        self.log_path = self.data_dir + ".log"
        env = dict(os.environ)
        env.update(self.env)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"endpoint exited with {self.proc.returncode}:\n{self.read_log()}")
            try:
                if self.request("GET", "/ping", auth=None).body == b"Ok.\n":
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"endpoint did not answer /ping within {timeout}s:\n{self.read_log()}")

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Stops the endpoint; returns its exit status."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("endpoint did not stop within %ss" % timeout)
        self.log.close()
        self.proc = None
        return rc

    def cleanup(self):
        if self.proc:
            self.stop()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            shutil.rmtree(self.data_dir + ".secrets", ignore_errors=True)
            try:
                os.unlink(self.data_dir + ".log")
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # --- HTTP ---------------------------------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, auth="headers", params=None, timeout=300):
        headers = dict(headers or {})
        params = dict(params or {})
        if auth == "headers":
            headers["X-ClickHouse-User"] = USER
            headers["X-ClickHouse-Key"] = PASSWORD
        elif auth == "basic":
            headers["Authorization"] = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        elif auth == "params":
            params["user"] = USER
            params["password"] = PASSWORD
        elif isinstance(auth, tuple):
            headers["X-ClickHouse-User"], headers["X-ClickHouse-Key"] = auth
        if params:
            path += ("&" if "?" in path else "?") + urllib.parse.urlencode(params)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            conn.close()

    def query(self, sql, body=None, method="POST", **kw):
        """Runs sql (in ?query=, with body appended if given)."""
        params = dict(kw.pop("params", {}) or {})
        params["query"] = sql
        return self.request(method, "/", body=body, params=params, **kw)

    def post(self, sql, **kw):
        """Runs sql sent as the request body."""
        return self.request("POST", "/", body=sql.encode(), **kw)

    def ok(self, sql, fmt="TabSeparated", **kw):
        params = dict(kw.pop("params", {}) or {})
        params["default_format"] = fmt
        r = self.request("POST", "/", body=sql.encode(), params=params, **kw)
        if r.status != 200:
            raise AssertionError(f"query failed: {sql[:200]!r}: {r}")
        return r.text

    def rows(self, sql, **kw):
        """Result as a list of dicts (JSONEachRow)."""
        return [json.loads(line) for line in self.ok(sql, fmt="JSONEachRow", **kw).splitlines() if line]

    def scalar(self, sql, **kw):
        return self.ok(sql, **kw).strip()

    def insert(self, rows, table="otel_logs", encoding=None, token=None, params=None, **kw):
        data = "".join(json.dumps(r) + "\n" for r in rows).encode()
        headers = {}
        if encoding == "gzip":
            import gzip
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        elif encoding == "zstd":
            data = subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout
            headers["Content-Encoding"] = "zstd"
        p = dict(params or {})
        if token:
            p["insert_deduplication_token"] = token
        return self.query(f"INSERT INTO {table} FORMAT JSONEachRow", body=data, headers=headers, params=p, **kw)


def shipper_rows(n, start_ns=None, seed=0, service="loggen", pod="loggen-7d9c-abcde"):
    """Rows shaped as the shipper builds them from loggen's lines (ARCHITECTURE §2)."""
    import random
    rnd = random.Random(seed)
    if start_ns is None:
        start_ns = (int(time.time()) - 3600) * 10**9
    strings = ["alpha", "beta", "gamma", "delta", "epsilon"]
    rows = []
    for i in range(n):
        num = rnd.randint(0, 100)
        s = rnd.choice(strings)
        rows.append({
            "Timestamp": str(start_ns + i * 250_000_000 + rnd.randint(0, 999)),
            "SeverityText": "info",
            "SeverityNumber": 9,
            "ServiceName": service,
            "Body": "tick",
            "ResourceAttributes": {
                "service.name": service,
                "k8s.namespace.name": "otel-demo",
                "k8s.pod.name": pod,
                "k8s.container.name": "loggen",
                "k8s.container.id": "0123456789abcdef",
                "stream": "stdout",
            },
            "LogAttributes": {
                "caller": "loggen/loop.c:42",
                "count": str(i + 1),
                "random_number": str(num),
                "random_string": s,
            },
        })
    return rows
