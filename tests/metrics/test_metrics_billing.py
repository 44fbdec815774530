# SPDX-License-Identifier: MIT
"""Billing on the real engine (embedded clickhouse-endpoint on libchdb): samples built here go into
metrics_raw the way the sampler sends them, the refresh prices them, and billing_hourly must hold what
billing_model.py (docs/metrics.md's rules, written again) and figures worked out by hand say:
  * a 90 s gap across an hour boundary is split over the two hours, pro rata;
  * a late batch for an hour inside the refresh window is billed at the next pricing run; sent again, it
    changes nothing;
  * a sample of an hour older than the window is not billed and is counted in billing_unbilled_samples;
    the window is a setting (billing_settings), and a wider one bills it.
"""
import json
import math
import os
import sys
import time
import unittest
from decimal import Decimal

sys.path.insert(0, os.environ.get("STORAGE_TESTS_DIR", os.path.join(os.path.dirname(__file__), "..", "storage")))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import billing_model as model  # noqa: E402
from endpoint import Endpoint  # noqa: E402

GIB = model.GIB
HOUR = model.HOUR_MS
DEDUP = {"deduplicate_blocks_in_dependent_materialized_views": 1}


def sample(customer, vm, t, interval_ms, cpu_us, mem, rx=0, tx=0, rd=0, wr=0, limit=1000):
    pct = cpu_us / (interval_ms * 1000) / (limit / 1000) * 100
    return {"customer_id": customer, "vm_id": vm, "timestamp": t, "interval_ms": interval_ms,
            "cpu_usage_percent": pct, "cpu_used_us": cpu_us, "cpu_limit_millicores": limit,
            "memory_used_bytes": mem, "memory_total_bytes": 4 * GIB, "network_rx_bytes": rx, "network_tx_bytes": tx,
            "disk_read_bytes": rd, "disk_write_bytes": wr, "quality": 1 if interval_ms > 1000 else 0}


def stream(customer, vm, start, end, seed):
    """100 ms samples in (start, end], varied amounts."""
    rows, k = [], seed
    for t in range(start + 100, end + 1, 100):
        k = (k * 1103515245 + 12345) % (1 << 31)
        rows.append(sample(customer, vm, t, 100, k % 100_001, (1 << 30) + (k % (1 << 24)), rx=k % 50_000,
                           tx=k % 20_000, rd=k % 4096, wr=k % 8192))
    return rows


class BillingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ep = Endpoint().start()
        # Pricing runs only when the test asks: a scheduled run (every 5 minutes) could price a batch between
        # its insert and a check that it is not priced yet, or add versions a count does not expect.
        cls.ep.ok("ALTER TABLE default.billing_hourly_refresh MODIFY REFRESH AFTER 1000 DAY APPEND")
        cls.ep.ok("SYSTEM WAIT VIEW default.billing_hourly_refresh")  # the run at creation, if still going
        # The hour before the current one: complete, inside the 48-hour window, and its end is in the past.
        cls.hour = (int(time.time() * 1000) // HOUR - 1) * HOUR
        cls.tokens = 0

    @classmethod
    def tearDownClass(cls):
        cls.ep.cleanup()

    def insert(self, rows, token=None):
        if token is None:
            BillingTest.tokens += 1
            token = f"billing-test-{BillingTest.tokens}"
        r = self.ep.insert(rows, table="metrics_raw", token=token, params=DEDUP)
        self.assertEqual(r.status, 200, r)
        return token

    def refresh(self):
        self.ep.ok("SYSTEM REFRESH VIEW default.billing_hourly_refresh")
        self.ep.ok("SYSTEM WAIT VIEW default.billing_hourly_refresh")

    def billed(self, customer):
        """{(vm, hour ms): row} of billing_hourly."""
        out = {}
        for line in self.ep.ok(f"SELECT vm_id, toUnixTimestamp(hour) * 1000 AS h, vcpu_hours, memory_gb_hours, "
                               f"network_gb, total_cost, sample_count FROM billing_hourly "
                               f"WHERE customer_id = '{customer}'", fmt="JSONEachRow").splitlines():
            r = json.loads(line, parse_float=Decimal)
            out[(r["vm_id"], int(r["h"]))] = r
        return out

    def assert_billed(self, customer, rows, hours=None):
        """billing_hourly of the customer equals the model's hourly cells of rows (only hours, if given)."""
        want = {(vm, h): c for (cust, vm, h), c in model.rollup(rows, HOUR).items()
                if cust == customer and (hours is None or h in hours)}
        got = self.billed(customer)
        self.assertEqual(sorted(got), sorted(want))
        for k, c in want.items():
            g = got[k]
            self.assertTrue(model.close(g["vcpu_hours"], c.vcpu_hours), (k, g, c.vcpu_hours))
            self.assertTrue(model.close(g["memory_gb_hours"], c.memory_gb_hours), (k, g, c.memory_gb_hours))
            self.assertTrue(model.close(g["network_gb"], c.network_gb), (k, g, c.network_gb))
            self.assertEqual(g["total_cost"], c.cost(), k)
            self.assertEqual(int(g["sample_count"]), c.samples, k)
        return got

    def set_window(self, hours):
        self.ep.ok(f"INSERT INTO billing_settings (refresh_window_hours) VALUES ({hours})")
        time.sleep(0.002)  # the newest changed_at (ms) wins

    def unbilled(self):
        return self.ep.rows("SELECT samples, workloads, hours, toUnixTimestamp(oldest_hour) * 1000 AS oldest "
                            "FROM billing_unbilled_samples")[0]

    def test_gap_across_an_hour_boundary_is_split_pro_rata(self):
        b = self.hour  # the boundary between the hour before (b - 1 h) and this one
        # One sample alone: 90 s that end 30 s after the boundary, one core busy throughout, 2 GiB held,
        # 900 MiB received. By hand: 60 s before the boundary, 30 s after.
        self.insert([sample("cust_gap", "gap-only", b + 30_000, 90_000, 90_000_000, 2 * GIB, rx=900 << 20)])
        # A workload sampled every 100 ms with a 90 s gap across the boundary.
        rows = stream("cust_gap", "vm-g", b - 180_000, b - 60_000, 1)
        rows.append(sample("cust_gap", "vm-g", b + 30_000, 90_000, 45_000_000, 3 * GIB, rx=3_000_000, tx=7,
                           rd=1000, wr=1))
        rows += stream("cust_gap", "vm-g", b + 30_000, b + 150_000, 2)
        self.insert(rows)
        self.refresh()
        got = self.billed("cust_gap")
        before, after = got[("gap-only", b - HOUR)], got[("gap-only", b)]
        self.assertTrue(model.close(before["vcpu_hours"], 60 / 3600), before)
        self.assertTrue(model.close(after["vcpu_hours"], 30 / 3600), after)
        self.assertTrue(model.close(before["memory_gb_hours"], 2 * 60 / 3600), before)
        self.assertTrue(model.close(after["memory_gb_hours"], 2 * 30 / 3600), after)
        self.assertTrue(model.close(before["network_gb"], 600 / 1024), before)
        self.assertTrue(model.close(after["network_gb"], 300 / 1024), after)
        self.assertEqual((int(before["sample_count"]), int(after["sample_count"])), (0, 1))
        # $0.05/vCPU-h, $0.01/GB-h, $0.10/GB, each hour truncated to 4 decimals.
        self.assertEqual(before["total_cost"], Decimal("0.0597"))  # 0.000833 + 0.000333 + 0.058594
        self.assertEqual(after["total_cost"], Decimal("0.0298"))  # 0.000417 + 0.000167 + 0.029297
        # The stream: every hour as the model splits it, and nothing lost or made up across the boundary.
        got = self.assert_billed("cust_gap", rows + [sample("cust_gap", "gap-only", b + 30_000, 90_000, 90_000_000,
                                                            2 * GIB, rx=900 << 20)])
        total_us = sum(r["cpu_used_us"] for r in rows)
        self.assertTrue(model.close(got[("vm-g", b - HOUR)]["vcpu_hours"] + got[("vm-g", b)]["vcpu_hours"],
                                    total_us / 3600e6))
        print(f"gap across {b}: gap-only {before['total_cost']} + {after['total_cost']}, "
              f"vm-g {got[('vm-g', b - HOUR)]['total_cost']} + {got[('vm-g', b)]['total_cost']}")

    def test_late_batch_is_billed_at_the_next_refresh_and_once(self):
        h = self.hour
        first = stream("cust_late", "vm-l", h + 600_000, h + 660_000, 3)
        self.insert(first)
        self.refresh()
        self.assert_billed("cust_late", first)
        late = stream("cust_late", "vm-l", h + 1_200_000, h + 1_230_000, 4)
        token = self.insert(late)
        self.assert_billed("cust_late", first)  # not priced yet: the bill is the last run's
        self.refresh()
        self.assert_billed("cust_late", first + late)
        self.insert(late, token=token)  # the same batch again (a retry): stored once
        self.refresh()
        got = self.assert_billed("cust_late", first + late)
        self.assertEqual(int(got[("vm-l", h)]["sample_count"]), len(first) + len(late))

    def test_sample_older_than_the_window_is_counted_unbilled(self):
        now_hour = int(time.time() * 1000) // HOUR * HOUR
        old_hour, kept_hour = now_hour - 50 * HOUR, now_hour - 47 * HOUR
        old = stream("cust_old", "vm-o", old_hour + 60_000, old_hour + 61_000, 5)  # 10 samples
        kept = stream("cust_old", "vm-o", kept_hour + 60_000, kept_hour + 60_500, 6)  # 5 samples
        self.insert(old + kept)
        self.refresh()
        # The default window is 48 hours: the hour 50 hours back is not priced, and its samples are counted.
        self.assert_billed("cust_old", old + kept, hours={kept_hour})
        u = self.unbilled()
        self.assertEqual((int(u["samples"]), int(u["workloads"]), int(u["hours"]), int(u["oldest"])),
                         (len(old), 1, 1, old_hour))
        # A wider window prices it at the next run.
        self.set_window(72)
        try:
            self.refresh()
            self.assert_billed("cust_old", old + kept)
            self.assertEqual(int(self.unbilled()["samples"]), 0)
        finally:
            self.set_window(48)
        # Back to 48 hours: that hour keeps its bill; a sample arriving for it now is not billed, and counted.
        late = [sample("cust_old", "vm-o", old_hour + 1_800_000, 100, 5000, GIB)]
        self.insert(late)
        self.refresh()
        self.assert_billed("cust_old", old + kept)
        self.assertEqual(int(self.unbilled()["samples"]), 1)
        # A narrower window keeps what was priced and prices no older hour.
        self.set_window(1)
        try:
            late2 = [sample("cust_old", "vm-o", kept_hour + 1_800_000, 100, 7000, GIB)]
            self.insert(late2)
            self.refresh()
            self.assert_billed("cust_old", old + kept)
            self.assertEqual(int(self.unbilled()["samples"]), 2)
        finally:
            self.set_window(48)
        self.refresh()
        self.assert_billed("cust_old", old + kept + late2)  # the hour 47 hours back, priced again
        self.assertEqual(int(self.unbilled()["samples"]), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
