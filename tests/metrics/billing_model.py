# SPDX-License-Identifier: MIT
"""docs/metrics.md's billing rules, written again in Python from the document, to check the schema's
rollups and bills against: the tests compare what ClickHouse stores with what these functions compute from
the same samples (never with the engine's own output).

A sample (a metrics_raw row as a dict) covers the interval_ms milliseconds before its timestamp (an
interval_ms of 0 counts as 1). Its amounts (CPU µs, bytes) are spread evenly over that interval: a bucket
(hour, 5-minute window) that covers the milliseconds [s, e) of the interval, counted from the interval's
start, gets floor(A * e / span) - floor(A * s / span) of each counter column A (cpu_used_us,
network_rx_bytes, network_tx_bytes, disk_read_bytes, disk_write_bytes), and memory_used_bytes * (e - s)
byte-ms of memory. The averages, maxima and the sample count belong to the bucket of the timestamp.
"""
import math
from decimal import ROUND_DOWN, Decimal

GIB = 1 << 30
HOUR_MS = 3_600_000
FIVE_MIN_MS = 300_000
# The seed's price list (metrics_pricing 'seed-003'): vCPU-hour, GB-hour of memory, GB of network.
SEED_PRICES = (0.05, 0.01, 0.10)


def pieces(row, bucket_ms):
    """(bucket start ms, s, e, own) for every bucket the sample's interval touches. Buckets are aligned to
    the epoch, as the server's toStartOfHour/toStartOfFiveMinutes are in a whole-hour time zone."""
    end = row["timestamp"]
    span = max(row["interval_ms"], 1)
    start = end - span
    own = end - end % bucket_ms
    b = start - start % bucket_ms
    out = []
    while b <= own:
        out.append((b, max(start, b) - start, min(end, b + bucket_ms) - start, b == own))
        b += bucket_ms
    return out


def share(amount, s, e, span):
    return amount * e // span - amount * s // span


class Cell:
    """One bucket of one workload: the additive amounts and the per-sample statistics."""

    def __init__(self):
        self.cpu_us = self.rx = self.tx = self.disk = self.byte_ms = 0
        self.samples = self.flagged = 0
        self.cpu_pct = []
        self.mem = []

    @property
    def vcpu_hours(self):
        return self.cpu_us / 3600e6

    @property
    def memory_gb_hours(self):
        return float(self.byte_ms) / GIB / 3600e3

    @property
    def network_gb(self):
        return (self.rx + self.tx) / GIB

    def cost(self, prices=SEED_PRICES):
        v = self.vcpu_hours * prices[0] + self.memory_gb_hours * prices[1] + self.network_gb * prices[2]
        return Decimal(v).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)  # Decimal(10, 4) truncates


def rollup(rows, bucket_ms):
    """{(customer_id, vm_id, bucket ms): Cell}"""
    cells = {}
    for r in rows:
        span = max(r["interval_ms"], 1)
        for b, s, e, own in pieces(r, bucket_ms):
            c = cells.setdefault((r["customer_id"], r["vm_id"], b), Cell())
            c.cpu_us += share(r["cpu_used_us"], s, e, span)
            c.rx += share(r["network_rx_bytes"], s, e, span)
            c.tx += share(r["network_tx_bytes"], s, e, span)
            c.disk += share(r["disk_read_bytes"], s, e, span) + share(r["disk_write_bytes"], s, e, span)
            c.byte_ms += r["memory_used_bytes"] * (e - s)
            if own:
                c.samples += 1
                c.flagged += 1 if r.get("quality", 0) else 0
                c.cpu_pct.append(r["cpu_usage_percent"])
                c.mem.append(r["memory_used_bytes"])
    return cells


def bill(rows, customer, from_ms, to_ms, billed_hours=None, prices=SEED_PRICES):
    """The seed's monthly bill of a customer: sums over the hourly rows with from_ms <= hour < to_ms.
    billed_hours: a predicate on the hour (ms) saying whether the refresh priced it (the window)."""
    total = {"total_vcpu_hours": 0.0, "total_memory_gb_hours": 0.0, "total_network_gb": 0.0,
             "total_cost": Decimal(0), "rows": 0}
    for (cust, _vm, h), c in sorted(rollup(rows, HOUR_MS).items()):
        if cust != customer or not from_ms <= h < to_ms or (billed_hours and not billed_hours(h)):
            continue
        total["total_vcpu_hours"] += c.vcpu_hours
        total["total_memory_gb_hours"] += c.memory_gb_hours
        total["total_network_gb"] += c.network_gb
        total["total_cost"] += c.cost(prices)
        total["rows"] += 1
    return total


def exact_quantile(values, level):
    """ClickHouse's quantileExact: the element at floor(level * n) of the sorted values."""
    v = sorted(values)
    return v[min(len(v) - 1, int(level * len(v)))]


def close(a, b, rel=1e-9):
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-12)
