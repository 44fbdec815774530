#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End to end: the shipper into the embedded ClickHouse engine, insert formats and batch sizes side by side.

A 2 000 000-line docker json-file log of loggen output is shipped into a fresh embedded endpoint (libchdb)
once per variant and run; runs are interleaved (variant order rotates) and each gets a fresh endpoint. Per
variant it prints medians (and min-max) of:
  rows/s          lines / wall time from the shipper's start until the engine acknowledged every row,
  engine CPU-s/M  the endpoint process's CPU time over that span per million rows,
  shipper CPU-s/M the shipper's CPU time per million lines,
  peak RSS        the shipper's VmHWM,
and checks the table: count() and the number of distinct loggen `count` values must both be the line
count (0 lost, 0 duplicated).

  bench/shipper-e2e-bench.py --build-dir build [--lines 2000000] [--runs 3]
      [--variant NAME=ARGS ...]   e.g. --variant 'json-4M=--insert-format JSONEachRow --batch-rows 10000'
"""
import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "shipper"))
sys.path.insert(0, HERE)
from shipper_harness import CONTAINER_ID, INGEST, Endpoint, free_port, log  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
# The rows are of the time they are generated, and a cached log may be older than the schema's 7-day TTL,
# which would drop them silently as they arrive: the engine keeps otel_logs for this long in the bench.
TTL_DAYS = 3650
DEFAULT_VARIANTS = [
    # The shipper before the Native format: JSONEachRow, batches closed at 10 000 rows or 4 MiB (~7 900 rows).
    "json-10k=--insert-format JSONEachRow --batch-rows 10000 --batch-bytes 4M",
    "native-10k=--batch-rows 10000",
    # Today's defaults: Native, 100 000 rows (or 64 MiB of rows), bodies compressed as the rows come.
    "native-100k=",
    "native-300k=--batch-rows 300000 --batch-bytes 256M",
]


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def metric(port, name):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def run_once(a, logdir, args, work):
    endpoint_bin = os.path.join(a.build_dir, "src/clickhouse-endpoint/clickhouse-endpoint")
    schema = os.path.join(HERE, "..", "manifests", "clickhouse", "schema")
    ep = Endpoint(endpoint_bin, schema, work, extra_args=["--logs-ttl-days", str(TTL_DAYS)])
    ep.start()
    try:
        time.sleep(1)
        port = free_port()
        cmd = [os.path.join(a.build_dir, "src/shipper/shipper"), "--paths", os.path.join(logdir, "*.log"),
               "--clickhouse-url", ep.url, "--user", INGEST[0], "--password", INGEST[1],
               "--checkpoint-file", os.path.join(work, "checkpoints"),
               "--dead-letter-file", os.path.join(work, "dead-letter"),
               "--listen-address", "127.0.0.1", "--listen-port", str(port)] + shlex.split(args)
        e0 = proc_cpu(ep.proc.pid)
        t0 = time.time()
        p = subprocess.Popen(cmd, stderr=open(os.path.join(work, "shipper.log"), "ab"))
        try:
            while metric(port, "shipper_rows_sent_total") < a.lines:
                if p.poll() is not None:
                    raise RuntimeError(f"shipper exited with {p.returncode}: "
                                       + open(os.path.join(work, "shipper.log")).read()[-2000:])
                if time.time() - t0 > a.timeout:
                    raise RuntimeError(f"timeout after {a.timeout:.0f} s: "
                                       + open(os.path.join(work, "shipper.log")).read()[-2000:])
                time.sleep(0.02)
            elapsed = time.time() - t0
            e1 = proc_cpu(ep.proc.pid)
            cpu, hwm = proc_cpu(p.pid), proc_hwm_kb(p.pid)
        finally:
            p.terminate()
            p.wait()
        n, distinct = (int(x) for x in ep.query(
            "SELECT count(), uniqExact(LogAttributes['count']) FROM otel_logs FORMAT TSV").split())
    finally:
        ep.stop()
    return {"rows_s": a.lines / elapsed, "engine_cpu_m": (e1 - e0) / (a.lines / 1e6),
            "shipper_cpu_m": cpu / (a.lines / 1e6), "rss_mb": hwm / 1024, "lost": a.lines - distinct,
            "dup": n - distinct}


def spread(vals, fmt):
    return f"{fmt.format(statistics.median(vals))} ({fmt.format(min(vals))}-{fmt.format(max(vals))})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--lines", type=int, default=2000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--variant", action="append", help="NAME=SHIPPER ARGS (repeatable)")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "shipper-bench"))
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args()
    variants = [v.split("=", 1) for v in (a.variant or DEFAULT_VARIANTS)]

    sys.path.insert(0, HERE)
    import importlib
    sb = importlib.import_module("shipper-bench")
    os.makedirs(a.workdir, exist_ok=True)
    logdir = os.path.join(a.workdir, f"logs-{a.lines}")
    os.makedirs(logdir, exist_ok=True)
    sb.generate(os.path.join(a.build_dir, "src/loggen/loggen"),
                os.path.join(logdir, f"loggen-bench_otel-bench_loggen-{CONTAINER_ID}.log"), a.lines)
    log(f"the engine keeps otel_logs {TTL_DAYS} days (--logs-ttl-days {TTL_DAYS}): the schema's 7 days would "
        "drop rows of an older cached log as they arrive")

    res = {name: [] for name, _ in variants}
    for i in range(a.runs):
        order = variants[i % len(variants):] + variants[:i % len(variants)]
        for name, args in order:
            work = os.path.join(a.workdir, f"e2e-{name}-{i}")
            shutil.rmtree(work, ignore_errors=True)
            os.makedirs(work)
            try:
                r = run_once(a, logdir, args, work)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            res[name].append(r)
            log(f"run {i} {name}: {r['rows_s']:.0f} rows/s, engine {r['engine_cpu_m']:.1f} CPU-s/M rows, "
                f"shipper {r['shipper_cpu_m']:.2f} CPU-s/M lines, peak RSS {r['rss_mb']:.1f} MB, "
                f"lost {r['lost']}, duplicated {r['dup']}")

    print()
    print(f"end to end: {a.lines} docker json-file lines of loggen output into the embedded engine (libchdb), "
          f"medians (min-max) of {a.runs} interleaved runs, each on a fresh endpoint with otel_logs TTL "
          f"{TTL_DAYS} days; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'variant':<14}{'rows/s':>26}{'engine CPU-s/M rows':>24}{'shipper CPU-s/M':>22}"
          f"{'peak RSS MB':>22}{'lost':>6}{'dup':>5}  shipper arguments")
    for name, args in variants:
        rs = res[name]
        print(f"{name:<14}{spread([r['rows_s'] for r in rs], '{:.0f}'):>26}"
              f"{spread([r['engine_cpu_m'] for r in rs], '{:.1f}'):>24}"
              f"{spread([r['shipper_cpu_m'] for r in rs], '{:.2f}'):>22}"
              f"{spread([r['rss_mb'] for r in rs], '{:.1f}'):>22}"
              f"{sum(r['lost'] for r in rs):>6}{sum(r['dup'] for r in rs):>5}  {args}")
    bad = [n for n, _ in variants if any(r["lost"] or r["dup"] for r in res[n])]
    if bad:
        print(f"FAIL: rows lost or duplicated in {', '.join(bad)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
