#!/usr/bin/env python3
"""otel-supervisor benchmark: status request latency (p50/p99) under a closed-loop load on the TCP port and
the unix socket, and the daemon's memory. Runs the local runtime (needs libchdb, scripts/deps/chdb.sh).

Usage: bench/supervisor-bench.py [--build build] [--runs 3] [--seconds 10] [--connections 8]
"""
import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(root, "build"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--chdb-lib", default=os.environ.get("CHDB_LIB"))
    a = ap.parse_args()
    b = a.build
    chdb = a.chdb_lib or subprocess.run(["sh", "-c", f"ls {'/var/cache/otel-appliance'}/chdb/*/libchdb.so | tail -1"], capture_output=True, text=True).stdout.strip()
    tmp = tempfile.mkdtemp(prefix="otel-supervisor-bench.")
    port = free_port()
    cfg = os.path.join(tmp, "config.yaml")
    with open(cfg, "w") as f:
        f.write(f"""mode: local
state_dir: {tmp}/state
poll_interval: 1s
status:
  socket: {tmp}/status.sock
  listen: 127.0.0.1:{port}
local:
  data_dir: {tmp}/data
  loggen: {b}/src/loggen/loggen
  shipper: {b}/src/shipper/shipper
  clickhouse_endpoint: {b}/src/clickhouse-endpoint/clickhouse-endpoint
  chdb_lib: {chdb}
  schema_dir: {root}/manifests/clickhouse/schema
  clickhouse_port: {free_port()}
  shipper_port: {free_port()}
  loggen_health_port: {free_port()}
  loggen_args: [--sleep-duration, 1s]
""")
    log = open(os.path.join(tmp, "supervisor.log"), "w")
    sup = subprocess.Popen([f"{b}/src/supervisor/otel-supervisor", "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
    try:
        r = subprocess.run([f"{b}/src/otelctl/otelctl", "--socket", f"{tmp}/status.sock", "wait", "--timeout", "120s"], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"supervisor not ready: {r.stderr}")
        idle = rss_kib(sup.pid)
        results = {}
        for name, target in (("tcp", ["--tcp", f"127.0.0.1:{port}"]), ("unix", ["--unix", f"{tmp}/status.sock"])):
            p50s, p99s, rates = [], [], []
            for _ in range(a.runs):
                out = subprocess.run([f"{b}/bench/http-load", *target, "--connections", str(a.connections), "--seconds", str(a.seconds)], capture_output=True, text=True, check=True).stdout
                m = re.search(r"= (\d+) req/s.*p50 ([\d.]+) ms, p99 ([\d.]+) ms", out)
                rates.append(float(m.group(1)))
                p50s.append(float(m.group(2)))
                p99s.append(float(m.group(3)))
            results[name] = (statistics.median(rates), statistics.median(p50s), statistics.median(p99s))
        loaded = rss_kib(sup.pid)
        for name, (rate, p50, p99) in results.items():
            print(f"supervisor /v1/status over {name}: median of {a.runs} runs of {a.seconds:.0f} s with {a.connections} connections: "
                  f"{rate:,.0f} req/s, p50 {p50:.3f} ms, p99 {p99:.3f} ms")
        print(f"supervisor RSS: {idle['VmRSS']} KiB when idle and ready, {loaded['VmRSS']} KiB after the load, peak {loaded['VmHWM']} KiB")
    finally:
        sup.send_signal(signal.SIGTERM)
        sup.wait(60)


if __name__ == "__main__":
    main()
