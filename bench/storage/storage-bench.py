#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Storage benchmark: JSONEachRow inserts of shipper-shaped rows (10 k and 100 k rows) through the
clickhouse-endpoint over HTTP, against the same inserts made by calling libchdb in-process; and the peak
memory of a 200 MB insert in both. Prints medians of several runs and the endpoint/in-process ratio.

  storage-bench.py [--runs N] [--skip-big]
Environment (meson sets it): CLICKHOUSE_ENDPOINT, CHDB_LIB, SCHEMA_DIR.
"""
import argparse
import ctypes
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PASSWORD = "bench-password"  # otel_admin's, written to the endpoint's secrets directory


def make_rows(n, seed, start_s, body_pad=0):
    rnd = random.Random(seed)
    strings = ["alpha", "beta", "gamma", "delta", "epsilon"]
    out = []
    for i in range(n):
        out.append(json.dumps({
            "Timestamp": str((start_s + i // 50) * 10**9 + rnd.randint(0, 10**9 - 1)),
            "SeverityText": "info", "SeverityNumber": 9, "ServiceName": "loggen",
            "Body": "tick" + "x" * body_pad,
            "ResourceAttributes": {"service.name": "loggen", "k8s.namespace.name": "otel-demo",
                                   "k8s.pod.name": "loggen-7d9c-abcde", "k8s.container.name": "loggen",
                                   "k8s.container.id": "0123456789abcdef", "stream": "stdout"},
            "LogAttributes": {"caller": "loggen/loop.c:42", "count": str(i + 1),
                              "random_number": str(rnd.randint(0, 100)), "random_string": rnd.choice(strings)},
        }))
    return ("\n".join(out) + "\n").encode()


def rss_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


# --- in-process: libchdb through ctypes, in a child process of its own ------------------------------------

def inprocess_main(args):
    lib = ctypes.CDLL(os.environ["CHDB_LIB"])
    lib.chdb_set_signal_handlers_enabled(0)  # crash at once rather than sleep in the engine's handler
    lib.chdb_connect.restype = ctypes.c_void_p
    lib.chdb_connect.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
    lib.chdb_query_n.restype = ctypes.c_void_p
    lib.chdb_query_n.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    lib.chdb_result_error.restype = ctypes.c_char_p
    lib.chdb_result_error.argtypes = [ctypes.c_void_p]
    lib.chdb_destroy_query_result.argtypes = [ctypes.c_void_p]
    argv = [b"clickhouse", b"--path=" + args.data_dir.encode()]
    lib_conn_ptr = lib.chdb_connect(2, (ctypes.c_char_p * 2)(*argv))
    conn = ctypes.c_void_p.from_address(lib_conn_ptr).value

    def q(sql):
        r = lib.chdb_query_n(conn, sql, len(sql), b"TabSeparated", 12)
        err = lib.chdb_result_error(r)
        lib.chdb_destroy_query_result(r)
        if err:
            raise RuntimeError(err.decode())

    for name in sorted(os.listdir(os.environ["SCHEMA_DIR"])):
        if name.endswith(".sql") and not name.endswith(".compat.sql"):
            with open(os.path.join(os.environ["SCHEMA_DIR"], name), "rb") as f:
                q(f.read())
    with open(args.data, "rb") as f:
        data = f.read()
    times = []
    for i in range(args.runs + 1):
        sql = (f"INSERT INTO otel_logs SETTINGS insert_deduplication_token = 'inproc-{i}' FORMAT JSONEachRow\n"
               .encode() + data)
        t = time.perf_counter()
        q(sql)
        times.append(time.perf_counter() - t)
        del sql
    hwm = rss_kb(os.getpid(), "VmHWM")
    # The statement the endpoint runs, from a file: the endpoint's own cost is then what remains.
    infile = []
    if not args.inline_only:
        for i in range(args.runs + 1):
            sql = (f"INSERT INTO otel_logs FROM INFILE '{args.data}' COMPRESSION 'none' "
                   f"SETTINGS insert_deduplication_token = 'infile-{i}' FORMAT JSONEachRow").encode()
            t = time.perf_counter()
            q(sql)
            infile.append(time.perf_counter() - t)
    print(json.dumps({"times": times[1:], "infile": infile[1:], "hwm_kb": hwm}), flush=True)
    lib.chdb_close_conn.argtypes = [ctypes.c_void_p]
    lib.chdb_close_conn(lib_conn_ptr)
    # The engine's static destructors do not expect an interpreter around them: leave without running them.
    os._exit(0)


def run_inprocess(data_path, runs, inline_only=False):
    d = tempfile.mkdtemp(prefix="bench-inproc-")
    try:
        out = subprocess.run([sys.executable, __file__, "--inprocess", "--data", data_path, "--data-dir", d,
                              "--runs", str(runs)] + (["--inline-only"] if inline_only else []),
                             stdout=subprocess.PIPE, check=True, timeout=1800).stdout
        return json.loads(out.decode().strip().splitlines()[-1])
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --- through the endpoint ---------------------------------------------------------------------------------

class Endpoint:
    def __init__(self, extra_args=()):
        self.dir = tempfile.mkdtemp(prefix="bench-endpoint-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        secrets = os.path.join(self.dir, "secrets")
        os.mkdir(secrets, 0o700)
        with open(os.path.join(secrets, "admin.password"), "w") as f:
            f.write(PASSWORD + "\n")
        # The other users' passwords are generated by the endpoint.
        self.proc = subprocess.Popen([os.environ["CLICKHOUSE_ENDPOINT"], "--port", str(self.port), "--data-dir",
                                      os.path.join(self.dir, "data"), "--secrets-dir", secrets,
                                      "--chdb-lib", os.environ["CHDB_LIB"], "--schema-dir", os.environ["SCHEMA_DIR"]]
                                     + list(extra_args),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                if self.request("GET", "/ping")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("endpoint did not start")

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1800)
        h = {"X-ClickHouse-User": "otel_admin", "X-ClickHouse-Key": PASSWORD}
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def insert(self, data, token, encoding=None):
        headers = {"Content-Encoding": encoding} if encoding else {}
        status, body = self.request(
            "POST", f"/?query=INSERT+INTO+otel_logs+FORMAT+JSONEachRow&insert_deduplication_token={token}", data, headers)
        if status != 200:
            raise RuntimeError(body.decode())

    def close(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)


def time_endpoint(ep, data, runs, tag, encoding=None):
    times = []
    for i in range(runs + 1):
        t = time.perf_counter()
        ep.insert(data, f"{tag}-{i}", encoding)
        times.append(time.perf_counter() - t)
    return times[1:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--inprocess", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    ap.add_argument("--inline-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inprocess:
        return inprocess_main(args)

    for var in ("CLICKHOUSE_ENDPOINT", "CHDB_LIB", "SCHEMA_DIR"):
        if not os.environ.get(var) or not os.path.exists(os.environ[var]):
            sys.exit(f"storage-bench: {var} is not set or missing (run through meson, after scripts/deps/chdb.sh)")

    start_s = int(time.time()) - 3600
    tmp = tempfile.mkdtemp(prefix="bench-data-")
    try:
        print(f"storage-bench: medians of {args.runs} runs (after one warm-up), one insert at a time; "
              f"{os.cpu_count()} CPUs")
        print("ratio = endpoint time / in-process time (lower is better; 1.0 = no overhead). in-process inline: the\n"
              "rows appended to the INSERT text (how a library user inserts); in-process file: the statement the\n"
              "endpoint runs (INSERT ... FROM INFILE), so that ratio is the endpoint's own cost (HTTP + temp file).")
        print(f"{'rows':>7} {'MB':>5} | {'endpoint rows/s':>15} {'MB/s':>5} | {'in-proc inline':>14} {'MB/s':>5} {'ratio':>5} "
              f"| {'in-proc file':>12} {'MB/s':>5} {'ratio':>5} | {'endpoint zstd':>13}")
        for n in (10_000, 100_000):
            data = make_rows(n, n, start_s)
            path = os.path.join(tmp, f"rows-{n}.json")
            with open(path, "wb") as f:
                f.write(data)
            zdata = subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout
            ep = Endpoint()
            try:
                te = statistics.median(time_endpoint(ep, data, args.runs, f"plain-{n}"))
                tz = statistics.median(time_endpoint(ep, zdata, args.runs, f"zstd-{n}", "zstd"))
            finally:
                ep.close()
            ip = run_inprocess(path, args.runs)
            ti, tf = statistics.median(ip["times"]), statistics.median(ip["infile"])
            mb = len(data) / 1e6
            print(f"{n:>7} {mb:>5.1f} | {n / te:>15,.0f} {mb / te:>5.1f} | {n / ti:>14,.0f} {mb / ti:>5.1f} {te / ti:>5.2f} "
                  f"| {n / tf:>12,.0f} {mb / tf:>5.1f} {te / tf:>5.2f} | {n / tz:>13,.0f}")

        # 8 clients inserting at once: how much the engine sessions add over one-at-a-time.
        import threading
        data = make_rows(10_000, 99, start_s)
        line = []
        for sessions in (1, 4):
            ep = Endpoint(["--engine-sessions", str(sessions)])
            try:
                ep.insert(data, "warm")
                errors = []

                def client(c):
                    try:
                        for b in range(3):
                            ep.insert(data, f"c{c}-b{b}")
                    except Exception as e:  # noqa: BLE001
                        errors.append(e)
                t = time.perf_counter()
                threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
                el = time.perf_counter() - t
                if errors:
                    raise errors[0]
            finally:
                ep.close()
            line.append(f"{sessions} session{'s' if sessions > 1 else ''}: {8 * 3 * 10_000 / el:,.0f} rows/s")
        print("8 clients x 3 inserts of 10 000 rows at once: " + "; ".join(line))

        if not args.skip_big:
            # ~200 MB in one request: peak RSS of the endpoint vs. in-process.
            rows = 350_000
            data = make_rows(rows, 7, start_s, body_pad=120)
            path = os.path.join(tmp, "rows-big.json")
            with open(path, "wb") as f:
                f.write(data)
            ep = Endpoint()
            try:
                base = rss_kb(ep.proc.pid, "VmRSS")
                t = time.perf_counter()
                ep.insert(data, "big")
                tb = time.perf_counter() - t
                hwm = rss_kb(ep.proc.pid, "VmHWM")
            finally:
                ep.close()
            inproc = run_inprocess(path, 1, inline_only=True)
            print(f"{len(data) / 1e6:.0f} MB insert ({rows} rows): endpoint {tb:.1f} s, peak RSS {hwm / 1024:.0f} MiB "
                  f"(idle {base / 1024:.0f} MiB, +{(hwm - base) / 1024:.0f} MiB); in-process inline insert "
                  f"{statistics.median(inproc['times']):.1f} s, peak RSS {inproc['hwm_kb'] / 1024:.0f} MiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
