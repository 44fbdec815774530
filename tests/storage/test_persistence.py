#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The data directory persists: data survives a restart, SIGTERM/SIGINT stop the endpoint cleanly (exit 0)
without losing an acknowledged insert, even with inserts in flight; so does a crash (SIGKILL)."""
import os
import signal
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from endpoint import Endpoint, shipper_rows  # noqa: E402


def insert_until_refused(ep, prefix, acked, stop, rows=300):
    """Inserts batches (one ServiceName each) until the endpoint goes away; records acknowledged ones."""
    i = 0
    while not stop.is_set():
        name = f"{prefix}-{i}"
        try:
            r = ep.insert(shipper_rows(rows, seed=i, service=name), encoding="gzip" if i % 2 else None,
                          token=name, timeout=60)
        except OSError:
            return
        if r.status == 200:
            acked.append(name)
        i += 1


class PersistenceTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ch-persist-")

    def tearDown(self):
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)
        for suffix in (".pw", ".log"):
            try:
                os.unlink(self.dir + suffix)
            except OSError:
                pass

    def check_acked(self, ep, acked, rows=300):
        stored = {r["ServiceName"]: int(r["c"]) for r in ep.rows(
            "SELECT ServiceName, count() AS c FROM otel_logs GROUP BY ServiceName")}
        for name in acked:
            self.assertEqual(stored.get(name), rows, f"acknowledged batch {name} lost or partial")
        for name, c in stored.items():
            self.assertEqual(c, rows, f"batch {name} stored partially")

    def test_restart_keeps_data(self):
        ep = Endpoint(data_dir=self.dir, schema=True)
        ep.start()
        self.assertEqual(ep.insert(shipper_rows(1000, seed=5, service="keep")).status, 200)
        before = ep.ok("SELECT count(), sum(RandomNumber), groupBitXor(cityHash64(Body, Timestamp)) FROM otel_logs")
        hourly = ep.ok("SELECT * FROM otel_logs_hourly_summary ORDER BY ALL")
        self.assertEqual(ep.stop(signal.SIGTERM), 0)
        self.assertIn("shutting down", ep.read_log())
        ep.start()
        self.assertEqual(ep.ok("SELECT count(), sum(RandomNumber), groupBitXor(cityHash64(Body, Timestamp)) FROM otel_logs"),
                         before)
        self.assertEqual(ep.ok("SELECT * FROM otel_logs_hourly_summary ORDER BY ALL"), hourly)
        self.assertEqual(ep.stop(signal.SIGINT), 0)

    def stop_during_inserts(self, sig):
        ep = Endpoint(data_dir=self.dir, schema=True)
        ep.start()
        acked, stop = [], threading.Event()
        threads = [threading.Thread(target=insert_until_refused, args=(ep, f"t{k}", acked, stop)) for k in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(acked) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(len(acked), 8)
        rc = ep.stop(sig)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        ep.start()
        self.check_acked(ep, list(acked))
        ep.stop()
        return rc

    def test_sigterm_during_inserts_loses_nothing_acknowledged(self):
        self.assertEqual(self.stop_during_inserts(signal.SIGTERM), 0)

    def test_sigkill_during_inserts_loses_nothing_acknowledged(self):
        self.assertEqual(self.stop_during_inserts(signal.SIGKILL), -signal.SIGKILL)


if __name__ == "__main__":
    unittest.main(verbosity=2)
