#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs COMMAND [ARGS...] against a fresh embedded ClickHouse endpoint (the real engine, libchdb), with
CLICKHOUSE_URL, CLICKHOUSE_USER and CLICKHOUSE_PASSWORD in its environment, and stops the endpoint after.
Exits 77 (skipped) when libchdb is not cached, and fails under CI=true, where it must be (endpoint.py)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "storage"))
from endpoint import PASSWORD, USER, Endpoint  # noqa: E402

with Endpoint(schema=False) as ep:
    env = dict(os.environ, CLICKHOUSE_URL=f"http://127.0.0.1:{ep.port}", CLICKHOUSE_USER=USER,
               CLICKHOUSE_PASSWORD=PASSWORD)
    rc = subprocess.call(sys.argv[1:], env=env)
    if rc not in (0, 77):
        print("with-endpoint: last endpoint log lines:\n" + ep.read_log()[-3000:], file=sys.stderr)
sys.exit(rc)
