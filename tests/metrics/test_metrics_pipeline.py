# SPDX-License-Identifier: MIT
"""The resource metrics schema on the real engine (embedded clickhouse-endpoint on libchdb).

A generated stream of 100 ms samples with known totals goes into metrics_raw in 60 s batches, the way the
shipper's sampler sends them. Then the seed's three queries, run as the seed writes them (SEED_* below,
verbatim), must give the figures computed here from the generated samples by billing_model.py (docs/metrics.md's
rules written again) — the bill after every one of several pricing runs, without FINAL or OPTIMIZE; the
5-minute and hourly rollups must equal the model's; a re-sent batch must change nothing. Prints the three
queries' results (docs/metrics.md quotes them).
"""
import datetime
import json
import math
import os
import random
import struct
import sys
import time
import unittest
from decimal import Decimal

sys.path.insert(0, os.environ.get("STORAGE_TESTS_DIR", os.path.join(os.path.dirname(__file__), "..", "storage")))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import billing_model as model  # noqa: E402
from endpoint import Endpoint  # noqa: E402

# The seed's three queries (003, "Query Patterns"), character for character.
SEED_DASHBOARD = """-- Current VM status (last 5 minutes)
SELECT
    vm_id,
    avg(cpu_usage_percent) as avg_cpu,
    max(memory_used_bytes) / 1073741824 as max_memory_gb,
    sum(network_rx_bytes + network_tx_bytes) / 1048576 as total_network_mb
FROM metrics_raw
WHERE customer_id = 'cust_123'
  AND timestamp > now() - INTERVAL 5 MINUTE
GROUP BY vm_id
ORDER BY avg_cpu DESC;"""
SEED_BILL = """-- Monthly bill for customer
SELECT
    sum(vcpu_hours) as total_vcpu_hours,
    sum(memory_gb_hours) as total_memory_gb_hours,
    sum(network_gb) as total_network_gb,
    sum(total_cost) as total_cost
FROM billing_hourly
WHERE customer_id = 'cust_123'
  AND hour >= toStartOfMonth(now())
  AND hour < toStartOfMonth(now()) + INTERVAL 1 MONTH;"""
SEED_CAPACITY = """-- Peak usage by hour for capacity planning
SELECT
    toStartOfHour(timestamp) as hour,
    quantile(0.95)(cpu_usage_percent) as p95_cpu,
    max(memory_used_bytes) / 1073741824 as peak_memory_gb,
    count(DISTINCT vm_id) as active_vms
FROM metrics_raw
WHERE timestamp > now() - INTERVAL 7 DAY
GROUP BY hour
ORDER BY hour DESC;"""

GIB = 1073741824
DEDUP = {"deduplicate_blocks_in_dependent_materialized_views": 1}
# (customer_id, vm_id, cpu limit in millicores, memory limit)
VMS = [("cust_123", "vm-a", 2000, 4 * GIB), ("cust_123", "vm-b", 1000, 2 * GIB), ("cust_456", "vm-c", 4000, 8 * GIB)]
STREAM_MINUTES = 65
# No samples in [now - 5 min - HOLE, now - 5 min + HOLE]: a one-minute gap, flagged, whose usage the rollups
# spread over its interval.
HOLE_S = 30


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def generate(now_ms):
    """Samples as the sampler sends them; returns (rows, batches of rows)."""
    rnd = random.Random(3)
    end = now_ms - now_ms % 100
    start = end - STREAM_MINUTES * 60_000
    hole = (end - 300_000 - HOLE_S * 1000, end - 300_000 + HOLE_S * 1000)
    rows = []
    for cust, vm, limit, mem_limit in VMS:
        mem = mem_limit // 3
        prev = start - 100
        for t in range(start, end + 1, 100):
            if hole[0] <= t <= hole[1]:
                continue
            interval = t - prev
            prev = t
            used = rnd.randint(0, limit * interval)  # µs of CPU: millicores × ms = µs
            if rnd.random() < 0.001:
                used = limit * interval * 11 // 10  # a burst above the allocation: flagged, kept
            pct = f32(used / (interval * 1000) / (limit / 1000) * 100)
            mem = max(1 << 20, min(mem_limit + (1 << 20), mem + rnd.randint(-(1 << 22), 1 << 22)))
            quality = (1 if interval > 1000 else 0) | (2 if pct > 100 else 0) | (4 if mem > mem_limit else 0)
            rows.append({
                "customer_id": cust, "vm_id": vm, "timestamp": t, "interval_ms": interval,
                "cpu_usage_percent": pct, "cpu_used_us": used, "cpu_limit_millicores": limit,
                "memory_used_bytes": mem, "memory_total_bytes": mem_limit,
                "network_rx_bytes": rnd.randint(0, 200_000), "network_tx_bytes": rnd.randint(0, 100_000),
                "disk_read_bytes": rnd.randint(0, 1 << 20), "disk_write_bytes": rnd.randint(0, 1 << 19),
                "quality": quality,
            })
    batches = {}
    for r in rows:
        batches.setdefault((r["timestamp"] - start) // 60_000, []).append(r)
    return rows, [batches[k] for k in sorted(batches)]


def ts(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)


def server_time(ep):
    """A function formatting epoch ms as the server's DateTime text (its time zone has no DST in tests)."""
    offset_ms = (946684800 - int(ep.scalar("SELECT toUnixTimestamp(toDateTime('2000-01-01 00:00:00'))"))) * 1000
    return lambda ms: ts(ms + offset_ms).strftime("%Y-%m-%d %H:%M:%S")


def hour_of(ms):
    return ms // 3_600_000 * 3_600_000


def decimal_rows(ep, sql):
    """Rows with numbers as Decimal (sum(total_cost) is a Decimal: compared exactly)."""
    return [json.loads(line, parse_float=Decimal) for line in ep.ok(sql, fmt="JSONEachRow").splitlines() if line]


class MetricsPipelineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ep = Endpoint().start()
        # Pricing runs only when the test asks: a scheduled run (every 5 minutes) could price a batch between
        # its insert and a check that it is not priced yet, or add versions a count does not expect.
        cls.ep.ok("ALTER TABLE default.billing_hourly_refresh MODIFY REFRESH AFTER 1000 DAY APPEND")
        cls.ep.ok("SYSTEM WAIT VIEW default.billing_hourly_refresh")  # the run at creation, if still going
        cls.now_ms = int(time.time() * 1000)
        cls.rows, cls.batches = generate(cls.now_ms)
        cls.server_time = staticmethod(server_time(cls.ep))
        for i, b in enumerate(cls.batches):
            r = cls.ep.insert(b, table="metrics_raw", token=f"test-{i}", params=DEDUP)
            assert r.status == 200, r
        cls.refresh()

    @classmethod
    def tearDownClass(cls):
        cls.ep.cleanup()

    @classmethod
    def refresh(cls):
        cls.ep.ok("SYSTEM REFRESH VIEW default.billing_hourly_refresh")
        cls.ep.ok("SYSTEM WAIT VIEW default.billing_hourly_refresh")

    def close(self, got, want, rel=1e-9, abs_=1e-9, what=""):
        self.assertTrue(math.isclose(float(got), float(want), rel_tol=rel, abs_tol=abs_), f"{what}: {got} != {want}")

    # --- the seed's queries -------------------------------------------------------------------------------

    def test_a_dashboard_last_5_minutes(self):
        # The query's now() has whole seconds: read it just before and after, so the cut is known.
        for _ in range(10):
            before = int(self.ep.scalar("SELECT toUnixTimestamp(now())"))
            got = self.ep.rows(SEED_DASHBOARD)
            if int(self.ep.scalar("SELECT toUnixTimestamp(now())")) == before:
                break
        else:
            self.fail("could not run the query within one second")
        cut = (before - 300) * 1000
        want = {}
        for r in self.rows:
            if r["customer_id"] == "cust_123" and r["timestamp"] > cut:
                want.setdefault(r["vm_id"], []).append(r)
        self.assertEqual(sorted(g["vm_id"] for g in got), sorted(want))
        self.assertEqual([g["avg_cpu"] for g in got], sorted((g["avg_cpu"] for g in got), reverse=True))
        print("dashboard (cust_123, last 5 minutes):")
        for g in got:
            w = want[g["vm_id"]]
            self.close(g["avg_cpu"], sum(r["cpu_usage_percent"] for r in w) / len(w), rel=1e-6, what="avg_cpu")
            self.close(g["max_memory_gb"], max(r["memory_used_bytes"] for r in w) / GIB, what="max_memory_gb")
            self.close(g["total_network_mb"], sum(r["network_rx_bytes"] + r["network_tx_bytes"] for r in w) / 1048576,
                       what="total_network_mb")
            print(f"  {g['vm_id']}: avg_cpu {g['avg_cpu']:.3f} %, max_memory_gb {g['max_memory_gb']:.4f}, "
                  f"total_network_mb {g['total_network_mb']:.3f} ({len(w)} samples)")

    def month_bounds(self):
        """This month as the server's toStartOfMonth(now()) sees it (its time zone)."""
        got = self.ep.rows("SELECT toUnixTimestamp(toStartOfMonth(now())) AS a, "
                           "toUnixTimestamp(toStartOfMonth(now()) + INTERVAL 1 MONTH) AS b")[0]
        return int(got["a"]) * 1000, int(got["b"]) * 1000

    def check_bill(self, customer, label):
        """The seed's bill query as written (only the customer's name replaced) against the model's bill."""
        got = decimal_rows(self.ep, SEED_BILL.replace("cust_123", customer))[0]
        want = model.bill(self.rows, customer, *self.month_bounds())
        self.close(got["total_vcpu_hours"], want["total_vcpu_hours"], what="vcpu_hours")
        self.close(got["total_memory_gb_hours"], want["total_memory_gb_hours"], what="memory_gb_hours")
        self.close(got["total_network_gb"], want["total_network_gb"], what="network_gb")
        self.assertEqual(got["total_cost"], want["total_cost"], f"{customer} {label}: {got} vs {want}")
        print(f"monthly bill ({customer}, {label}): vcpu_hours {float(got['total_vcpu_hours']):.6f}, "
              f"memory_gb_hours {float(got['total_memory_gb_hours']):.6f}, "
              f"network_gb {float(got['total_network_gb']):.6f}, total_cost ${got['total_cost']:.4f} "
              f"({want['rows']} hourly rows)")
        return got

    def test_monthly_bill_after_every_refresh(self):
        """Each pricing run appends a version of every hour of its window; the bill must not grow with them."""
        cells = int(self.ep.scalar("SELECT count() FROM billing_hourly"))
        self.assertGreater(cells, 2)
        # No merge may make the query right by luck: the versions of the runs stay side by side.
        self.ep.ok("SYSTEM STOP MERGES default.billing_hourly_versions")
        self.addCleanup(self.ep.ok, "SYSTEM START MERGES default.billing_hourly_versions")
        stored = int(self.ep.scalar("SELECT count() FROM billing_hourly_versions"))
        for run in range(1, 5):
            if run > 1:
                self.refresh()
            versions = int(self.ep.scalar("SELECT count() FROM billing_hourly_versions"))
            for c in ("cust_123", "cust_456"):
                self.check_bill(c, f"after pricing run {run}, {versions} row versions stored")
            self.assertEqual(int(self.ep.scalar("SELECT count() FROM billing_hourly")), cells)
            self.assertEqual(versions, stored + (run - 1) * cells)

    def test_capacity_planning_p95(self):
        got = self.ep.rows(SEED_CAPACITY)
        hours = {}
        for r in self.rows:
            hours.setdefault(hour_of(r["timestamp"]), []).append(r)
        self.assertEqual(len(got), len(hours))
        print("capacity planning (per hour, all customers):")
        for g, h in zip(got, sorted(hours, reverse=True)):
            w = hours[h]
            self.assertEqual(g["hour"], self.server_time(h))
            exact = model.exact_quantile([r["cpu_usage_percent"] for r in w], 0.95)
            # quantile() samples 8192 values per state: close to the exact value, not equal.
            self.assertLess(abs(g["p95_cpu"] - exact), 2.0, f"p95 {g['p95_cpu']} vs exact {exact}")
            self.close(g["peak_memory_gb"], max(r["memory_used_bytes"] for r in w) / GIB, what="peak")
            self.assertEqual(int(g["active_vms"]), len({r["vm_id"] for r in w}))
            print(f"  {g['hour']}: p95_cpu {g['p95_cpu']:.3f} % (exact {exact:.3f}), "
                  f"peak_memory_gb {g['peak_memory_gb']:.4f}, active_vms {g['active_vms']} ({len(w)} samples)")

    # --- rollups ------------------------------------------------------------------------------------------

    def check_rollup(self, table, key, bucket_ms, cols):
        self.ep.ok(f"OPTIMIZE TABLE {table} FINAL")
        # After the merge, one row per key: the states were really aggregated.
        self.assertEqual(self.ep.scalar(f"SELECT count() FROM {table}"),
                         self.ep.scalar(f"SELECT count() FROM (SELECT DISTINCT customer_id, vm_id, {key} FROM {table})"))
        got = self.ep.rows(f"""
            SELECT customer_id, vm_id, toUnixTimestamp({key}) * 1000 AS b, avgMerge(cpu_avg) AS cpu_avg,
                   max(cpu_max) AS cpu_max, avgMerge(memory_avg_bytes) AS mem_avg, max(memory_max_bytes) AS mem_max,
                   sum(cpu_used_us) AS cpu_us, sum(memory_byte_ms) AS byte_ms, sum(sample_count) AS samples, {cols}
            FROM {table} GROUP BY customer_id, vm_id, {key} ORDER BY ALL""")
        want = model.rollup(self.rows, bucket_ms)
        unsplit = {}  # memory x interval by the bucket of the timestamp alone, as without the spreading rule
        for r in self.rows:
            k = (r["customer_id"], r["vm_id"], r["timestamp"] - r["timestamp"] % bucket_ms)
            unsplit[k] = unsplit.get(k, 0) + r["memory_used_bytes"] * r["interval_ms"]
        self.assertEqual(sorted((g["customer_id"], g["vm_id"], int(g["b"])) for g in got), sorted(want))
        self.assertGreater(len(got), 3)
        straddling = 0
        for g in got:
            c = want[(g["customer_id"], g["vm_id"], int(g["b"]))]
            what = f"{table} {g['customer_id']}/{g['vm_id']}@{g['b']}"
            self.assertEqual((int(g["cpu_us"]), int(g["byte_ms"]), int(g["samples"])), (c.cpu_us, c.byte_ms, c.samples),
                             what)
            if c.samples:
                self.close(g["cpu_avg"], sum(c.cpu_pct) / len(c.cpu_pct), rel=1e-6, what=what)
                self.close(g["mem_avg"], sum(c.mem) / len(c.mem), rel=1e-12, what=what)
                self.assertEqual(f32(g["cpu_max"]), max(c.cpu_pct), what)  # Float32, printed shortest
                self.assertEqual(int(g["mem_max"]), max(c.mem), what)
            straddling += c.byte_ms != unsplit.get((g["customer_id"], g["vm_id"], int(g["b"])), 0)
            yield g, c
        # Some samples' intervals crossed a boundary, so the spreading rule was exercised.
        self.assertGreater(straddling, 0)
        self.assertEqual(sum(int(g["samples"]) for g in got), len(self.rows))

    def test_5min_rollup_equals_model(self):
        for g, c in self.check_rollup("metrics_5min", "timestamp", model.FIVE_MIN_MS,
                                      "sum(network_total_bytes) AS net, sum(disk_total_bytes) AS disk"):
            self.assertEqual((int(g["net"]), int(g["disk"])), (c.rx + c.tx, c.disk))

    def test_hourly_rollup_equals_model(self):
        for g, c in self.check_rollup("metrics_hourly", "hour", model.HOUR_MS,
                                      "sum(network_rx_bytes) AS rx, sum(network_tx_bytes) AS tx, "
                                      "sum(disk_total_bytes) AS disk, sum(quality_issues) AS flagged"):
            self.assertEqual((int(g["rx"]), int(g["tx"]), int(g["disk"]), int(g["flagged"])),
                             (c.rx, c.tx, c.disk, c.flagged))
        self.assertGreater(int(self.ep.scalar("SELECT sum(quality_issues) FROM metrics_hourly")), 0)

    # --- idempotence -------------------------------------------------------------------------------------

    def test_zresent_batch_and_refresh_do_not_double_bill(self):
        before = {c: decimal_rows(self.ep, SEED_BILL.replace("cust_123", c))[0] for c in ("cust_123", "cust_456")}
        raw = self.ep.scalar("SELECT count() FROM metrics_raw")
        agg = self.ep.scalar("SELECT sum(sample_count) FROM metrics_5min")
        for i in (0, len(self.batches) // 2, len(self.batches) - 1):
            r = self.ep.insert(self.batches[i], table="metrics_raw", token=f"test-{i}", params=DEDUP)
            self.assertEqual(r.status, 200, r)
        self.refresh()  # prices every hour once more: billing_hourly shows the newest version only
        self.assertEqual(self.ep.scalar("SELECT count() FROM metrics_raw"), raw)
        self.assertEqual(self.ep.scalar("SELECT sum(sample_count) FROM metrics_5min"), agg)
        self.assertEqual(self.ep.scalar("SELECT sum(sample_count) FROM metrics_hourly"), str(len(self.rows)))
        for c in before:
            self.assertEqual(self.check_bill(c, "after a re-sent batch and another pricing run"), before[c])

    def test_zz_new_price_list_applies_from_its_start(self):
        hours = sorted({hour_of(r["timestamp"]) for r in self.rows})
        later = self.server_time(hours[-1])
        self.ep.ok(f"INSERT INTO metrics_pricing VALUES ('test-double', '{later}', 0.10, 0.02, 0.20, 0)")
        self.refresh()
        rows = self.ep.rows("SELECT hour, pricing_version, total_cost, customer_id, vm_id FROM billing_hourly "
                            "ORDER BY hour")
        want = model.rollup(self.rows, model.HOUR_MS)
        for r in rows:
            doubled = r["hour"] == later
            self.assertEqual(r["pricing_version"], "test-double" if doubled else "seed-003", r)
            h = [k[2] for k in want if self.server_time(k[2]) == r["hour"]][0]
            cell = want[(r["customer_id"], r["vm_id"], h)]
            prices = (0.10, 0.02, 0.20) if doubled else model.SEED_PRICES
            self.assertEqual(Decimal(str(r["total_cost"])), cell.cost(prices), r)
        self.ep.ok("ALTER TABLE metrics_pricing DELETE WHERE pricing_version = 'test-double' SETTINGS mutations_sync = 1")
        self.refresh()


if __name__ == "__main__":
    unittest.main(verbosity=2)
