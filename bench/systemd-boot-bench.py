#!/usr/bin/env python3
"""Boot figures of the supervisor's unit under systemd (the machines of tests/systemd, docs/vm.md "Boot
tests"): systemd-nspawn start → systemd answering in the container, systemd's userspace start →
multi-user.target (which waits for the supervisor's READY=1, local mode), ExecStart → READY=1, and
`systemctl poweroff` → nspawn gone. Medians of several boots, with the spread. Needs root, the cached tree
(scripts/deps/systemd.sh) and libchdb.

Usage: bench/systemd-boot-bench.py --build build [--runs 5]
"""
import argparse
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    b = os.path.abspath(a.build)
    os.environ.update({
        "SOURCE_ROOT": os.path.dirname(HERE),
        "SUPERVISOR_BIN": f"{b}/src/supervisor/otel-supervisor", "OTELCTL_BIN": f"{b}/src/otelctl/otelctl",
        "LOGGEN_BIN": f"{b}/src/loggen/loggen", "SHIPPER_BIN": f"{b}/src/shipper/shipper",
        "ENDPOINT_BIN": f"{b}/src/clickhouse-endpoint/clickhouse-endpoint", "HTTP_LOAD_BIN": f"{b}/bench/http-load"})
    os.environ.setdefault("CHDB_LIB", "/var/cache/otel-appliance/chdb/26.5.3/libchdb.so")
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "systemd"))
    import conftest as c  # noqa: E402 - the tests' machine, on purpose

    if os.geteuid() != 0 or not os.path.exists(os.path.join(os.path.dirname(c.rootfs()), ".complete")):
        print("systemd-boot-bench: needs root and the tree of scripts/deps/systemd.sh", file=sys.stderr)
        return 77
    figures = {"nspawn → systemd answering (s)": [], "userspace → multi-user.target (s)": [],
               "ExecStart → READY=1 (s)": [], "poweroff → nspawn exited (s)": []}
    base = pathlib.Path(tempfile.mkdtemp(prefix="systemd-boot-bench."))
    for i in range(a.runs):
        m = c.Machine(base, f"boot{i}")
        m.install_appliance(c.local_config())
        try:
            m.boot()
            figures["nspawn → systemd answering (s)"].append(m.t_manager)
            c.wait_until(lambda: m.show(None, "FinishTimestampMonotonic")["FinishTimestampMonotonic"] != "0", 120,
                         0.1, "boot finished")
            mgr = m.show(None, "UserspaceTimestampMonotonic", "FinishTimestampMonotonic")
            figures["userspace → multi-user.target (s)"].append(
                (int(mgr["FinishTimestampMonotonic"]) - int(mgr["UserspaceTimestampMonotonic"])) / 1e6)
            u = m.show(c.UNIT, "ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic")
            figures["ExecStart → READY=1 (s)"].append(
                (int(u["ActiveEnterTimestampMonotonic"]) - int(u["ExecMainStartTimestampMonotonic"])) / 1e6)
            t = time.monotonic()
            m.run(["systemctl", "poweroff", "--no-block"], check=False)
            m.proc.wait(60)
            figures["poweroff → nspawn exited (s)"].append(time.monotonic() - t)
        finally:
            m.shutdown()
            shutil.rmtree(m.dir, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)
    print(f"systemd-boot-bench: {a.runs} boots of the local-mode machine (median, min–max)")
    for name, v in figures.items():
        print(f"  {name:40} {statistics.median(v):6.2f}   {min(v):.2f}–{max(v):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
