#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Resource metrics benchmark (docs/metrics.md quotes its figures).

1. Sampling overhead: the shipper samples 50 pod cgroups (+ the machine) every 100 ms from a fake /proc
   and cgroup v2 tree and sends them to the embedded ClickHouse endpoint; its CPU time (utime + stime of
   the process) over a window gives CPU % of one core. Median of --runs runs. Twice: with every pod file a
   plain file of the fake tree, and with each pod file a symbolic link to a kernel file of its kind (a real
   cgroup v2 and a network namespace with lo and a veth pair made for each pod of the run, cgroup v1/v2 memory and
   cpu files), which is what the sampler reads on a node (needs root and iproute2; skipped otherwise).
2. Rows/s into ClickHouse: batches of 30 000 sample rows (50 workloads x 600 samples) as JSONEachRow over
   HTTP into metrics_raw, with its 5-minute and hourly views. Median of --runs runs.
3. Storage: one workload's day at 100 ms (864 000 samples, generated in the engine: smooth CPU with noise,
   a memory random walk, bursty network, mostly idle disk), merged into one part per day; compressed bytes
   per sample and per day against the seed's estimate (64 bytes raw, 3:1 compression).
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "storage"))
sys.path.insert(0, os.path.join(ROOT, "tests", "metrics"))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The kernel's own files (procfs, cgroupfs) that stand in for each fake pod's files with --kernel-files: a
# pod's cpu.stat is that of a real cgroup made for the run, the others are real files of the same kinds (one
# per kind, opened once per pod), so every read costs what the kernel charges for such a file.
CGROUP2 = "/sys/fs/cgroup/unified" if os.path.exists("/sys/fs/cgroup/unified/cgroup.procs") else "/sys/fs/cgroup"
KERNEL_FILES = {
    "memory.current": ["/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory/memory.usage_in_bytes"],
    "memory.max": ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"],
    "cpu.max": ["/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"],
    "io.stat": ["/sys/fs/cgroup/io.stat", f"{CGROUP2}/io.pressure"],
}


class KernelPods:
    """n real cgroups (cgroup v2) and n network namespaces, each with lo and an eth0 as a pod's sandbox
    has (eth0 a veth whose peer stays in the namespace: one interface more than a pod), held by a sleeping
    process; fails when they cannot be made (not root, no cgroup2, no iproute2)."""

    def __init__(self, n):
        self.base = os.path.join(CGROUP2, f"otel-metrics-bench-{os.getpid()}")
        self.dirs, self.procs = [], []
        try:
            os.mkdir(self.base)
            for i in range(n):
                d = os.path.join(self.base, f"pod-{i}")
                os.mkdir(d)
                self.dirs.append(d)
                self.procs.append(subprocess.Popen(
                    ["unshare", "--net", "sh", "-c",
                     "ip link add eth0 type veth peer name veth0 && ip link set lo up && ip link set eth0 up && exec sleep 3600"]))
            deadline = time.monotonic() + 30
            for p in self.procs:
                while True:
                    with open(f"/proc/{p.pid}/net/dev") as f:
                        if "eth0" in f.read():
                            break
                    if p.poll() is not None or time.monotonic() > deadline:
                        raise OSError(f"no eth0 in the network namespace of {p.pid}")
                    time.sleep(0.05)
        except OSError:
            self.close()
            raise

    def net_dev(self, i):
        return f"/proc/{self.procs[i].pid}/net/dev"

    def close(self):
        for p in self.procs:
            p.kill()
            p.wait()
        self.procs = []
        for d in self.dirs:
            os.rmdir(d)
        self.dirs = []
        if os.path.isdir(self.base):
            os.rmdir(self.base)


def make_tree(root, n_pods, kernel=None):
    from test_metrics_sampler import FakeMachine, write
    fake = FakeMachine(root)
    for i in range(n_pods):
        uid = f"{i:08x}-0000-4000-8000-000000000000"
        os.makedirs(os.path.join(fake.pods, f"bench_pod-{i}_{uid}"))
        d = os.path.join(fake.cgroup, "kubepods.slice", "kubepods-burstable.slice",
                         f"kubepods-burstable-pod{uid.replace('-', '_')}.slice")
        write(os.path.join(d, "c.scope", "cgroup.procs"), f"{10000 + i}\n")
        write(os.path.join(d, "cpu.stat"), f"usage_usec {i * 1000}\nuser_usec 1\nsystem_usec 1\n")
        write(os.path.join(d, "memory.current"), f"{(i + 1) << 20}\n")
        write(os.path.join(d, "memory.max"), "max\n")
        write(os.path.join(d, "cpu.max"), "200000 100000\n")
        write(os.path.join(d, "io.stat"), "8:0 rbytes=1 wbytes=2 rios=1 wios=1\n")
        with open(os.path.join(fake.proc, "4242", "net", "dev")) as f:
            write(os.path.join(fake.proc, str(10000 + i), "net", "dev"), f.read())
        if kernel:
            def link(target, name):
                os.unlink(name)
                os.symlink(target, name)
            link(os.path.join(kernel.dirs[i], "cpu.stat"), os.path.join(d, "cpu.stat"))
            for name, candidates in KERNEL_FILES.items():
                link(next(c for c in candidates if os.path.exists(c)), os.path.join(d, name))
            link(kernel.net_dev(i), os.path.join(fake.proc, str(10000 + i), "net", "dev"))
    return fake


def overhead(args, ep, runs, kernel_files=False):
    from test_metrics_sampler import Shipper
    results = []
    for run in range(runs):
        work = tempfile.mkdtemp(prefix="metrics-bench-")
        kernel = None
        if kernel_files:
            try:
                kernel = KernelPods(50)
            except OSError as e:
                print(f"  skipped: {e}")
                return None
        try:
            fake = make_tree(work, 50, kernel)
            sh = Shipper(work, f"http://127.0.0.1:{ep.port}", "--sample-targets", "host,pods",
                         "--sample-interval", "100ms", "--sample-batch-samples", "100", "--proc-root", fake.proc, "--cgroup-root", fake.cgroup,
                         "--pods-log-dir", fake.pods, "--host-name", f"bench{run}")
            sh.wait(lambda m: m["shipper_sampler_workloads"] == 52, "51 pods and the machine")
            time.sleep(2)
            c0, t0, m0 = cpu_seconds(sh.proc.pid), time.monotonic(), sh.metrics()
            time.sleep(args.seconds)
            c1, t1, m1 = cpu_seconds(sh.proc.pid), time.monotonic(), sh.metrics()
            sh.stop()
            pct = 100 * (c1 - c0) / (t1 - t0)
            samples = m1["shipper_sampler_samples_total"] - m0["shipper_sampler_samples_total"]
            late = m1["shipper_sampler_ticks_late_total"] - m0["shipper_sampler_ticks_late_total"]
            print(f"  run {run + 1}: {pct:.2f} % of one core, {samples / (t1 - t0):.0f} samples/s, "
                  f"{late} late ticks")
            results.append(pct)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            if kernel:
                kernel.close()
    print(f"  median: {statistics.median(results):.2f} % of one core (min {min(results):.2f}, max {max(results):.2f})")
    return statistics.median(results)


def rows_per_second(ep, runs):
    rnd = random.Random(1)
    now = int(time.time() * 1000)
    body = "".join(json.dumps({
        "customer_id": f"ns{i % 5}", "vm_id": f"pod-{i % 50}", "timestamp": now - 120_000 + (i // 50) * 100,
        "interval_ms": 100, "cpu_usage_percent": rnd.random() * 100, "cpu_used_us": rnd.randint(0, 200000),
        "cpu_limit_millicores": 2000, "memory_used_bytes": rnd.randint(1 << 28, 1 << 30),
        "memory_total_bytes": 1 << 31, "network_rx_bytes": rnd.randint(0, 100000),
        "network_tx_bytes": rnd.randint(0, 100000), "disk_read_bytes": 0, "disk_write_bytes": rnd.randint(0, 4096),
        "quality": 0}) + "\n" for i in range(30000)).encode()
    results = []
    for run in range(runs):
        t0 = time.monotonic()
        for b in range(10):
            r = ep.query("INSERT INTO metrics_raw FORMAT JSONEachRow", body=body,
                         params={"insert_deduplication_token": f"bench-{run}-{b}",
                                 "deduplicate_blocks_in_dependent_materialized_views": 1})
            assert r.status == 200, r
        dt = time.monotonic() - t0
        results.append(300000 / dt)
        print(f"  run {run + 1}: {300000 / dt:,.0f} rows/s ({len(body) / 1e6:.1f} MB JSON per 30 000-row batch)")
    return statistics.median(results)


def storage(ep):
    ep.ok("TRUNCATE TABLE metrics_raw")
    day = "toDateTime64(toStartOfDay(now()) - INTERVAL 1 DAY, 3)"
    ep.ok(f"""
        INSERT INTO metrics_raw
        SELECT 'cust_123', 'vm-1', {day} + toIntervalMillisecond(number * 100), 100,
               toFloat32(round(greatest(0, least(100, 40 + 25 * sin(number / 36000) + (cityHash64(number) % 1000) / 50.0 - 10)), 2)),
               toUInt64(greatest(0, least(100, 40 + 25 * sin(number / 36000) + (cityHash64(number) % 1000) / 50.0 - 10)) * 2000),
               2000,
               toUInt64(1073741824 + 268435456 * sin(number / 86400) + (cityHash64(number, 1) % 4096) * 4096),
               2147483648,
               if(cityHash64(number, 2) % 10 < 3, cityHash64(number, 3) % 200000, 0),
               if(cityHash64(number, 4) % 10 < 3, cityHash64(number, 5) % 100000, 0),
               if(cityHash64(number, 6) % 100 < 2, (cityHash64(number, 7) % 64) * 4096, 0),
               if(cityHash64(number, 8) % 100 < 5, (cityHash64(number, 9) % 64) * 4096, 0),
               0
        FROM numbers(864000)""")
    ep.ok("OPTIMIZE TABLE metrics_raw FINAL")
    rows, comp, uncomp = (int(x) for x in ep.scalar(
        "SELECT sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes) FROM system.parts "
        "WHERE database = 'default' AND table = 'metrics_raw' AND active").split())
    on_disk = int(ep.scalar("SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'default' "
                            "AND table = 'metrics_raw' AND active"))
    cols = ep.rows("SELECT name, data_compressed_bytes AS c, data_uncompressed_bytes AS u FROM system.columns "
                   "WHERE database = 'default' AND table = 'metrics_raw' ORDER BY c DESC")
    print(f"  {rows} samples (one workload, one day at 100 ms)")
    print(f"  uncompressed {uncomp / rows:.1f} B/sample, compressed {comp / rows:.2f} B/sample "
          f"(ratio {uncomp / comp:.1f}:1), on disk with marks and index {on_disk / rows:.2f} B/sample")
    print(f"  per workload per day: {comp / 1e6:.1f} MB compressed ({on_disk / 1e6:.1f} MB on disk); "
          f"seed estimate: 55.3 MB raw, 18.4 MB at 3:1 (64 B and 21.3 B/sample)")
    for c in cols:
        print(f"    {c['name']:<22} {int(c['c']) / rows:6.2f} B/sample compressed ({int(c['u']) / rows:.1f} raw)")
    return comp / rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--overhead-only", action="store_true", help="only the sampling overhead")
    args = ap.parse_args()
    os.environ.setdefault("SHIPPER", os.path.join(args.build, "src", "shipper", "shipper"))
    os.environ.setdefault("CLICKHOUSE_ENDPOINT", os.path.join(args.build, "src", "clickhouse-endpoint",
                                                              "clickhouse-endpoint"))
    os.environ.setdefault("SCHEMA_DIR", os.path.join(ROOT, "manifests", "clickhouse", "schema"))
    from endpoint import Endpoint
    with Endpoint() as ep:
        print(f"sampling overhead, 51 pod cgroups + the machine at 100 ms, a batch every 10 s, {args.seconds:.0f} s windows,")
        print("  the pods' files in a plain directory tree (each file checked for replacement before it is read):")
        pct = overhead(args, ep, args.runs)
        print("  the pods' files the kernel's own (real cgroups, procfs; read through open files from offset 0):")
        kpct = overhead(args, ep, args.runs, kernel_files=True)
        if args.overhead_only:
            print(f"SUMMARY sampler_cpu_percent={pct:.2f} sampler_cpu_percent_kernel_files={kpct}")
            return
        print("rows/s into ClickHouse (metrics_raw + 5-minute and hourly views), 10 x 30 000 rows:")
        rps = rows_per_second(ep, args.runs)
        print(f"  median: {rps:,.0f} rows/s")
        print("storage per sample after compression:")
        bps = storage(ep)
    print(f"SUMMARY sampler_cpu_percent={pct:.2f} sampler_cpu_percent_kernel_files="
          f"{kpct if kpct is None else round(kpct, 2)} rows_per_second={rps:.0f} compressed_bytes_per_sample={bps:.2f}")


if __name__ == "__main__":
    main()
