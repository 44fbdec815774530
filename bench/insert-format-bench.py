#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What one INSERT format costs the ClickHouse engine.

The same otel_logs rows (the shipper's own rows for loggen output) are inserted into a fresh embedded
endpoint (libchdb) as JSONEachRow, RowBinary and Native, the latter two written by the engine itself from
the JSONEachRow rows, so that all three hold the same values. For each format, runs are interleaved and
each run gets a fresh endpoint; the figure is the endpoint process's CPU time (user + system, all threads)
from just before the INSERT until it is acknowledged, per million rows, and the request's wall time.

  bench/insert-format-bench.py --build-dir build [--rows 100000] [--runs 3]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "shipper"))
from shipper_harness import CONTAINER_ID, PASSWORD, Endpoint, free_port, log  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
# The columns the shipper sends (the others are DEFAULT or MATERIALIZED in the table).
COLUMNS = ["Timestamp", "SeverityText", "SeverityNumber", "ServiceName", "ResourceAttributes", "Body",
           "LogAttributes"]
TTL_DAYS = 3650


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def TtlEndpoint(binary, schema, work):
    """The endpoint with a long otel_logs TTL, so that rows of any date stay (the schema's is 7 days)."""
    return Endpoint(binary, schema, work, extra_args=["--logs-ttl-days", str(TTL_DAYS)])


def post(url, query, body, encoding=None):
    headers = {"X-ClickHouse-User": "default", "X-ClickHouse-Key": PASSWORD}
    if encoding:
        headers["Content-Encoding"] = encoding
    req = urllib.request.Request(url + "/?query=" + urllib.parse.quote(query), data=body, headers=headers)
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()


def make_rows(build, work, rows):
    """The shipper's JSONEachRow rows for `rows` lines of loggen output, captured at an acknowledging sink."""
    sys.path.insert(0, HERE)
    import importlib
    sb = importlib.import_module("shipper-bench")
    logdir = os.path.join(work, f"logs-{rows}")
    os.makedirs(logdir, exist_ok=True)
    sb.generate(os.path.join(build, "src/loggen/loggen"),
                os.path.join(logdir, f"loggen-bench_otel-bench_loggen-{CONTAINER_ID}.log"), rows)
    import http.server
    import threading
    port = free_port()
    server = sb.ThreadingServer(("127.0.0.1", port), sb.Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sb.Sink.keep = []
    sb.run_shipper(os.path.join(build, "src/shipper/shipper"), logdir, f"http://127.0.0.1:{port}", "none", rows,
                   work)
    bodies, sb.Sink.keep = sb.Sink.keep, None
    server.shutdown()
    del http.server
    return b"".join(b for _, _, b in bodies)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--formats", default="JSONEachRow,RowBinary,Native,Native-String")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "insert-format-bench"))
    a = ap.parse_args()
    endpoint_bin = os.path.join(a.build_dir, "src/clickhouse-endpoint/clickhouse-endpoint")
    schema = os.path.join(HERE, "..", "manifests", "clickhouse", "schema")
    os.makedirs(a.workdir, exist_ok=True)
    log(f"otel_logs TTL set to {TTL_DAYS} days (--logs-ttl-days): rows of any date are kept")

    jsonl = make_rows(a.build_dir, a.workdir, a.rows)
    assert jsonl.count(b"\n") == a.rows, jsonl.count(b"\n")
    cols = ", ".join(COLUMNS)
    # Cast the LowCardinality columns to plain String: what a writer that does not write dictionaries sends.
    as_string = ", ".join(
        f"CAST({c}, 'String') AS {c}" if c in ("SeverityText", "ServiceName") else
        f"CAST({c}, 'Map(String, String)') AS {c}" if c.endswith("Attributes") else c for c in COLUMNS)

    # Each format's body, written by the engine from the same rows.
    work = os.path.join(a.workdir, "source")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    ep = TtlEndpoint(endpoint_bin, schema, work)
    ep.start()
    bodies = {"JSONEachRow": jsonl}
    try:
        post(ep.url, f"INSERT INTO otel_logs ({cols}) FORMAT JSONEachRow", jsonl)
        order = " ORDER BY _block_number, _block_offset"
        bodies["RowBinary"] = post(ep.url, f"SELECT {cols} FROM otel_logs{order} FORMAT RowBinary", b"")
        bodies["Native"] = post(ep.url, f"SELECT {cols} FROM otel_logs{order} FORMAT Native", b"")
        bodies["Native-String"] = post(ep.url, f"SELECT {as_string} FROM otel_logs{order} FORMAT Native", b"")
    finally:
        ep.stop()
        shutil.rmtree(work, ignore_errors=True)
    formats = a.formats.split(",")
    for f in formats:
        log(f"{f}: {len(bodies[f]) / 1e6:.1f} MB uncompressed")

    res = {f: [] for f in formats}
    for i in range(a.runs):
        for f in (formats if i % 2 == 0 else list(reversed(formats))):
            work = os.path.join(a.workdir, f"run-{f}-{i}")
            shutil.rmtree(work, ignore_errors=True)
            os.makedirs(work)
            ep = TtlEndpoint(endpoint_bin, schema, work)
            ep.start()
            try:
                time.sleep(1)  # let the start settle
                fmt = "Native" if f.startswith("Native") else f
                c0, t0 = cpu_s(ep.proc.pid), time.time()
                post(ep.url, f"INSERT INTO otel_logs ({cols}) FORMAT {fmt}", bodies[f])
                c1, t1 = cpu_s(ep.proc.pid), time.time()
                n = int(ep.query("SELECT count() FROM otel_logs").strip())
                if n != a.rows:
                    raise RuntimeError(f"{f}: {n} rows, want {a.rows}")
            finally:
                ep.stop()
                shutil.rmtree(work, ignore_errors=True)
            res[f].append(((c1 - c0) / (a.rows / 1e6), t1 - t0))
            log(f"run {i} {f}: {res[f][-1][0]:.2f} engine CPU-s per million rows, {t1 - t0:.2f} s")

    print()
    print(f"insert formats: {a.rows} otel_logs rows of loggen output in one INSERT, {a.runs} interleaved runs "
          f"each on a fresh endpoint (otel_logs TTL {TTL_DAYS} days), load average {os.getloadavg()[0]:.1f}")
    print(f"{'format':<16}{'MB':>8}{'engine CPU-s/M rows (median, min-max)':>42}{'INSERT s (median)':>20}")
    for f in formats:
        cs = [c for c, _ in res[f]]
        ws = [w for _, w in res[f]]
        print(f"{f:<16}{len(bodies[f]) / 1e6:>8.1f}{statistics.median(cs):>20.2f} "
              f"({min(cs):.2f}-{max(cs):.2f}){'':>10}{statistics.median(ws):>14.2f}")


if __name__ == "__main__":
    main()
