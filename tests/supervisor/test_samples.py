"""Resource samples in the local runtime: the shipper samples the supervisor's children into metrics_raw, and
the supervisor reports the samples' data quality (gaps, CPU above the allocation, memory above the limit,
late samples no bill includes) in its status document and /metrics, from what ClickHouse stores."""
import json
import re
import time

import pytest

from conftest import Supervisor, free_port, http, need_chdb, status_json, wait_until
from test_local import local_config, query, ready


@pytest.fixture
def stack(tmp_path):
    need_chdb()
    ports = {k: free_port() for k in ("status", "clickhouse", "shipper", "loggen")}
    # Batches of 10 samples (1 s) instead of the seed's 600, so rows arrive within the test.
    sup = Supervisor(tmp_path, local_config(tmp_path, ports), env={"SHIPPER_SAMPLE_BATCH_SAMPLES": "10"})
    sup.ports = ports
    sup.sock = str(tmp_path / "status.sock")
    yield sup
    if sup.proc.poll() is None:
        sup.stop()


def samples(sup):
    return status_json(sup.sock).get("resource_samples") or {}


def metric(sup, check):
    st, _, body = http("GET", "/metrics", port=sup.ports["status"])
    assert st == 200
    m = re.search(rf'otel_supervisor_resource_sample_issues_last_hour{{check="{check}"}} (\d+)', body.decode())
    return int(m.group(1)) if m else None


def test_children_sampled_and_quality_reported(stack):
    sup = stack
    ready(sup)
    wait_until(lambda: samples(sup).get("workloads", 0) >= 2, 90, what="samples of the supervisor's children")
    names = set(query(sup, "SELECT DISTINCT vm_id FROM metrics_raw WHERE customer_id = 'local'").split())
    assert "loggen" in names and any(n.startswith("clickhouse") for n in names), names
    assert "shipper" not in names  # the sampler leaves itself out

    before = samples(sup)
    now = int(time.time() * 1000)
    rows = [{"customer_id": "test", "vm_id": f"flagged-{i}", "timestamp": now, "interval_ms": 100, "quality": q}
            for i, q in enumerate([1, 2, 2, 4, 4, 4])]
    query(sup, "INSERT INTO metrics_raw FORMAT JSONEachRow " + "".join(json.dumps(r) + "\n" for r in rows))

    def reported():
        s = samples(sup)
        return (s.get("gaps", 0) >= before["gaps"] + 1 and s.get("cpu_over_allocation", 0) >= before["cpu_over_allocation"] + 2
                and s.get("memory_over_limit", 0) >= before["memory_over_limit"] + 3)
    wait_until(reported, 30, what="flagged samples in the status")
    s = samples(sup)
    assert s["window_seconds"] == 3600 and s["samples"] >= before["samples"] + 6
    assert metric(sup, "gap") >= before["gaps"] + 1
    assert metric(sup, "cpu_over_allocation") >= before["cpu_over_allocation"] + 2
    assert metric(sup, "memory_over_limit") >= before["memory_over_limit"] + 3

    # A sample of an hour older than the billing refresh window (48 hours) is never billed: it is counted.
    assert before["unbilled_late_samples"] == 0
    old = int(time.time()) // 3600 * 3600 * 1000 - 50 * 3_600_000
    late = {"customer_id": "test", "vm_id": "late", "timestamp": old + 60_000, "interval_ms": 100}
    query(sup, "INSERT INTO metrics_raw FORMAT JSONEachRow " + json.dumps(late) + "\n")
    wait_until(lambda: samples(sup).get("unbilled_late_samples") == 1, 30, what="the late sample in the status")
    st, _, body = http("GET", "/metrics", port=sup.ports["status"])
    assert "otel_supervisor_resource_unbilled_late_samples 1\n" in body.decode()

    # Without the table the status says why, and /metrics leaves the figures out.
    query(sup, "RENAME TABLE metrics_raw TO metrics_raw_gone")
    wait_until(lambda: "metrics_raw" in samples(sup).get("error", ""), 30, what="the error in the status")
    assert metric(sup, "gap") is None
