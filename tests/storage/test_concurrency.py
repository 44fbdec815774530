#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""8 clients insert while 2 query: every insert is acknowledged and stored exactly once, every query
answers, counts only grow, and the hourly aggregate matches the table at the end. Connections that hold a
slot without a request in progress are closed to make room, and time out (docs/storage.md)."""
import os
import socket
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


def connect(port, data=b""):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    if data:
        s.sendall(data)
    return s


def closed(s, wait=0.0):
    """Whether the peer closed s (end of file or reset) within wait seconds; what it sent is read."""
    s.settimeout(wait or 0.001)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return True
    except (socket.timeout, BlockingIOError):
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def answer(s):
    """The status of the answer read from s, or 0 when it closed without one."""
    s.settimeout(60)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    parts = data.split(b"\r\n", 1)[0].split()
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0


STALLED = b"GET /?query=SELECT%201 HTTP/1.1\r\nHost: t\r\nX-Slow: "


class ConnectionLimitTest(unittest.TestCase):
    """--max-connections 4: a fifth connection closes the one that has waited longest for a request, never
    one whose request is in progress; a request must arrive whole within 10 s of its connection's accept or
    previous answer, however it trickles."""

    @classmethod
    def setUpClass(cls):
        cls.ep = Endpoint(schema=False, extra_args=["--max-connections", "4"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.ep.cleanup()

    def test_newcomer_closes_the_longest_waiting_not_a_request_in_progress(self):
        port = self.ep.port
        # Headers in, body pending: a request in progress.
        busy = connect(port, b"POST /?query=SELECT%201 HTTP/1.1\r\nHost: t\r\nX-ClickHouse-User: otel_admin\r\n"
                             b"X-ClickHouse-Key: admin-test-password\r\nContent-Length: 2\r\n\r\n")
        time.sleep(0.3)
        stalled = []
        for _ in range(3):
            stalled.append(connect(port, STALLED))
            time.sleep(0.3)
        # Four held: the next one makes room by closing the first stalled one, and is answered.
        r = self.ep.request("GET", "/ping", auth=None, timeout=30)
        self.assertEqual(r.status, 200)
        self.assertTrue(closed(stalled[0], wait=5), "the connection that waited longest was not closed")
        self.assertFalse(any(closed(s) for s in stalled[1:]), "a younger waiting connection was closed")
        self.assertFalse(closed(busy), "a request in progress was closed")
        busy.sendall(b"+1")
        self.assertEqual(answer(busy), 200)
        for s in stalled + [busy]:
            s.close()

    def test_slow_and_idle_connections_time_out(self):
        port = self.ep.port
        trickle = connect(port)
        idle = connect(port, b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(answer(idle), 200)  # kept alive, then silent
        start, trickle_closed = time.monotonic(), False
        request = STALLED + b"a" * 200
        # 30 s: three times the bound, well short of the 100 s the trickle would take to end its header.
        for i in range(len(request)):
            if time.monotonic() - start > 30:
                break
            try:
                trickle.send(request[i:i + 1])
            except OSError:
                trickle_closed = True
                break
            if closed(trickle, wait=0.5):
                trickle_closed = True
                break
        self.assertTrue(trickle_closed, "a connection trickling its request kept its slot for 30 s")
        self.assertTrue(closed(idle, wait=max(0.1, start + 30 - time.monotonic())),
                        "an idle kept-alive connection kept its slot for 30 s")
        trickle.close()
        idle.close()
        # And the endpoint answers still.
        self.assertEqual(self.ep.request("GET", "/ping", auth=None, timeout=30).status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
