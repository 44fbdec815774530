# SPDX-License-Identifier: MIT
"""The resource metrics schema on the real engine (embedded clickhouse-endpoint on libchdb).

A generated stream of 100 ms samples with known totals goes into metrics_raw in 60 s batches, the way the
shipper's sampler sends them. Then the seed's three queries (real-time dashboard, monthly bill, capacity
planning) must give the figures computed here from the generated samples; the 5-minute and hourly rollups
must equal direct aggregates of the raw table after OPTIMIZE … FINAL; a re-sent batch must change nothing.
Prints the three queries' results (docs/metrics.md quotes them).
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

sys.path.insert(0, os.environ.get("STORAGE_TESTS_DIR", os.path.join(os.path.dirname(__file__), "..", "storage")))
from endpoint import Endpoint  # noqa: E402

GIB = 1073741824
DEDUP = {"deduplicate_blocks_in_dependent_materialized_views": 1}
# (customer_id, vm_id, cpu limit in millicores, memory limit)
VMS = [("cust_123", "vm-a", 2000, 4 * GIB), ("cust_123", "vm-b", 1000, 2 * GIB), ("cust_456", "vm-c", 4000, 8 * GIB)]
STREAM_MINUTES = 65
# No samples in [now - 5 min - HOLE, now - 5 min + HOLE]: the dashboard's "last 5 minutes" then selects the
# same samples whenever within HOLE seconds the query runs.
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


def hour_of(ms):
    return ms // 3_600_000 * 3_600_000


def exact_quantile(values, level):
    """ClickHouse's quantileExact: the element at floor(level * n) of the sorted values."""
    v = sorted(values)
    return v[min(len(v) - 1, int(level * len(v)))]


class MetricsPipelineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ep = Endpoint().start()
        cls.now_ms = int(time.time() * 1000)
        cls.rows, cls.batches = generate(cls.now_ms)
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

    def test_dashboard_last_5_minutes(self):
        got = self.ep.rows("""
            SELECT vm_id, avg(cpu_usage_percent) as avg_cpu,
                max(memory_used_bytes) / 1073741824 as max_memory_gb,
                sum(network_rx_bytes + network_tx_bytes) / 1048576 as total_network_mb
            FROM metrics_raw
            WHERE customer_id = 'cust_123' AND timestamp > now() - INTERVAL 5 MINUTE
            GROUP BY vm_id ORDER BY avg_cpu DESC""")
        cut = self.now_ms - 300_000
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

    def expected_bill(self, customer, month_start_ms, month_end_ms):
        cells = {}
        for r in self.rows:
            if r["customer_id"] != customer or not month_start_ms <= hour_of(r["timestamp"]) < month_end_ms:
                continue
            c = cells.setdefault((r["vm_id"], hour_of(r["timestamp"])), [0, 0, 0])
            c[0] += r["cpu_used_us"]
            c[1] += r["memory_used_bytes"] * r["interval_ms"]
            c[2] += r["network_rx_bytes"] + r["network_tx_bytes"]
        vcpu = mem = net = cost = 0.0
        for used_us, byte_ms, net_bytes in cells.values():
            v, m, n = used_us / 3600e6, byte_ms / GIB / 3600e3, net_bytes / GIB
            vcpu, mem, net = vcpu + v, mem + m, net + n
            cost += math.floor((v * 0.05 + m * 0.01 + n * 0.10) * 1e4) / 1e4  # Decimal(…, 4) truncates
        return vcpu, mem, net, cost, len(cells)

    def month_bounds(self):
        now = ts(self.now_ms)
        start = datetime.datetime(now.year, now.month, 1, tzinfo=datetime.timezone.utc)
        end = datetime.datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=datetime.timezone.utc)
        return int(start.timestamp() * 1000), int(end.timestamp() * 1000)

    BILL = """
        SELECT sum(vcpu_hours) as total_vcpu_hours, sum(memory_gb_hours) as total_memory_gb_hours,
            sum(network_gb) as total_network_gb, sum(total_cost) as total_cost, count() AS rows
        FROM billing_hourly FINAL
        WHERE customer_id = '{c}' AND hour >= toStartOfMonth(now())
          AND hour < toStartOfMonth(now()) + INTERVAL 1 MONTH"""

    def check_bill(self, customer, label):
        got = self.ep.rows(self.BILL.format(c=customer))[0]
        vcpu, mem, net, cost, cells = self.expected_bill(customer, *self.month_bounds())
        self.assertEqual(int(got["rows"]), cells)
        self.close(got["total_vcpu_hours"], vcpu, rel=1e-9, what="vcpu_hours")
        self.close(got["total_memory_gb_hours"], mem, rel=1e-9, what="memory_gb_hours")
        self.close(got["total_network_gb"], net, rel=1e-9, what="network_gb")
        # Each hour's cost is truncated to 4 decimals; a float rounding may move one by 0.0001.
        self.assertLessEqual(abs(float(got["total_cost"]) - cost), 0.0001 * cells + 1e-9, f"{got} vs {cost}")
        print(f"monthly bill ({customer}, {label}): vcpu_hours {float(got['total_vcpu_hours']):.6f}, "
              f"memory_gb_hours {float(got['total_memory_gb_hours']):.6f}, network_gb {float(got['total_network_gb']):.6f}, "
              f"total_cost ${float(got['total_cost']):.4f} ({cells} hourly rows)")
        return got

    def test_monthly_bill(self):
        for c in ("cust_123", "cust_456"):
            self.check_bill(c, "as computed")

    def test_capacity_planning_p95(self):
        got = self.ep.rows("""
            SELECT toStartOfHour(timestamp) as hour, quantile(0.95)(cpu_usage_percent) as p95_cpu,
                quantileExact(0.95)(cpu_usage_percent) as p95_cpu_exact,
                max(memory_used_bytes) / 1073741824 as peak_memory_gb, count(DISTINCT vm_id) as active_vms
            FROM metrics_raw WHERE timestamp > now() - INTERVAL 7 DAY
            GROUP BY hour ORDER BY hour DESC""")
        hours = {}
        for r in self.rows:
            hours.setdefault(hour_of(r["timestamp"]), []).append(r)
        self.assertEqual(len(got), len(hours))
        print("capacity planning (per hour, all customers):")
        for g, h in zip(got, sorted(hours, reverse=True)):
            w = hours[h]
            self.assertEqual(g["hour"], ts(h).strftime("%Y-%m-%d %H:%M:%S"))
            cpu = [r["cpu_usage_percent"] for r in w]
            exact = exact_quantile(cpu, 0.95)
            self.close(g["p95_cpu_exact"], exact, rel=1e-6, what="p95 exact")
            # quantile() samples 8192 values per state: close to the exact value, not equal.
            self.assertLess(abs(g["p95_cpu"] - exact), 2.0, f"p95 {g['p95_cpu']} vs exact {exact}")
            self.close(g["peak_memory_gb"], max(r["memory_used_bytes"] for r in w) / GIB, what="peak")
            self.assertEqual(int(g["active_vms"]), len({r["vm_id"] for r in w}))
            print(f"  {g['hour']}: p95_cpu {g['p95_cpu']:.3f} % (exact {exact:.3f}), "
                  f"peak_memory_gb {g['peak_memory_gb']:.4f}, active_vms {g['active_vms']} ({len(w)} samples)")

    # --- rollups ------------------------------------------------------------------------------------------

    def check_rollup(self, table, bucket, key, extra_cols, raw_extra):
        self.ep.ok(f"OPTIMIZE TABLE {table} FINAL")
        # After the merge, one row per key: the states were really aggregated.
        self.assertEqual(self.ep.scalar(f"SELECT count() FROM {table}"),
                         self.ep.scalar(f"SELECT count() FROM (SELECT DISTINCT customer_id, vm_id, {key} FROM {table})"))
        rolled = self.ep.ok(f"""
            SELECT customer_id, vm_id, {key}, avgMerge(cpu_avg), max(cpu_max), avgMerge(memory_avg_bytes),
                   max(memory_max_bytes), sum(cpu_used_us), sum(memory_byte_ms), sum(sample_count){extra_cols}
            FROM {table} GROUP BY ALL ORDER BY ALL""", fmt="JSONCompactEachRow")
        direct = self.ep.ok(f"""
            SELECT customer_id, vm_id, {bucket}(timestamp) AS {key}, avg(cpu_usage_percent), max(cpu_usage_percent),
                   avg(memory_used_bytes), max(memory_used_bytes), sum(cpu_used_us),
                   sum(toUInt128(memory_used_bytes) * interval_ms), count(){raw_extra}
            FROM metrics_raw GROUP BY ALL ORDER BY ALL""", fmt="JSONCompactEachRow")
        a = [json.loads(x) for x in rolled.splitlines()]
        b = [json.loads(x) for x in direct.splitlines()]
        self.assertEqual(len(a), len(b))
        self.assertGreater(len(a), 3)
        for x, y in zip(a, b):
            self.assertEqual(x[:3], y[:3])
            for i in (3, 5):  # averages: summation order differs
                self.close(x[i], y[i], rel=1e-9, what=f"{table} col {i}")
            self.assertEqual(x[4:5] + x[6:], y[4:5] + y[6:], f"{table}: {x} != {y}")
        n = sum(int(x[9]) for x in a)
        self.assertEqual(n, len(self.rows))

    def test_5min_rollup_equals_raw(self):
        self.check_rollup("metrics_5min", "toStartOfFiveMinutes", "timestamp",
                          ", sum(network_total_bytes), sum(disk_total_bytes)",
                          ", sum(network_rx_bytes + network_tx_bytes), sum(disk_read_bytes + disk_write_bytes)")

    def test_hourly_rollup_equals_raw(self):
        self.check_rollup("metrics_hourly", "toStartOfHour", "hour",
                          ", sum(network_rx_bytes), sum(network_tx_bytes), sum(quality_issues)",
                          ", sum(network_rx_bytes), sum(network_tx_bytes), countIf(quality != 0)")
        self.assertGreater(int(self.ep.scalar("SELECT sum(quality_issues) FROM metrics_hourly")), 0)

    # --- idempotence -------------------------------------------------------------------------------------

    def test_zresent_batch_and_refresh_do_not_double_bill(self):
        before = {c: self.ep.rows(self.BILL.format(c=c))[0] for c in ("cust_123", "cust_456")}
        raw = self.ep.scalar("SELECT count() FROM metrics_raw")
        agg = self.ep.scalar("SELECT sum(sample_count) FROM metrics_5min")
        for i in (0, len(self.batches) // 2, len(self.batches) - 1):
            r = self.ep.insert(self.batches[i], table="metrics_raw", token=f"test-{i}", params=DEDUP)
            self.assertEqual(r.status, 200, r)
        self.refresh()  # prices every hour a second time: the newer rows replace the older
        self.assertEqual(self.ep.scalar("SELECT count() FROM metrics_raw"), raw)
        self.assertEqual(self.ep.scalar("SELECT sum(sample_count) FROM metrics_5min"), agg)
        self.assertEqual(self.ep.scalar("SELECT sum(sample_count) FROM metrics_hourly"), str(len(self.rows)))
        for c in before:
            self.assertEqual(self.check_bill(c, "after a re-sent batch and a second pricing run"), before[c])
        self.ep.ok("OPTIMIZE TABLE billing_hourly FINAL")
        self.assertEqual(self.ep.scalar("SELECT count() FROM billing_hourly"),
                         self.ep.scalar("SELECT count() FROM billing_hourly FINAL"))

    def test_zz_new_price_list_applies_from_its_start(self):
        hours = sorted({hour_of(r["timestamp"]) for r in self.rows})
        later = ts(hours[-1]).strftime("%Y-%m-%d %H:%M:%S")
        self.ep.ok(f"INSERT INTO metrics_pricing VALUES ('test-double', '{later}', 0.10, 0.02, 0.20, 0)")
        self.refresh()
        rows = self.ep.rows("SELECT hour, pricing_version FROM billing_hourly FINAL ORDER BY hour")
        for r in rows:
            want = "test-double" if r["hour"] == later else "seed-003"
            self.assertEqual(r["pricing_version"], want, r)
        self.ep.ok("ALTER TABLE metrics_pricing DELETE WHERE pricing_version = 'test-double' SETTINGS mutations_sync = 1")
        self.refresh()


if __name__ == "__main__":
    unittest.main(verbosity=2)
