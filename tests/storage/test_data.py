#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Inserts of shipper-shaped rows (plain, gzip, zstd) and the seed's queries through the endpoint, with the
results checked against what the rows say; the hourly view against the direct aggregate; deduplication."""
import collections
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from endpoint import Endpoint, shipper_rows  # noqa: E402


def attrs(rows):
    for r in rows:
        yield r, int(r["LogAttributes"]["random_number"]), r["LogAttributes"]["random_string"]


class DataTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ep = Endpoint(schema=True).start()
        base = (int(time.time()) // 3600 - 3) * 3600 * 10**9  # three hours back, on an hour boundary
        # Three batches, one per encoding, spanning several hours, two services.
        cls.batches = {
            None: shipper_rows(3000, start_ns=base, seed=1),
            "gzip": shipper_rows(2500, start_ns=base + 10**9 * 1800, seed=2, service="loggen-b"),
            "zstd": shipper_rows(2000, start_ns=base + 10**9 * 5400, seed=3),
        }
        cls.rows = [r for b in cls.batches.values() for r in b]
        for enc, batch in cls.batches.items():
            r = cls.ep.insert(batch, encoding=enc, token=f"setup-{enc}")
            assert r.status == 200, r

    @classmethod
    def tearDownClass(cls):
        cls.ep.cleanup()

    def test_all_rows_stored_per_encoding(self):
        self.assertEqual(int(self.ep.scalar("SELECT count() FROM otel_logs")), len(self.rows))
        self.assertEqual(int(self.ep.scalar("SELECT count() FROM otel_logs WHERE ServiceName = 'loggen-b'")),
                         len(self.batches["gzip"]))

    def test_row_content_round_trips(self):
        want = self.batches["zstd"][17]
        got = self.ep.rows("SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS ts, SeverityText, SeverityNumber, "
                           "Body, LogAttributes, ResourceAttributes, RandomNumber, RandomString, Count, "
                           "`__hdx_materialized_k8s.pod.name` AS pod FROM otel_logs "
                           f"WHERE Timestamp = fromUnixTimestamp64Nano({want['Timestamp']})")
        self.assertEqual(len(got), 1)
        g = got[0]
        self.assertEqual(g["ts"], want["Timestamp"])
        self.assertEqual(g["LogAttributes"], want["LogAttributes"])
        self.assertEqual(g["ResourceAttributes"], want["ResourceAttributes"])
        self.assertEqual(g["RandomNumber"], int(want["LogAttributes"]["random_number"]))
        self.assertEqual(g["RandomString"], want["LogAttributes"]["random_string"])
        self.assertEqual(int(g["Count"]), int(want["LogAttributes"]["count"]))
        self.assertEqual(g["pod"], want["ResourceAttributes"]["k8s.pod.name"])
        self.assertEqual((g["SeverityText"], g["SeverityNumber"], g["Body"]), ("info", 9, "tick"))

    def test_seed_query_count_by_random_string(self):
        want = collections.Counter(s for _, _, s in attrs(self.rows))
        got = {r["RandomString"]: int(r["c"]) for r in self.ep.rows(
            "SELECT RandomString, count() AS c FROM otel_logs GROUP BY RandomString")}
        self.assertEqual(got, dict(want))

    def test_seed_query_random_number_equals_10(self):
        want = sorted(r["Timestamp"] for r, n, _ in attrs(self.rows) if n == 10)
        self.assertGreater(len(want), 0)
        got = sorted(r["ts"] for r in self.ep.rows(
            "SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS ts FROM otel_logs WHERE RandomNumber = 10"))
        self.assertEqual(got, want)
        # The same filter on the map, as HyperDX writes it.
        self.assertEqual(int(self.ep.scalar("SELECT count() FROM otel_logs WHERE LogAttributes['random_number'] = '10'")),
                         len(want))

    def test_seed_query_per_minute_series(self):
        want = collections.Counter(int(r["Timestamp"]) // 10**9 // 60 * 60 for r in self.rows)
        got = {int(r["m"]): int(r["c"]) for r in self.ep.rows(
            "SELECT toUnixTimestamp(toStartOfMinute(Timestamp)) AS m, count() AS c FROM otel_logs GROUP BY m ORDER BY m")}
        self.assertEqual(got, dict(want))

    def expected_hourly(self):
        groups = collections.defaultdict(list)
        for r, n, s in attrs(self.rows):
            hour = int(r["Timestamp"]) // 10**9 // 3600 * 3600
            groups[(hour, r["ServiceName"], s)].append(n)
        return {k: (len(v), sum(v) / len(v), min(v), max(v)) for k, v in groups.items()}

    def hourly(self, source):
        out = {}
        for r in self.ep.rows(source):
            out[(int(r["h"]), r["ServiceName"], r["RandomString"])] = (
                int(r["log_count"]), round(r["avg_random_number"], 9), r["min_random_number"], r["max_random_number"])
        return out

    def check_hourly(self):
        want = {k: (c, round(a, 9), lo, hi) for k, (c, a, lo, hi) in self.expected_hourly().items()}
        view = self.hourly("SELECT toUnixTimestamp(hour) AS h, ServiceName, RandomString, log_count, avg_random_number, "
                           "min_random_number, max_random_number FROM otel_logs_hourly_summary")
        direct = self.hourly("SELECT toUnixTimestamp(toStartOfHour(Timestamp)) AS h, ServiceName, RandomString, "
                             "count() AS log_count, avg(RandomNumber) AS avg_random_number, "
                             "min(RandomNumber) AS min_random_number, max(RandomNumber) AS max_random_number "
                             "FROM otel_logs GROUP BY h, ServiceName, RandomString")
        self.assertEqual(direct, want)
        self.assertEqual(view, direct)
        self.assertGreater(len(view), 10)

    def test_hourly_view_equals_direct_aggregate(self):
        self.check_hourly()

    def test_hourly_view_exact_after_merges(self):
        # Several parts per hour are merged; a SummingMergeTree would now add up avg/min/max.
        parts = int(self.ep.scalar("SELECT count() FROM system.parts WHERE table = 'otel_logs_hourly' AND active"))
        self.assertGreater(parts, 1)
        self.ep.ok("OPTIMIZE TABLE otel_logs_hourly FINAL")
        self.assertEqual(self.ep.scalar("SELECT count() FROM system.parts WHERE table = 'otel_logs_hourly' AND active "
                                        "GROUP BY partition ORDER BY 1 DESC LIMIT 1"), "1")
        self.check_hourly()


class DedupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ep = Endpoint(schema=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.ep.cleanup()

    def count(self, service):
        return int(self.ep.scalar(f"SELECT count() FROM otel_logs WHERE ServiceName = '{service}'"))

    def test_retry_with_same_token_stored_once(self):
        batch = shipper_rows(500, seed=11, service="dedup-a")
        for enc in (None, "gzip", "zstd"):  # a retry may well differ in compression
            r = self.ep.insert(batch, encoding=enc, token="file:1:0-4096")
            self.assertEqual(r.status, 200, r)
        self.assertEqual(self.count("dedup-a"), 500)
        # The hourly aggregate saw the batch once too.
        self.assertEqual(int(self.ep.scalar(
            "SELECT sum(log_count) FROM otel_logs_hourly_summary WHERE ServiceName = 'dedup-a'")), 500)

    def test_different_tokens_stored_twice(self):
        batch = shipper_rows(100, seed=12, service="dedup-b")
        self.assertEqual(self.ep.insert(batch, token="file:2:0-100").status, 200)
        self.assertEqual(self.ep.insert(batch, token="file:2:100-200").status, 200)
        self.assertEqual(self.count("dedup-b"), 200)

    def test_token_in_query_settings_clause(self):
        batch = shipper_rows(50, seed=13, service="dedup-c")
        body = "".join(json.dumps(r) + "\n" for r in batch).encode()
        for _ in range(2):
            r = self.ep.query("INSERT INTO otel_logs SETTINGS insert_deduplication_token = 'tok-c' FORMAT JSONEachRow",
                              body=body)
            self.assertEqual(r.status, 200, r)
        self.assertEqual(self.count("dedup-c"), 50)


class HttpInterfaceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ep = Endpoint(schema=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.ep.cleanup()

    def test_ping_and_root(self):
        r = self.ep.request("GET", "/ping", auth=None)
        self.assertEqual((r.status, r.body), (200, b"Ok.\n"))
        r = self.ep.request("GET", "/", auth=None)
        self.assertEqual((r.status, r.body), (200, b"Ok.\n"))

    def test_get_select_and_default_format(self):
        r = self.ep.query("SELECT 1 AS a, 'x' AS b", method="GET", params={"default_format": "JSONEachRow"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(json.loads(r.text), {"a": 1, "b": "x"})
        self.assertEqual(r.headers["x-clickhouse-format"], "JSONEachRow")
        r = self.ep.query("SELECT 1, 2", method="GET")
        self.assertEqual(r.text, "1\t2\n")
        self.assertTrue(r.headers["content-type"].startswith("text/tab-separated-values"))

    def test_engine_runs_in_utc(self):
        # Whatever $TZ says (the test suites run with TZ=GMT+12, which the engine could not even load).
        self.assertEqual(self.ep.scalar("SELECT timezone()"), "UTC")
        r = self.ep.query("SELECT 1")
        self.assertEqual(r.headers["x-clickhouse-timezone"], "UTC")

    def test_explicit_typed_columns_are_kept(self):
        # A shipper may also send the typed columns itself; then they are stored as sent.
        row = shipper_rows(1, service="explicit")[0]
        row.update({"RandomNumber": 77, "RandomString": "omega", "Count": 123456789012})
        row["LogAttributes"].update({"random_number": "77", "random_string": "omega", "count": "123456789012"})
        self.assertEqual(self.ep.insert([row], table="otel_logs").status, 200)
        got = self.ep.rows("SELECT RandomNumber, RandomString, Count FROM otel_logs WHERE ServiceName = 'explicit'")
        self.assertEqual(got, [{"RandomNumber": 77, "RandomString": "omega", "Count": 123456789012}])

    def test_repeated_parameter_last_wins(self):
        r = self.ep.request("POST", "/?query=SELECT+1&query=SELECT+2")
        self.assertEqual((r.status, r.text), (200, "2\n"))

    def test_query_in_param_and_body_joined(self):
        r = self.ep.query("SELECT", body=b"42 AS answer")
        self.assertEqual((r.status, r.text), (200, "42\n"))

    def test_query_id_and_summary(self):
        r = self.ep.insert(shipper_rows(7, service="summary"), params={"query_id": "my-query-1"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["x-clickhouse-query-id"], "my-query-1")
        summary = json.loads(r.headers["x-clickhouse-summary"])
        self.assertGreaterEqual(int(summary["written_rows"]), 7)
        r = self.ep.query("SELECT count() FROM otel_logs WHERE ServiceName = 'summary'")
        self.assertRegex(r.headers["x-clickhouse-query-id"], r"^[0-9a-f-]{36}$")
        self.assertIn("read_rows", json.loads(r.headers["x-clickhouse-summary"]))

    def test_settings_apply_to_one_request_only(self):
        r = self.ep.query("SELECT getSetting('max_threads')", params={"max_threads": "1"})
        self.assertEqual(r.text, "1\n")
        default = self.ep.scalar("SELECT getSetting('max_threads')")
        self.assertNotEqual(default, "1")
        r = self.ep.query("SELECT getSetting('max_threads')", params={"max_threads": "3"})
        self.assertEqual(r.text, "3\n")
        self.assertEqual(self.ep.scalar("SELECT getSetting('max_threads')"), default)

    def test_database_parameter(self):
        r = self.ep.query("SELECT currentDatabase(), count() > 0 FROM tables", params={"database": "system"})
        self.assertEqual((r.status, r.text), (200, "system\t1\n"))
        self.assertEqual(self.ep.scalar("SELECT currentDatabase()"), "default")

    def test_query_parameters(self):
        r = self.ep.query("SELECT {name:String}, {n:UInt8} + 1", params={"param_name": "it's", "param_n": "41"})
        self.assertEqual((r.status, r.text), (200, "it\\'s\t42\n"))

    def test_insert_values_and_body_only_insert(self):
        self.ep.ok("CREATE TABLE IF NOT EXISTS kv (k String, v UInt32) ENGINE = MergeTree ORDER BY k")
        r = self.ep.post("INSERT INTO kv VALUES ('a', 1), ('b', 2)")
        self.assertEqual(r.status, 200, r)
        r = self.ep.post('INSERT INTO kv FORMAT JSONEachRow {"k":"c","v":3}')
        self.assertEqual(r.status, 200, r)
        r = self.ep.query("INSERT INTO kv (k, v) FORMAT CSV", body=b"d,4\ne,5\n")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.ep.ok("SELECT k, v FROM kv ORDER BY k", fmt="CSV"),
                         '"a",1\n"b",2\n"c",3\n"d",4\n"e",5\n')

    def test_gzip_and_zstd_query_bodies(self):
        import gzip
        import subprocess
        r = self.ep.request("POST", "/", body=gzip.compress(b"SELECT 'gz'"), headers={"Content-Encoding": "gzip"})
        self.assertEqual(r.text, "gz\n")
        z = subprocess.run(["zstd", "-q", "-c"], input=b"SELECT 'zs'", stdout=subprocess.PIPE, check=True).stdout
        r = self.ep.request("POST", "/", body=z, headers={"Content-Encoding": "zstd"})
        self.assertEqual(r.text, "zs\n")

    def test_large_streamed_insert(self):
        rows = shipper_rows(100_000, seed=21, service="large")
        r = self.ep.insert(rows, encoding="zstd")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.ep.scalar("SELECT count() FROM otel_logs WHERE ServiceName = 'large'"), "100000")


if __name__ == "__main__":
    unittest.main(verbosity=2)
