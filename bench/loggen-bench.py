#!/usr/bin/env python3
"""loggen benchmarks: maximum rate to /dev/null, and CPU use at the default 5 s interval.

Prints medians of several runs (absolute times are noisy on a shared 2-core machine).
Usage: bench/loggen-bench.py [--loggen PATH] [--runs N] [--lines N] [--idle-seconds S]
"""
import argparse
import os
import statistics
import subprocess
import time

def proc_cpu_seconds(pid):
    # schedstat's first field is the time spent on a CPU in nanoseconds: far finer than the clock ticks of
    # /proc/PID/stat, which round an idle program's minute down to zero.
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def max_rate(loggen, lines):
    """One run at an unreachable rate; returns (lines/s, CPU-s per million lines)."""
    t0 = time.monotonic()
    r0 = os.times()
    subprocess.run(
        [loggen, "--rate", "100000000", "--count", str(lines), "--health-port", "0", "--health-address", "127.0.0.1", "--seed", "1"],
        stdout=subprocess.DEVNULL,
        check=True,
    )
    wall = time.monotonic() - t0
    r1 = os.times()
    cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    return lines / wall, cpu / (lines / 1e6)


def idle_cpu(loggen, seconds):
    """Default settings (one line per 5 s) for `seconds`; returns (CPU %, CPU ms, peak RSS KiB)."""
    p = subprocess.Popen([loggen, "--health-port", "0", "--health-address", "127.0.0.1"], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        c0 = proc_cpu_seconds(p.pid)
        time.sleep(seconds)
        c1 = proc_cpu_seconds(p.pid)
        rss = peak_rss_kib(p.pid)
    finally:
        p.terminate()
        p.wait(5)
    return 100.0 * (c1 - c0) / seconds, 1000.0 * (c1 - c0), rss


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--loggen", default=os.path.join(here, "..", "build", "src", "loggen", "loggen"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--idle-seconds", type=float, default=60)
    a = ap.parse_args()

    rates, cpus = [], []
    for _ in range(a.runs):
        rate, cpu = max_rate(a.loggen, a.lines)
        rates.append(rate)
        cpus.append(cpu)
    print(f"loggen max rate to /dev/null: median {statistics.median(rates):,.0f} lines/s over {a.runs} runs of {a.lines:,} lines "
          f"(min {min(rates):,.0f}, max {max(rates):,.0f}); {statistics.median(cpus):.3f} CPU-s per million lines")

    pct, ms, rss = idle_cpu(a.loggen, a.idle_seconds)
    print(f"loggen at the default 5s interval: {pct:.3f} % CPU ({ms:.1f} ms of CPU in {a.idle_seconds:.0f} s), peak RSS {rss} KiB")


if __name__ == "__main__":
    main()
