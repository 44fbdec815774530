# SPDX-License-Identifier: MIT
"""The shipper's resource sampler end to end: fake /proc and cgroup v2 trees (test input written here, with
known counter increments, a reset of a 64-bit network counter read between 2^31 and 2^32, a pod restart, a
counter going backwards, memory above the limit, a CPU burst and a stall) are sampled at 100 ms by the real
shipper and inserted into the real engine; the stored rows must add up to exactly the increments, with no
negative or spiking rate, the seed's bill query must bill them, and the data-quality counters in /metrics
must show every irregularity. A 32-bit counter (--sample-net-counter-bits 32) wraps instead. Also: spooled
batches re-sent after a restart are stored once, and the children of a process (the local runtime) are
sampled from the real /proc."""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.environ.get("STORAGE_TESTS_DIR", os.path.join(os.path.dirname(__file__), "..", "storage")))
from endpoint import INGEST, Endpoint  # noqa: E402

SHIPPER = os.environ.get("SHIPPER", "build/src/shipper/shipper")
UID = "0d1f3a52-7c4e-4b8e-9a7e-5f3c2b1a0e99"
HZ = os.sysconf("SC_CLK_TCK")
# CPU time of the burst step: above a 1-core allocation in any interval shorter than 2 s (sample-gap is 1 s),
# however late the sampler's round comes on a busy machine.
BURST_US = 2_000_000
BUSY_CPU_S = 0.5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


_libc = ctypes.CDLL(None, use_errno=True)
RENAME_EXCHANGE = 2


def exchange(a, b):
    """renameat2(RENAME_EXCHANGE): a and b swap places at once."""
    if _libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), RENAME_EXCHANGE) != 0:  # AT_FDCWD
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), a)


class FakeMachine:
    """A /proc and a cgroup v2 tree with one pod, counters set by the test."""

    def __init__(self, root, pod_rx=(1 << 32) - 5000, rx_bits=64, pod="shop_cart-7f9c"):
        self.rx_mod = 1 << rx_bits
        self.proc = os.path.join(root, "proc")
        self.cgroup = os.path.join(root, "cgroup")
        self.pods = os.path.join(root, "pods")
        os.makedirs(os.path.join(self.pods, f"{pod}_{UID}"))
        self.pod_dir = os.path.join(self.cgroup, "kubepods.slice", "kubepods-burstable.slice",
                                    f"kubepods-burstable-pod{UID.replace('-', '_')}.slice")
        self.host = dict(busy=1000, rx=5000, tx=7000, rd=100, wr=200)
        self.pod = dict(cpu=1_000_000, mem=100 << 20, rx=pod_rx, tx=10, rd=0, wr=0)
        self.make_pod_dir()
        self.flush()

    def make_pod_dir(self):
        os.makedirs(os.path.join(self.pod_dir, "cri-containerd-abc.scope"))
        write(os.path.join(self.pod_dir, "cri-containerd-abc.scope", "cgroup.procs"), "4242\n")
        write(os.path.join(self.pod_dir, "cpu.max"), "100000 100000\n")
        write(os.path.join(self.pod_dir, "memory.max"), f"{256 << 20}\n")

    def flush(self):
        h, p = self.host, self.pod
        write(os.path.join(self.proc, "stat"),
              f"cpu  {h['busy']} 0 0 50000 0 0 0 0 0 0\ncpu0 {h['busy']} 0 0 25000 0 0 0 0 0 0\n"
              f"cpu1 0 0 0 25000 0 0 0 0 0 0\nintr 1\nbtime 1700000000\n")
        write(os.path.join(self.proc, "meminfo"), "MemTotal:  8000000 kB\nMemFree: 1 kB\nMemAvailable:  6000000 kB\n")
        hdr = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes\n"
        write(os.path.join(self.proc, "net", "dev"),
              hdr + f"    lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n  eth0: {h['rx']} 1 0 0 0 0 0 0 {h['tx']} 1 0 0 0 0 0 0\n")
        write(os.path.join(self.proc, "diskstats"),
              f"   8       0 sda 1 0 {h['rd']} 0 1 0 {h['wr']} 0 0 0 0\n   8       1 sda1 1 0 {h['rd']} 0 1 0 {h['wr']} 0 0 0 0\n"
              f"   7       0 loop0 1 0 77 0 1 0 77 0 0 0 0\n")
        write(os.path.join(self.proc, "4242", "net", "dev"),
              hdr + f"  eth0: {p['rx'] % self.rx_mod} 1 0 0 0 0 0 0 {p['tx']} 1 0 0 0 0 0 0\n")
        write(os.path.join(self.pod_dir, "cpu.stat"), f"usage_usec {p['cpu']}\nuser_usec 1\nsystem_usec 1\n")
        write(os.path.join(self.pod_dir, "memory.current"), f"{p['mem']}\n")
        write(os.path.join(self.pod_dir, "io.stat"), f"8:0 rbytes={p['rd']} wbytes={p['wr']} rios=1 wios=1\n")

    def restart_pod(self):
        """A new cgroup (new inode) in place of the old, swapped in with one atomic rename (the pod's path
        never vanishes, so no discovery can miss the pod); its counters start at zero."""
        final = self.pod_dir
        self.pod_dir = self.pod_dir + ".new"
        self.pod.update(cpu=0, rd=0, wr=0, rx=0, tx=0)  # a new pod sandbox: new network namespace too
        self.make_pod_dir()
        self.flush()
        exchange(self.pod_dir, final)
        shutil.rmtree(self.pod_dir)  # now the old cgroup
        self.pod_dir = final


class Shipper:
    def __init__(self, workdir, url, *args):
        self.port = free_port()
        self.workdir = workdir
        self.args = [SHIPPER, "--paths", os.path.join(workdir, "none", "*.log"), "--clickhouse-url", url,
                     "--checkpoint-file", os.path.join(workdir, "checkpoints"),
                     "--dead-letter-file", os.path.join(workdir, "dead.jsonl"),
                     "--listen-address", "127.0.0.1", "--listen-port", str(self.port),
                     "--retry-initial", "50ms", "--retry-max", "200ms", "--host-name", "testhost",
                     "--user", INGEST[0]] + list(args)
        self.log = open(os.path.join(workdir, "shipper.log"), "ab")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, SHIPPER_PASSWORD=INGEST[1]))
        self.wait(lambda m: "shipper_sampler_ticks_total" in m, "start")

    def metrics(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.split()
                out[k] = int(v)
        return out

    def wait(self, cond, what, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"shipper exited ({self.proc.returncode}) waiting for {what}")
            m = self.metrics()
            if m and cond(m):
                return m
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}: {self.metrics()}")

    def tick(self):
        """Returns once the sampler finished a round that began after this call: it read every file as it
        is now. (/metrics is served by the sampler's own event loop, between two rounds.)"""
        ticks = self.metrics()["shipper_sampler_ticks_total"]
        return self.wait(lambda m: m["shipper_sampler_ticks_total"] > ticks, "a sampling round")

    def drain(self):
        """Returns once every sample taken so far is in a batch ClickHouse answered (batches go out one at a
        time, in order)."""
        m = self.tick()
        done = lambda m: sum(m[f"shipper_sampler_batches_{k}_total"] for k in ("sent", "refused", "dropped"))
        target = done(m) + m["shipper_sampler_batches_queued"] + (1 if m["shipper_sampler_rows_buffered"] else 0)
        return self.wait(lambda m: done(m) >= target, "the batches of every sample taken")

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=30)
        self.log.close()
        return rc


class SamplerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ep = Endpoint().start()
        cls.url = f"http://127.0.0.1:{cls.ep.port}"

    @classmethod
    def tearDownClass(cls):
        cls.ep.cleanup()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="metrics-sampler-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def sampler_args(self, fake, *extra):
        return ["--sample-targets", "host,pods", "--sample-interval", "100ms", "--sample-batch-samples", "10",
                "--proc-root", fake.proc, "--cgroup-root", fake.cgroup, "--pods-log-dir", fake.pods] + list(extra)

    def test_totals_reset_restart_quality(self):
        # The pod's network counter is 64 bits wide; it reads 2 959 809 074 (between 2^31 and 2^32) when it
        # is reset to 0: a reset, not a 32-bit wrap of 1.24 GiB.
        fake = FakeMachine(self.dir, pod_rx=2_959_809_074)
        sh = Shipper(self.dir, self.url, *self.sampler_args(fake, "--sample-table", "metrics_raw"))
        try:
            # The first reading is the baseline: only what changes after it is counted.
            sh.wait(lambda m: m["shipper_sampler_workloads"] == 2 and m["shipper_sampler_ticks_total"] >= 3, "baseline")
            total = dict(cpu=0, rx=0, tx=0, rd=0, wr=0, hbusy=0, hrx=0)
            for i in range(40):
                if i == 25:
                    fake.restart_pod()
                step = 30_000 if i != 20 else BURST_US  # one step far above the 1-core allocation
                fake.pod["cpu"] += step
                if i == 15:
                    fake.pod["rx"] = 0  # reset (this step adds nothing to it)
                else:
                    fake.pod["rx"] += 1500
                    total["rx"] += 1500
                fake.pod["tx"] += 700
                fake.pod["rd"] += 4096
                fake.pod["wr"] += 8192
                fake.host["busy"] += 3
                fake.host["rx"] += 100
                fake.pod["mem"] = (300 << 20) if i in (10, 11) else (100 << 20) + i * 4096  # above memory.max
                total["cpu"] += step
                total["tx"] += 700
                total["rd"] += 4096
                total["wr"] += 8192
                total["hbusy"] += 3
                total["hrx"] += 100
                fake.flush()
                if i == 30:
                    sh.proc.send_signal(signal.SIGSTOP)  # a stall longer than sample-gap
                    time.sleep(1.5)
                    sh.proc.send_signal(signal.SIGCONT)
                # The sampler reads this step before the next one is made, however late either runs on a
                # busy machine: no sample holds more than one step, and the reset value is read itself.
                sh.tick()
            # Host CPU going backwards without a restart (same btime): a reset, counted as 0.
            fake.host["busy"] -= 50
            fake.flush()
            m = sh.drain()
            self.assertEqual(sh.stop(), 0)
        except BaseException:
            sh.stop(signal.SIGKILL)
            raise
        for k in ("gaps", "cpu_over_allocation", "memory_over_limit", "value_resets", "restarts"):
            self.assertGreaterEqual(m[f"shipper_sampler_{k}_total"], 1, k)
        self.assertEqual(m["shipper_sampler_value_wraps_total"], 0)
        self.assertEqual(m["shipper_sampler_batches_refused_total"], 0)
        rows = self.ep.rows("SELECT vm_id, sum(cpu_used_us) AS cpu, sum(network_rx_bytes) AS rx, "
                            "max(network_rx_bytes) AS max_rx, "
                            "sum(network_tx_bytes) AS tx, sum(disk_read_bytes) AS rd, sum(disk_write_bytes) AS wr, "
                            "max(cpu_used_us) AS max_cpu, count() AS n, groupBitOr(quality) AS q, "
                            "countIf(bitAnd(quality, 1) != 0) AS gaps, countIf(bitAnd(quality, 2) != 0) AS cpu_over, "
                            "countIf(bitAnd(quality, 4) != 0) AS mem_over, any(customer_id) AS customer, "
                            "any(cpu_limit_millicores) AS limit, any(memory_total_bytes) AS mem_total "
                            "FROM metrics_raw WHERE vm_id IN ('cart-7f9c', 'testhost') GROUP BY vm_id ORDER BY vm_id")
        pod, host = rows
        self.assertEqual(pod["customer"], "shop")
        self.assertEqual(int(pod["limit"]), 1000)
        self.assertEqual(int(pod["mem_total"]), 256 << 20)
        # The pod restarted at step 25: after it, its cpu/disk counters count from zero, so the sums are the
        # increments made after the restart plus those before it.
        self.assertEqual(int(pod["cpu"]), total["cpu"])
        self.assertEqual(int(pod["rd"]), total["rd"])
        self.assertEqual(int(pod["wr"]), total["wr"])
        self.assertEqual(int(pod["rx"]), total["rx"])
        self.assertEqual(int(pod["tx"]), total["tx"])
        self.assertEqual(int(pod["max_rx"]), 1500)  # the reset is no spike: the largest sample is one step
        self.check_bill("shop", total["cpu"], total["rx"] + total["tx"])
        # No spike, not even at the restart: the largest sample is the burst.
        self.assertEqual(int(pod["max_cpu"]), BURST_US)
        self.assertGreaterEqual(int(pod["cpu_over"]), 1)
        self.assertGreaterEqual(int(pod["mem_over"]), 1)
        self.assertGreaterEqual(int(pod["gaps"]), 1)
        self.assertEqual(int(host["cpu"]), total["hbusy"] * (1_000_000 // HZ))
        self.assertEqual(int(host["rx"]), total["hrx"])
        self.assertEqual(int(host["tx"]), 0)
        self.assertEqual(int(host["limit"]), 2000)
        self.assertEqual(int(host["mem_total"]), 8000000 * 1024)


    def check_bill(self, customer, cpu_us, net_bytes):
        """The seed's bill query (as the seed writes it, for this customer) after two pricing runs: the CPU
        time and bytes the test put into the counters, in vCPU-hours and GB (2^30 bytes)."""
        if self.ep.scalar(f"SELECT min(timestamp) >= toStartOfMonth(now()) FROM metrics_raw "
                          f"WHERE customer_id = '{customer}'") != "1":
            print("the samples began last month: the month's bill does not hold them all; not checked")
            return
        for _ in range(2):
            self.ep.ok("SYSTEM REFRESH VIEW default.billing_hourly_refresh")
            self.ep.ok("SYSTEM WAIT VIEW default.billing_hourly_refresh")
        got = self.ep.rows(f"""-- Monthly bill for customer
SELECT
    sum(vcpu_hours) as total_vcpu_hours,
    sum(memory_gb_hours) as total_memory_gb_hours,
    sum(network_gb) as total_network_gb,
    sum(total_cost) as total_cost
FROM billing_hourly
WHERE customer_id = '{customer}'
  AND hour >= toStartOfMonth(now())
  AND hour < toStartOfMonth(now()) + INTERVAL 1 MONTH;""")[0]
        self.assertAlmostEqual(float(got["total_vcpu_hours"]), cpu_us / 3600e6, delta=1e-12)
        self.assertAlmostEqual(float(got["total_network_gb"]), net_bytes / (1 << 30), delta=1e-12)
        print(f"bill of {customer}: {got}")

    def test_32bit_network_counter_wraps(self):
        """--sample-net-counter-bits 32 (a 32-bit kernel): the pod's counter passes 2^32 and is unwrapped."""
        fake = FakeMachine(self.dir, pod_rx=(1 << 32) - 5000, rx_bits=32, pod="wraps_wrap-pod")
        sh = Shipper(self.dir, self.url, *self.sampler_args(fake, "--sample-net-counter-bits", "32",
                                                             "--host-name", "wraphost"))
        try:
            sh.wait(lambda m: m["shipper_sampler_workloads"] == 2 and m["shipper_sampler_ticks_total"] >= 3, "baseline")
            for _ in range(10):
                fake.pod["rx"] += 1500
                fake.flush()
                sh.tick()  # each step read on its own
            m = sh.drain()
            self.assertEqual(sh.stop(), 0)
        except BaseException:
            sh.stop(signal.SIGKILL)
            raise
        self.assertGreaterEqual(m["shipper_sampler_value_wraps_total"], 1)
        self.assertEqual(m["shipper_sampler_value_resets_total"], 0)
        got = self.ep.rows("SELECT sum(network_rx_bytes) AS rx, max(network_rx_bytes) AS max_rx FROM metrics_raw "
                           "WHERE vm_id = 'wrap-pod'")[0]
        self.assertEqual((int(got["rx"]), int(got["max_rx"])), (15000, 1500))

    def test_spooled_batches_resent_after_restart_are_stored_once(self):
        fake = FakeMachine(self.dir)
        spool = os.path.join(self.dir, "spool")
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: batches stay in the spool
        args = ["--sample-targets", "host", "--sample-batch-samples", "5", "--proc-root", fake.proc,
                "--cgroup-root", fake.cgroup, "--pods-log-dir", fake.pods, "--sample-spool-dir", spool]
        a = Shipper(self.dir, dead, *(args + ["--host-name", "spoolhost"]))
        for _ in range(12):
            fake.host["busy"] += 5
            fake.flush()
            time.sleep(0.1)
        a.wait(lambda m: m["shipper_sampler_batches_queued"] >= 3 and m["shipper_sampler_batches_retried_total"] >= 1,
               "batches waiting for ClickHouse")
        a.stop(signal.SIGKILL)
        saved = {}
        for n in os.listdir(spool):
            with open(os.path.join(spool, n), "rb") as f:
                saved[n] = f.read()
        self.assertGreaterEqual(len(saved), 3)
        spooled_rows = sum(int(n[:-len(".batch")].rsplit("-", 1)[1]) for n in saved)

        def resend(host):
            sh = Shipper(self.dir, self.url, *(args + ["--host-name", host]))
            m = sh.wait(lambda m: m["shipper_sampler_spool_restored_total"] >= len(saved)
                        and m["shipper_sampler_batches_sent_total"] >= len(saved), "spool sent")
            self.assertEqual(sh.stop(), 0)
            self.assertEqual(m["shipper_sampler_batches_refused_total"], 0)
            return int(self.ep.scalar("SELECT count() FROM metrics_raw WHERE vm_id = 'spoolhost'"))

        first = resend("run-b")
        self.assertEqual(first, spooled_rows)
        # The same batches once more (as after a crash between the INSERT and the spool file's removal).
        for n, data in saved.items():
            with open(os.path.join(spool, n), "wb") as f:
                f.write(data)
        self.assertEqual(resend("run-c"), first)
        self.assertEqual(self.ep.scalar("SELECT sum(sample_count) FROM metrics_5min WHERE vm_id = 'spoolhost'"),
                         str(first))

    def test_children_of_a_process(self):
        """The local runtime: the supervisor's children, here this test's, from the real /proc."""
        sh = Shipper(self.dir, self.url, "--sample-targets", "children", "--sample-children-of", str(os.getpid()),
                     "--sample-batch-samples", "5", "--host-name", "children-test", "--rescan-interval", "200ms",
                     "--compression", "none")
        busy_name = os.path.basename(sys.executable)[:15]
        # The busy child burns BUSY_CPU_S of CPU time (not of wall time: on a busy machine it may get little
        # of a core) once told to, after the sampler took its first reading of it.
        busy = subprocess.Popen([sys.executable, "-c", "import sys, time\nsys.stdin.readline()\n"
                                 f"end = time.process_time() + {BUSY_CPU_S}\n"
                                 "while time.process_time() < end: pass\nprint('done', flush=True)\ntime.sleep(60)"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        idle = subprocess.Popen(["sleep", "60"])
        try:
            # Workloads are named by command: the children's names but the shipper's (the engine is one too).
            me = os.getpid()
            names = {busy_name, "sleep"}
            with open(f"/proc/{me}/task/{me}/children") as f:
                for pid in f.read().split():
                    if int(pid) not in (sh.proc.pid, busy.pid, idle.pid):
                        with open(f"/proc/{pid}/comm") as c:
                            names.add(c.read().strip())
            # Found, and so read once (the round that finds a workload reads it).
            sh.wait(lambda m: m["shipper_sampler_workloads"] >= len(names), "the children found")
            busy.stdin.write("go\n")
            busy.stdin.flush()
            self.assertEqual(busy.stdout.readline().strip(), "done")
            sh.drain()
            self.assertEqual(sh.stop(), 0)
            with open(f"/proc/{busy.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            busy_total_us = (int(fields[11]) + int(fields[12])) * 1_000_000 // HZ  # utime + stime
        finally:
            busy.kill()
            idle.kill()
            busy.wait()
            idle.wait()
        rows = {r["vm_id"]: r for r in self.ep.rows(
            "SELECT vm_id, sum(cpu_used_us) AS cpu, max(memory_used_bytes) AS mem, count() AS n "
            "FROM metrics_raw WHERE customer_id = 'local' GROUP BY vm_id")}
        self.assertIn(busy_name, rows)
        self.assertIn("sleep", rows)
        self.assertNotIn("shipper", rows)  # itself a child of this process, but not sampled
        # The busy loop's CPU time from its first reading on: all it burnt after that (less the kernel's
        # accounting granularity, a clock tick), and not more than it used in all.
        self.assertGreaterEqual(int(rows[busy_name]["cpu"]), BUSY_CPU_S * 1_000_000 - 2 * 1_000_000 // HZ)
        self.assertLessEqual(int(rows[busy_name]["cpu"]), busy_total_us)
        self.assertGreater(int(rows["sleep"]["mem"]), 0)
        self.assertLess(int(rows["sleep"]["cpu"]), int(rows[busy_name]["cpu"]))

    def test_bad_settings_are_refused_with_a_message(self):
        def run(*args):
            p = subprocess.run([SHIPPER, "--paths", os.path.join(self.dir, "*.log"), "--checkpoint-file",
                                os.path.join(self.dir, "cp"), "--dead-letter-file", os.path.join(self.dir, "dl"),
                                "--listen-address", "127.0.0.1", "--listen-port", str(free_port())] + list(args),
                               capture_output=True, text=True, timeout=30)
            return p.returncode, p.stderr
        rc, err = run("--sample-targets", "host,vms")
        self.assertEqual(rc, 2, err)
        self.assertIn("--sample-targets", err)
        self.assertIn("host, pods, children", err)
        rc, err = run("--sample-net-counter-bits", "48")
        self.assertEqual(rc, 2, err)
        self.assertIn("--sample-net-counter-bits", err)
        self.assertIn("32 or 64", err)
        rc, err = run("--sample-interval", "5ms")
        self.assertEqual(rc, 2, err)
        self.assertIn("--sample-interval", err)
        rc, err = run("--sample-targets", "host", "--proc-root", os.path.join(self.dir, "no-proc"))
        self.assertEqual(rc, 1, err)
        self.assertIn("no-proc", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
