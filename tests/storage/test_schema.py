#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The schema in manifests/clickhouse/schema against the real engine: applies to an empty data directory,
re-applies idempotently, matches the ClickStack/HyperDX reference DDL, selects the variant by version."""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from endpoint import Endpoint, shipper_rows  # noqa: E402

SCHEMA_DIR = os.environ.get("SCHEMA_DIR", "")
REFERENCE_DIR = os.environ.get("REFERENCE_DIR", "")


def parse_ddl(text):
    """Columns (name -> (type, kind, expr)) and indexes (name -> (expr, type)) of a CREATE TABLE."""
    cols, idx = {}, {}
    for line in text.splitlines():
        line = line.strip().rstrip(",")
        m = re.match(r"^`([^`]+)` (.+)$", line)
        if m:
            name, rest = m.groups()
            rest = re.sub(r" CODEC\(.*\)$", "", rest)
            kind = expr = ""
            k = re.search(r" (MATERIALIZED|ALIAS|DEFAULT) ", rest)
            if k:
                kind, expr = k.group(1), rest[k.end():]
                rest = rest[:k.start()]
            cols[name] = (rest, kind, expr)
            continue
        m = re.match(r"^INDEX (\S+) (.+) TYPE (.+?)( GRANULARITY \d+)?$", line)
        if m:
            idx[m.group(1)] = (m.group(2), m.group(3))
    return cols, idx


def norm(s):
    return re.sub(r"\s+", "", s).replace("`", "")


class SchemaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ep = Endpoint(schema=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.ep.cleanup()

    def table_columns(self):
        return {r["name"]: r for r in self.ep.rows(
            "SELECT name, type, default_kind, default_expression FROM system.columns "
            "WHERE database = 'default' AND table = 'otel_logs'")}

    def table_indexes(self):
        return {r["name"]: r for r in self.ep.rows(
            "SELECT name, type_full, expr FROM system.data_skipping_indices "
            "WHERE database = 'default' AND table = 'otel_logs'")}

    def test_tables_created_on_empty_dir(self):
        names = self.ep.scalar("SELECT arrayStringConcat(groupArray(name), ',') FROM "
                               "(SELECT name FROM system.tables WHERE database = 'default' ORDER BY name)")
        self.assertEqual(names, "billing_hourly,billing_hourly_refresh,billing_hourly_versions,billing_settings,"
                                "billing_unbilled_samples,metrics_5min,metrics_5min_mv,metrics_hourly,"
                                "metrics_hourly_mv,metrics_pricing,metrics_raw,"
                                "otel_logs,otel_logs_hourly,otel_logs_hourly_mv,otel_logs_hourly_summary")

    def test_text_index_variant_on_this_engine(self):
        version = self.ep.scalar("SELECT version()")
        major, minor = (int(x) for x in version.split(".")[:2])
        self.assertGreaterEqual((major, minor), (26, 2), "this engine should take the text-index variant")
        idx = self.table_indexes()
        self.assertTrue(idx["idx_log_attr_items"]["type_full"].startswith("text("), idx["idx_log_attr_items"])
        self.assertIn("LogAttributeItems", self.table_columns())
        self.assertIn("text-index variant", self.ep.read_log())

    def check_against_reference(self, ref_file, ours_cols, ours_idx):
        with open(ref_file) as f:
            ref_cols, ref_idx = parse_ddl(f.read())
        self.assertGreater(len(ref_cols), 20)
        for name, (typ, kind, expr) in ref_cols.items():
            self.assertIn(name, ours_cols, f"column {name} of {ref_file} missing")
            self.assertEqual(norm(ours_cols[name][0]), norm(typ), name)
            self.assertEqual(ours_cols[name][1], kind, name)
            self.assertEqual(norm(ours_cols[name][2]), norm(expr), name)
        for name, (expr, typ) in ref_idx.items():
            self.assertIn(name, ours_idx, f"index {name} of {ref_file} missing")
            self.assertEqual(norm(ours_idx[name]), norm((expr, typ)[0]) + "|" + norm(typ), name)

    def test_schema_files_keep_every_reference_column_and_index(self):
        if not REFERENCE_DIR or not os.path.isdir(REFERENCE_DIR):
            if os.environ.get("CI", "").lower() == "true":
                self.fail(f"shared reference DDL not found at REFERENCE_DIR={REFERENCE_DIR!r}")
            self.skipTest("shared reference DDL not available")
        for ours, ref in (("10-otel_logs.sql", "otel_logs_reference.sql"),
                          ("10-otel_logs.compat.sql", "otel_logs_reference_compat_lt26_2.sql")):
            with open(os.path.join(SCHEMA_DIR, ours)) as f:
                cols, idx = parse_ddl(f.read())
            idx = {k: norm(v[0]) + "|" + norm(v[1]) for k, v in idx.items()}
            self.check_against_reference(os.path.join(REFERENCE_DIR, ref), cols, idx)

    def test_engine_table_matches_schema_file(self):
        with open(os.path.join(SCHEMA_DIR, "10-otel_logs.sql")) as f:
            cols, idx = parse_ddl(f.read())
        live = self.table_columns()
        self.assertEqual(set(live), set(cols))
        for name, (typ, kind, _) in cols.items():
            self.assertEqual(norm(live[name]["type"]), norm(typ), name)
            self.assertEqual(live[name]["default_kind"], kind, name)
        live_idx = self.table_indexes()
        self.assertEqual(set(live_idx), set(idx))
        t = self.ep.rows("SELECT sorting_key, partition_key, engine_full FROM system.tables "
                         "WHERE database = 'default' AND name = 'otel_logs'")[0]
        self.assertEqual(t["sorting_key"], "toStartOfFiveMinutes(Timestamp), ServiceName, Timestamp")
        self.assertEqual(t["partition_key"], "toDate(Timestamp)")
        for setting in ("ttl_only_drop_parts = 1", "enable_block_number_column = 1",
                        "enable_block_offset_column = 1", "non_replicated_deduplication_window = 1000",
                        "toIntervalDay(7)"):
            self.assertIn(setting, t["engine_full"])

    def test_typed_columns_default_to_log_attributes(self):
        cols = self.table_columns()
        # HyperDX replaces LogAttributes['random_string'] by a column whose expression is exactly that.
        self.assertEqual(cols["RandomString"]["default_kind"], "DEFAULT")
        self.assertEqual(cols["RandomString"]["default_expression"], "LogAttributes['random_string']")
        self.assertEqual(cols["RandomNumber"]["type"], "Int32")
        self.assertEqual(cols["Count"]["type"], "UInt64")

    def test_reapply_over_http_is_idempotent(self):
        before = self.ep.ok("SELECT name, create_table_query FROM system.tables WHERE database = 'default' ORDER BY name")
        files = sorted(f for f in os.listdir(SCHEMA_DIR) if f.endswith(".sql") and not f.endswith(".compat.sql"))
        self.assertEqual(len(files), 15)
        for _ in range(2):
            for name in files:
                with open(os.path.join(SCHEMA_DIR, name)) as f:
                    r = self.ep.post(f.read())
                self.assertEqual(r.status, 200, f"{name}: {r}")
        after = self.ep.ok("SELECT name, create_table_query FROM system.tables WHERE database = 'default' ORDER BY name")
        self.assertEqual(before, after)
        # The pricing and billing settings tables are filled when created only: applying again adds no row.
        self.assertEqual(self.ep.scalar("SELECT count() FROM metrics_pricing"), "1")
        self.assertEqual(self.ep.scalar("SELECT count() FROM billing_settings"), "1")

    def test_retention_ttl_drops_expired_rows(self):
        old = shipper_rows(5, start_ns=(int(time.time()) - 10 * 86400) * 10**9, service="ttl-old")
        new = shipper_rows(5, service="ttl-new")
        self.assertEqual(self.ep.insert(old + new).status, 200)
        self.ep.ok("OPTIMIZE TABLE otel_logs FINAL")
        self.assertEqual(self.ep.scalar("SELECT count() FROM otel_logs WHERE ServiceName = 'ttl-old'"), "0")
        self.assertEqual(self.ep.scalar("SELECT count() FROM otel_logs WHERE ServiceName = 'ttl-new'"), "5")


class SystemLogsConfigTest(unittest.TestCase):
    def test_system_logs_config_sets_ttls(self):
        import xml.etree.ElementTree as ET
        root = ET.parse(os.path.join(SCHEMA_DIR, "system-logs.xml")).getroot()
        self.assertEqual(root.tag, "clickhouse")
        logs = [e for e in root if e.tag.endswith("_log")]
        self.assertIn("query_log", [e.tag for e in logs])
        self.assertIn("trace_log", [e.tag for e in logs])
        for e in logs:
            ttl = e.findtext("ttl")
            self.assertRegex(ttl or "", r"^\w+ \+ INTERVAL [1-7] DAY DELETE$", e.tag)
        self.assertRegex(root.findtext("logger/size") or "", r"^\d+M$")


class SchemaLifecycleTest(unittest.TestCase):
    def test_restart_reapplies_and_keeps_data(self):
        ep = Endpoint(schema=True)
        try:
            ep.start()
            self.assertEqual(ep.insert(shipper_rows(10)).status, 200)
            self.assertEqual(ep.stop(), 0)
            ep.start()
            self.assertEqual(ep.scalar("SELECT count() FROM otel_logs"), "10")
            self.assertEqual(ep.read_log().count("Applied "), 30)
        finally:
            ep.cleanup()

    def test_logs_ttl_days_setting(self):
        ep = Endpoint(schema=True, extra_args=["--logs-ttl-days", "3"])
        try:
            ep.start()
            full = ep.scalar("SELECT engine_full FROM system.tables WHERE name = 'otel_logs'")
            self.assertIn("toIntervalDay(3)", full)
            self.assertIn("retention set to 3 days", ep.read_log())
            ep.stop()
            ep.start()  # same value: no second ALTER
            self.assertEqual(ep.read_log().count("retention set to 3 days"), 1)
        finally:
            ep.cleanup()

    def test_compat_variant_applies(self):
        # The < 26.2 variant, applied over HTTP as a cluster init would; bloom filters instead of text indexes.
        ep = Endpoint(schema=False)
        try:
            ep.start()
            with open(os.path.join(SCHEMA_DIR, "10-otel_logs.compat.sql")) as f:
                r = ep.post(f.read())
            self.assertEqual(r.status, 200, r)
            idx = {r["name"]: r["type"] for r in ep.rows(
                "SELECT name, type FROM system.data_skipping_indices WHERE table = 'otel_logs'")}
            self.assertEqual(idx["idx_trace_id"], "bloom_filter")
            self.assertEqual(idx["idx_lower_body"], "tokenbf_v1")
            self.assertEqual(ep.scalar("SELECT count() FROM system.columns WHERE table = 'otel_logs' "
                                       "AND name LIKE '%AttributeItems'"), "0")
            self.assertEqual(ep.insert(shipper_rows(3)).status, 200)
            self.assertEqual(ep.scalar("SELECT sum(RandomNumber >= 0) FROM otel_logs"), "3")
        finally:
            ep.cleanup()

    def test_bad_schema_dir_fails_start(self):
        ep = Endpoint(schema=False, extra_args=["--schema-dir", "/nonexistent/schema"])
        try:
            with self.assertRaises(RuntimeError) as cm:
                ep.start(timeout=30)
            self.assertIn("/nonexistent/schema", str(cm.exception))
        finally:
            ep.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
