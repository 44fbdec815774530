#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""8 clients insert while 2 query: every insert is acknowledged and stored exactly once, every query
answers, counts only grow, and the hourly aggregate matches the table at the end."""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from endpoint import Endpoint, shipper_rows  # noqa: E402

WRITERS, BATCHES, ROWS = 8, 15, 400


class ConcurrencyTest(unittest.TestCase):
    def test_writers_and_readers(self):
        with Endpoint(schema=True) as ep:
            errors = []
            done = threading.Event()
            seen = [[] for _ in range(2)]

            def writer(w):
                try:
                    for b in range(BATCHES):
                        rows = shipper_rows(ROWS, seed=w * 1000 + b, service=f"writer-{w}")
                        r = ep.insert(rows, encoding=("gzip", "zstd", None)[b % 3], token=f"w{w}-b{b}")
                        if r.status != 200:
                            errors.append(f"writer {w} batch {b}: {r}")
                except Exception as e:  # noqa: BLE001
                    errors.append(f"writer {w}: {e!r}")

            def reader(i):
                try:
                    n = 0
                    while not done.is_set() or n < 3:
                        r = ep.query("SELECT count() FROM otel_logs")
                        if r.status != 200:
                            errors.append(f"reader {i}: {r}")
                            return
                        seen[i].append(int(r.text))
                        r = ep.query("SELECT ServiceName, sum(log_count) FROM otel_logs_hourly_summary GROUP BY 1",
                                     method="GET")
                        if r.status != 200:
                            errors.append(f"reader {i}: {r}")
                            return
                        n += 1
                except Exception as e:  # noqa: BLE001
                    errors.append(f"reader {i}: {e!r}")

            writers = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
            readers = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
            for t in writers + readers:
                t.start()
            for t in writers:
                t.join(timeout=300)
            done.set()
            for t in readers:
                t.join(timeout=60)
            self.assertFalse(any(t.is_alive() for t in writers + readers), "threads hung")
            self.assertEqual(errors, [])

            total = WRITERS * BATCHES * ROWS
            self.assertEqual(int(ep.scalar("SELECT count() FROM otel_logs")), total)
            per = ep.rows("SELECT ServiceName, count() AS c FROM otel_logs GROUP BY ServiceName ORDER BY ServiceName")
            self.assertEqual([(r["ServiceName"], int(r["c"])) for r in per],
                             [(f"writer-{w}", BATCHES * ROWS) for w in range(WRITERS)])
            for s in seen:
                self.assertGreaterEqual(len(s), 3)
                self.assertEqual(s, sorted(s), "a reader saw the row count go down")
                self.assertLessEqual(s[-1], total)
            direct = ep.ok("SELECT toStartOfHour(Timestamp) h, ServiceName, RandomString, count(), avg(RandomNumber), "
                           "min(RandomNumber), max(RandomNumber) FROM otel_logs GROUP BY ALL ORDER BY ALL")
            view = ep.ok("SELECT hour, ServiceName, RandomString, log_count, avg_random_number, min_random_number, "
                         "max_random_number FROM otel_logs_hourly_summary ORDER BY ALL")
            self.assertEqual(view, direct)


    def slow_and_fast(self, sessions):
        """Runs a ~5 s query and, while it runs, a quick one; returns whether the slow one was still running
        when the quick one was answered. The quick one starts 1.5 s after the slow one, which leaves a loaded
        machine time to have the slow one running first."""
        with Endpoint(schema=False, extra_args=["--engine-sessions", str(sessions)]) as ep:
            slow_done = threading.Event()
            result = {}

            def slow():
                result["slow"] = ep.query("SELECT sum(sleepEachRow(0.5)) FROM numbers(10) SETTINGS max_block_size = 1")
                slow_done.set()

            t = threading.Thread(target=slow)
            t.start()
            time.sleep(1.5)
            r = ep.query("SELECT 'quick'")
            overlapped = not slow_done.is_set()
            t.join(timeout=60)
            self.assertEqual((r.status, r.text), (200, "quick\n"))
            self.assertEqual((result["slow"].status, result["slow"].text), (200, "0\n"))
            return overlapped

    def test_statements_run_concurrently_on_several_sessions(self):
        self.assertTrue(self.slow_and_fast(4), "a quick query waited for a slow one")

    def test_one_session_serialises(self):
        self.assertFalse(self.slow_and_fast(1), "with one engine session statements must run one at a time")


if __name__ == "__main__":
    unittest.main(verbosity=2)
