"""Every /metrics the project serves passes Prometheus' own linter (`promtool check metrics`, Debian's
`prometheus` package): the supervisor's on its unix socket and TCP port, the shipper's on :2020, each with
every metric family present (children running, ClickHouse checked, resource samples stored)."""
import os
import shutil
import subprocess

import pytest

from conftest import Supervisor, free_port, http, need_chdb, status_json, wait_until
from test_local import local_config, ready


def promtool():
    path = shutil.which("promtool")
    if not path:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool not found: scripts/deps/metrics-lint.apt installs Debian's prometheus package")
        pytest.skip("promtool not installed (Debian package prometheus)")
    return path


def lint(text):
    r = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()


def families(text):
    return {line.split()[2]: line.split()[3] for line in text.splitlines() if line.startswith("# TYPE ")}


@pytest.fixture
def stack(tmp_path):
    need_chdb()
    promtool()
    ports = {k: free_port() for k in ("status", "clickhouse", "shipper", "loggen")}
    # Sample batches of 1 s instead of 60 s, so that the resource-sample families appear within the test.
    sup = Supervisor(tmp_path, local_config(tmp_path, ports), env={"SHIPPER_SAMPLE_BATCH_SAMPLES": "10"})
    sup.ports = ports
    sup.sock = str(tmp_path / "status.sock")
    yield sup
    if sup.proc.poll() is None:
        sup.stop()


def test_promtool_can_fail():
    """The check can fail: a gauge named like a counter is what promtool reports."""
    rc, out = lint("# HELP x_lost_total Lost.\n# TYPE x_lost_total gauge\nx_lost_total 1\n")
    assert rc != 0 and "_total" in out, out


def test_promtool_on_all(stack):
    ready(stack)
    wait_until(lambda: (status_json(stack.sock).get("resource_samples") or {}).get("samples"), 60, what="resource samples checked")

    pages = {}
    for name, kw in (("supervisor (unix socket)", {"unix": stack.sock}), ("supervisor (TCP)", {"port": stack.ports["status"]}), ("shipper", {"port": stack.ports["shipper"]})):
        st, h, body = http("GET", "/metrics", **kw)
        assert st == 200 and h["content-type"].startswith("text/plain; version=0.0.4"), (name, st, h)
        pages[name] = body.decode()

    sup, ship = families(pages["supervisor (TCP)"]), families(pages["shipper"])
    # Every family the code can print is on the page: a family missing here would escape the linter.
    for f in ("otel_supervisor_state", "otel_supervisor_pipeline_lost_rows", "otel_supervisor_pipeline_duplicated_rows", "otel_supervisor_newest_log_age_seconds",
              "otel_supervisor_process_restarts_total", "otel_supervisor_process_up", "otel_supervisor_resource_samples_last_hour"):
        assert f in sup, (f, sorted(sup))
    for f in ("shipper_rows_sent_total", "shipper_files_tracked", "shipper_sampler_samples_total", "shipper_sampler_value_wraps_total"):
        assert f in ship, (f, sorted(ship))

    for name, text in pages.items():
        rc, out = lint(text)
        assert rc == 0 and out == "", f"promtool check metrics on the {name} /metrics:\n{out}"
