#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs one official client against a fresh embedded endpoint (the real engine, the project's schema):
  run.py node | web | python | go | otelcol
The clients come from scripts/deps/clients.sh (pinned, cached); a missing one skips (exit 77) locally and
fails under CI=true, as does a missing engine. The client's own output is printed; its exit status is the
test's. The collector check is here: file_log → clickhouseexporter → endpoint, every line counted back."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "storage"))
from endpoint import PASSWORD, Endpoint  # noqa: E402

CLIENT_TIMEOUT = 300


def missing(what):
    msg = f"{what}: run scripts/deps/clients.sh (scripts/install-deps.sh test does)"
    if os.environ.get("CI", "").lower() == "true":
        print("FAIL: " + msg, file=sys.stderr)
        sys.exit(1)
    print("SKIP: " + msg, file=sys.stderr)
    sys.exit(77)


def paths():
    out = subprocess.run(["bash", os.path.join(ROOT, "scripts", "deps", "clients.sh"), "--paths"],
                         stdout=subprocess.PIPE, check=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def run_client(argv, env):
    e = dict(os.environ, CLICKHOUSE_PASSWORD=PASSWORD, **env)
    t = time.monotonic()
    p = subprocess.run(argv, env=e, timeout=CLIENT_TIMEOUT)
    print(f"({argv[0]} finished in {time.monotonic() - t:.1f} s with status {p.returncode})")
    return p.returncode


def otelcol(binary, ep):
    """Ships lines through the collector: two rounds (the file grows while the collector runs), then counts
    every line back by its body."""
    work = tempfile.mkdtemp(prefix="otelcol-")
    try:
        log = os.path.join(work, "app.log")
        config = os.path.join(work, "config.yaml")
        with open(config, "w") as f:
            f.write(f"""
receivers:
  filelog:
    include: [{log}]
    start_at: beginning
    poll_interval: 100ms
exporters:
  clickhouse:
    endpoint: http://127.0.0.1:{ep.port}?dial_timeout=10s
    username: default
    password: {PASSWORD}
    database: default
    logs_table_name: otel_logs
    create_schema: false
    timeout: 30s
processors:
  batch:
    timeout: 200ms
    send_batch_size: 10000
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [filelog]
      processors: [batch]
      exporters: [clickhouse]
""")
        rounds, per_round = 2, 25000
        run_id = os.urandom(4).hex()

        def write_round(r):
            with open(log, "a") as f:
                for i in range(per_round):
                    f.write(f"otelcol-{run_id} round {r} line {i} ünïcode \"quoted\" \\ tab\there\n")

        def shipped():
            return int(ep.scalar(f"SELECT count() FROM otel_logs WHERE Body LIKE 'otelcol-{run_id} %'"))

        write_round(0)
        out = open(os.path.join(work, "otelcol.log"), "wb")
        t0 = time.monotonic()
        proc = subprocess.Popen([binary, "--config", config], stdout=out, stderr=subprocess.STDOUT)
        try:
            failed = 0
            for r in range(rounds):
                if r > 0:
                    write_round(r)
                want = (r + 1) * per_round
                deadline = time.monotonic() + 180
                n = shipped()
                while n < want and time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(0.5)
                    n = shipped()
                ok = n == want
                failed += not ok
                print(f"{'ok  ' if ok else 'FAIL'} round {r}: {n} of {want} lines in otel_logs "
                      f"after {time.monotonic() - t0:.1f} s")
            # Every line exactly once, with its body intact.
            distinct = int(ep.scalar(f"SELECT uniqExact(Body) FROM otel_logs WHERE Body LIKE 'otelcol-{run_id} %'"))
            total = shipped()
            ok = distinct == total == rounds * per_round
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} every line once: {total} rows, {distinct} distinct bodies")
            sample = ep.rows(f"SELECT Body FROM otel_logs WHERE Body LIKE 'otelcol-{run_id} round 1 line 7 %'")
            sample = sample[0]["Body"] if sample else None
            ok = sample == f"otelcol-{run_id} round 1 line 7 ünïcode \"quoted\" \\ tab\there"
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} a body read back exactly: {sample!r}")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            out.close()
        if failed:
            with open(os.path.join(work, "otelcol.log"), "rb") as f:
                print(f.read().decode("utf-8", "replace")[-5000:])
        print(f"{rounds + 2 - failed} passed, {failed} failed")
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    which = sys.argv[1]
    p = paths()
    need = {"node": p["node_modules"], "web": p["node_modules"], "python": p["python"], "go": p["go"],
            "otelcol": p["otelcol"]}[which]
    if not os.path.exists(need):
        missing(f"the {which} client is not installed at {need}")
    if which == "web" and not shutil.which(os.environ.get("CHROMIUM", "chromium")):
        missing("chromium is not installed (scripts/deps/clients.apt)")

    with Endpoint(schema=(which == "otelcol")) as ep:
        url = f"http://127.0.0.1:{ep.port}"
        if which == "node":
            rc = run_client(["node", os.path.join(HERE, "node", "test-node.mjs"), url],
                            {"NODE_PATH": p["node_modules"]})
        elif which == "web":
            rc = run_client(["node", os.path.join(HERE, "web", "test-web.mjs"), url],
                            {"NODE_PATH": p["node_modules"]})
        elif which == "python":
            rc = run_client([sys.executable, os.path.join(HERE, "python", "test_python.py"), "127.0.0.1",
                             str(ep.port)], {"PYTHONPATH": p["python"]})
        elif which == "go":
            rc = run_client([p["go"], "-addr", f"127.0.0.1:{ep.port}"], {})
        else:
            rc = otelcol(p["otelcol"], ep)
        if rc != 0:
            print(ep.read_log()[-4000:])
    sys.exit(rc)


if __name__ == "__main__":
    main()
