#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Shipper benchmark.

A 2 000 000-line docker json-file log of loggen output is shipped
  1. to a sink that only acknowledges (the shipper's own ceiling), and
  2. to the embedded ClickHouse endpoint (end to end),
for each compression; the endpoint is also fed the very same request bodies
directly, to compare end-to-end throughput with what it ingests on its own.
Prints lines/s, shipper CPU-seconds per million lines and peak RSS (medians of
--runs runs).

  bench/shipper-bench.py --build-dir build [--lines 2000000] [--runs 3] [--compression zstd,gzip,none]
"""
import argparse
import http.server
import json
import os
import shutil
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "shipper"))
from shipper_harness import CONTAINER_ID, INGEST, Endpoint, free_port, log  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def generate(loggen, path, lines):
    """loggen's own output (rate mode, fixed seed), wrapped as docker's json-file driver writes it."""
    if os.path.exists(path) and os.path.exists(path + ".done"):
        return
    t0 = time.time()
    p = subprocess.Popen([loggen, "--rate", "100000000", "--count", str(lines), "--seed", "42",
                          "--health-port", "0", "--health-address", "127.0.0.1"], stdout=subprocess.PIPE)
    n = 0
    with open(path, "w") as out:
        buf = []
        for raw in p.stdout:
            line = raw.decode()
            if '"msg":"tick"' not in line or n >= lines:
                continue
            now = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%09dZ" % int((now % 1) * 1e9)
            buf.append(json.dumps({"log": line, "stream": "stdout", "time": stamp}, separators=(",", ":")) + "\n")
            n += 1
            if len(buf) >= 10000:
                out.write("".join(buf))
                buf = []
        out.write("".join(buf))
    p.wait()
    if n != lines:
        raise RuntimeError(f"loggen wrote {n} tick lines, wanted {lines}")
    open(path + ".done", "w").close()
    log(f"generated {lines} lines ({os.path.getsize(path) / 1e6:.0f} MB) in {time.time() - t0:.1f}s")


class Sink(http.server.BaseHTTPRequestHandler):
    """Acknowledges every INSERT without looking at it (optionally keeps the bodies)."""
    protocol_version = "HTTP/1.1"
    keep = None

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        if Sink.keep is not None:
            Sink.keep.append((self.path, self.headers.get("Content-Encoding"), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def proc_stats(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return cpu, hwm


def metric(port, name):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def run_shipper(shipper, logdir, url, compression, lines, work, timeout=600):
    cp = os.path.join(work, "checkpoints")
    if os.path.exists(cp):
        os.unlink(cp)
    port = free_port()
    args = [shipper, "--paths", os.path.join(logdir, "*.log"), "--clickhouse-url", url, "--user", INGEST[0], "--password", INGEST[1],
            "--checkpoint-file", cp, "--dead-letter-file", os.path.join(work, "dead-letter"),
            "--listen-address", "127.0.0.1", "--listen-port", str(port), "--compression", compression]
    t0 = time.time()
    p = subprocess.Popen(args, stderr=open(os.path.join(work, "shipper.log"), "ab"))
    try:
        while metric(port, "shipper_rows_sent_total") < lines:
            if p.poll() is not None:
                raise RuntimeError(f"shipper exited with {p.returncode}")
            if time.time() - t0 > timeout:
                raise RuntimeError("timeout")
            time.sleep(0.02)
        elapsed = time.time() - t0
        cpu, hwm = proc_stats(p.pid)
    finally:
        p.terminate()
        p.wait()
    return {"lines_s": lines / elapsed, "cpu_per_m": cpu / (lines / 1e6), "rss_mb": hwm / 1024, "s": elapsed}


def feed_direct(url, bodies, parallel):
    """Sends the recorded request bodies straight to the endpoint, `parallel` at a time."""
    t0 = time.time()
    idx = iter(range(len(bodies)))
    lock = threading.Lock()
    errors = []

    def worker():
        while True:
            with lock:
                i = next(idx, None)
            if i is None:
                return
            path, enc, body = bodies[i]
            path = path.replace("insert_deduplication_token=", f"insert_deduplication_token=direct-{t0}-")
            headers = {"X-ClickHouse-User": INGEST[0], "X-ClickHouse-Key": INGEST[1]}
            if enc:
                headers["Content-Encoding"] = enc
            req = urllib.request.Request(url + path, data=body, headers=headers)
            try:
                urllib.request.urlopen(req, timeout=300).read()
            except Exception as e:  # noqa: BLE001
                errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError(f"direct insert failed: {errors[0]}")
    return time.time() - t0


def median_row(rs):
    return {k: statistics.median(r[k] for r in rs) for k in rs[0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--lines", type=int, default=2000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--compression", default="zstd,gzip,none")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "shipper-bench"))
    ap.add_argument("--endpoint-runs", type=int, default=3)
    ap.add_argument("--no-endpoint", action="store_true")
    a = ap.parse_args()
    b = a.build_dir
    shipper = os.path.join(b, "src/shipper/shipper")
    loggen = os.path.join(b, "src/loggen/loggen")
    endpoint_bin = os.path.join(b, "src/clickhouse-endpoint/clickhouse-endpoint")
    schema = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "manifests", "clickhouse", "schema")

    os.makedirs(a.workdir, exist_ok=True)
    logdir = os.path.join(a.workdir, f"logs-{a.lines}")
    os.makedirs(logdir, exist_ok=True)
    generate(loggen, os.path.join(logdir, f"loggen-bench_otel-bench_loggen-{CONTAINER_ID}.log"), a.lines)

    sink_port = free_port()
    server = ThreadingServer(("127.0.0.1", sink_port), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink_url = f"http://127.0.0.1:{sink_port}"

    results = []
    for comp in a.compression.split(","):
        sink_runs = []
        for _ in range(a.runs):
            Sink.keep = None
            sink_runs.append(run_shipper(shipper, logdir, sink_url, comp, a.lines, a.workdir))
        s = median_row(sink_runs)
        log(f"sink {comp}: {s['lines_s']:.0f} lines/s, {s['cpu_per_m']:.2f} CPU-s/M lines, peak RSS {s['rss_mb']:.1f} MB")
        row = {"compression": comp, "sink": s}
        if not a.no_endpoint:
            # Record this compression's request bodies once, to feed the endpoint directly.
            Sink.keep = []
            run_shipper(shipper, logdir, sink_url, comp, a.lines, a.workdir)
            bodies, Sink.keep = Sink.keep, None
            e2e, direct = [], []

            def fresh_endpoint(name):
                work = os.path.join(a.workdir, name)
                shutil.rmtree(work, ignore_errors=True)
                os.makedirs(work)
                ep = Endpoint(endpoint_bin, schema, work)
                ep.start()
                return ep, work

            # Every measurement gets a fresh endpoint (no merges left over from the previous one);
            # the order alternates between runs.
            for i in range(a.endpoint_runs):
                for what in (("e2e", "direct") if i % 2 == 0 else ("direct", "e2e")):
                    ep, work = fresh_endpoint(f"ch-{comp}-{what}-{i}")
                    try:
                        if what == "direct":
                            # The same concurrency as the shipper uses for one file (max-inflight-per-file).
                            direct.append(a.lines / feed_direct(ep.url, bodies, 2))
                        else:
                            e2e.append(run_shipper(shipper, logdir, ep.url, comp, a.lines, work))
                        n = int(ep.query("SELECT count() FROM otel_logs").strip())
                        if n != a.lines:
                            raise RuntimeError(f"endpoint has {n} rows after {what}, want {a.lines}")
                    finally:
                        ep.stop()
                        shutil.rmtree(work, ignore_errors=True)
            row["e2e"] = median_row(e2e)
            row["direct_lines_s"] = statistics.median(direct)
            log(f"endpoint {comp}: shipper {row['e2e']['lines_s']:.0f} lines/s, direct {row['direct_lines_s']:.0f} "
                f"lines/s ({100 * row['e2e']['lines_s'] / row['direct_lines_s']:.0f} %)")
        results.append(row)
    server.shutdown()

    print()
    print(f"shipper bench: {a.lines} docker json-file lines of loggen output, medians of {a.runs} sink runs and "
          f"{a.endpoint_runs} endpoint runs, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'compression':<12}{'sink lines/s':>14}{'CPU-s/M':>10}{'peak RSS MB':>13}"
          f"{'e2e lines/s':>13}{'direct lines/s':>16}{'e2e/direct':>12}")
    for r in results:
        s = r["sink"]
        line = f"{r['compression']:<12}{s['lines_s']:>14.0f}{s['cpu_per_m']:>10.2f}{s['rss_mb']:>13.1f}"
        if "e2e" in r:
            line += (f"{r['e2e']['lines_s']:>13.0f}{r['direct_lines_s']:>16.0f}"
                     f"{100 * r['e2e']['lines_s'] / r['direct_lines_s']:>11.0f}%")
        print(line)
    print("targets: sink >= 500000 lines/s, <= 2.0 CPU-s per million lines, peak RSS <= 32 MB, e2e >= 90 % of direct")


if __name__ == "__main__":
    main()
