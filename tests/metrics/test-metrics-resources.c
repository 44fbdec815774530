/* SPDX-License-Identifier: MIT */
/* The sampler's readings on fake /proc and cgroup v2 trees written into a temporary directory, and the
 * arithmetic turning two readings into a sample. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sampler-pods.h"
#include "sampler-resources.h"

static char root[] = "/tmp/test-metrics-XXXXXX";

static void put(const char *rel, const char *text) {
        char path[512], cmd[600];
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
        cr_assert_eq(system(cmd), 0);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f, "%s", path);
        fputs(text, f);
        fclose(f);
}

static const char *at(const char *rel) {
        static char path[4][512];
        static int i;
        i = (i + 1) % 4;
        snprintf(path[i], sizeof(path[i]), "%s/%s", root, rel);
        return path[i];
}

static void setup(void) {
        cr_assert_not_null(mkdtemp(root));
}

static void teardown(void) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        cr_expect_eq(system(cmd), 0);
        memcpy(root, "/tmp/test-metrics-XXXXXX", sizeof(root));
}

#define NET_HDR                                                                                             \
        "Inter-|   Receive                                                |  Transmit\n"                    \
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets\n"

static void host_files(void) {
        put("proc/stat",
            "cpu  100 20 30 5000 40 5 6 7 0 0\ncpu0 50 10 15 2500 20 2 3 3 0 0\ncpu1 50 10 15 2500 20 3 3 4 0 0\n"
            "intr 12345\nbtime 1700000000\n");
        put("proc/meminfo", "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:   12000000 kB\n");
        put("proc/net/dev",
            NET_HDR "    lo: 5000 10 0 0 0 0 0 0 5000 10 0 0 0 0 0 0\n"
                    "  eth0: 1000 1 0 0 0 0 0 0 2000 2 0 0 0 0 0 0\n"
                    "  eth1: 10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0\n");
        put("proc/diskstats",
            "   8       0 sda 10 0 100 5 20 0 200 6 0 0 0\n"
            "   8       1 sda1 9 0 90 5 19 0 190 6 0 0 0\n"
            " 259       0 nvme0n1 1 0 8 0 1 0 16 0 0 0 0\n"
            " 259       1 nvme0n1p1 1 0 8 0 1 0 16 0 0 0 0\n"
            "   7       0 loop0 1 0 1000 0 0 0 0 0 0 0 0\n"
            " 253       0 dm-0 1 0 1000 0 1 0 1000 0 0 0 0\n");
}

Test(resources, host, .init = setup, .fini = teardown) {
        ResourceCounters c;
        uint64_t mc, mem, hz = (uint64_t) sysconf(_SC_CLK_TCK);

        host_files();
        cr_assert_eq(resources_host_totals(at("proc"), &mc, &mem), 0);
        cr_expect_eq(mc, 2000);
        cr_expect_eq(mem, 16000000ULL * 1024);
        cr_assert_eq(resources_read_host(at("proc"), &c), 0);
        /* busy = user + nice + system + irq + softirq + steal */
        cr_expect_eq(c.cpu_usec, (100 + 20 + 30 + 5 + 6 + 7) * (1000000 / hz));
        cr_expect_eq(c.identity, 1700000000);
        cr_expect_eq(c.cpu_limit_millicores, 2000);
        cr_expect_eq(c.mem_limit, 16000000ULL * 1024);
        cr_expect_eq(c.mem_used, 4000000ULL * 1024);
        cr_expect_eq(c.net_rx, 1010, "loopback excluded");
        cr_expect_eq(c.net_tx, 2020);
        cr_expect_eq(c.disk_read, (100 + 8) * 512, "partitions, loop and dm excluded");
        cr_expect_eq(c.disk_write, (200 + 16) * 512);
}

Test(resources, host_malformed, .init = setup, .fini = teardown) {
        ResourceCounters c;

        host_files();
        put("proc/stat", "intr 1\n");
        cr_expect_eq(resources_read_host(at("proc"), &c), -EBADMSG);
        host_files();
        put("proc/net/dev", NET_HDR "  eth0: 12 x\n");
        cr_expect_eq(resources_read_host(at("proc"), &c), -EBADMSG);
        cr_expect_eq(resources_read_host(at("nonexistent"), &c), -ENOENT);
}

typedef struct Found {
        char ns[8][64], name[8][64], uid[8][64];
        int n;
} Found;

static int on_pod(const char *ns, const char *name, const char *uid, const char *dir, void *userdata) {
        Found *f = userdata;
        cr_assert_lt(f->n, 8);
        snprintf(f->ns[f->n], 64, "%s", ns);
        snprintf(f->name[f->n], 64, "%s", name);
        snprintf(f->uid[f->n], 64, "%s", uid);
        f->n++;
        return 0;
}

static int find_pod(const Found *f, const char *name) {
        for (int i = 0; i < f->n; i++)
                if (strcmp(f->name[i], name) == 0)
                        return i;
        return -1;
}

Test(resources, pods_systemd_and_cgroupfs, .init = setup, .fini = teardown) {
        Found f = {0};
        int i;

        put("cg/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1111aaaa_2222_3333_4444_555566667777.slice/"
            "cri-containerd-1.scope/cgroup.procs",
            "77\n");
        put("cg/kubepods.slice/kubepods-pod9999aaaa_0000_0000_0000_000000000000.slice/cpu.stat",
            "usage_usec 1\n");
        put("cg/kubepods/besteffort/podabcdef01-2222-3333-4444-555566667777/cpu.stat", "usage_usec 1\n");
        put("cg/system.slice/podman-pod12345678.scope/cpu.stat", "not a pod\n");
        /* Not pods: a pod's directory renamed aside, and one being made beside it. */
        put("cg/kubepods.slice/kubepods-pod9999aaaa_0000_0000_0000_000000000000.slice.old/cpu.stat",
            "usage_usec 1\n");
        put("cg/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1111aaaa_2222_3333_4444_555566667777.slice.new/"
            "cpu.stat",
            "usage_usec 1\n");
        put("pods/shop_cart-7f9c_1111aaaa-2222-3333-4444-555566667777/c/0.log", "");
        put("pods/kube-system_coredns-1_abcdef01-2222-3333-4444-555566667777/c/0.log", "");

        cr_assert_eq(resources_find_pods(at("cg"), at("pods"), on_pod, &f), 0);
        cr_assert_eq(f.n, 3);
        i = find_pod(&f, "cart-7f9c");
        cr_assert_geq(i, 0);
        cr_expect_str_eq(f.ns[i], "shop");
        cr_expect_str_eq(f.uid[i], "1111aaaa-2222-3333-4444-555566667777");
        i = find_pod(&f, "coredns-1");
        cr_assert_geq(i, 0);
        cr_expect_str_eq(f.ns[i], "kube-system");
        i = find_pod(&f, "9999aaaa-0000-0000-0000-000000000000");
        cr_assert_geq(i, 0, "a pod without a log directory keeps its uid");
        cr_expect_str_eq(f.ns[i], "unknown");
        cr_expect_eq(
                resources_cgroup_pid(at("cg/kubepods.slice/kubepods-burstable.slice/"
                                        "kubepods-burstable-pod1111aaaa_2222_3333_4444_555566667777.slice")),
                77);
        cr_expect_lt(resources_find_pods(at("missing"), at("pods"), on_pod, &f), 0);
}

Test(resources, pod_readings, .init = setup, .fini = teardown) {
        ResourceTarget *t = resource_target_new(RESOURCE_POD, "shop", "cart");
        ResourceCounters c;

        cr_assert_not_null(t);
        t->cgroup_dir = strdup(at("cg/pod"));
        put("cg/pod/cpu.stat", "usage_usec 123456\nuser_usec 1\nsystem_usec 2\n");
        put("cg/pod/memory.current", "1048576\n");
        put("cg/pod/memory.max", "max\n");
        put("cg/pod/cpu.max", "250000 100000\n");
        put("cg/pod/io.stat",
            "8:0 rbytes=100 wbytes=200 rios=1 wios=2\n8:16 rbytes=1 wbytes=2 rios=1 wios=1\n");
        put("proc/42/net/dev", NET_HDR "  eth0: 300 1 0 0 0 0 0 0 400 2 0 0 0 0 0 0\n");
        t->pid = 42;
        cr_assert_eq(resources_read_pod(at("proc"), t, 8000, 1ULL << 33, &c), 0);
        cr_expect_eq(c.cpu_usec, 123456);
        cr_expect_eq(c.mem_used, 1048576);
        cr_expect_eq(c.mem_limit, 1ULL << 33, "memory.max 'max' is the machine's memory");
        cr_expect_eq(c.cpu_limit_millicores, 2500);
        cr_expect_eq(c.disk_read, 101);
        cr_expect_eq(c.disk_write, 202);
        cr_expect_eq(c.net_rx, 300);
        cr_expect_eq(c.net_tx, 400);

        put("cg/pod/cpu.max", "max 100000\n");
        put("cg/pod/memory.max", "2097152\n");
        cr_assert_eq(resources_read_pod(at("proc"), t, 8000, 1ULL << 33, &c), 0);
        cr_expect_eq(c.cpu_limit_millicores, 8000);
        cr_expect_eq(c.mem_limit, 2097152);

        put("cg/pod/cpu.stat", "user_usec 1\n");
        cr_expect_eq(resources_read_pod(at("proc"), t, 8000, 1ULL << 33, &c), -EBADMSG);
        resource_target_free(t);
}

/* cgroup v1 (a node without the unified hierarchy): one tree per controller, the pods found once, in
 * the memory tree, and read from every controller's tree at the same path. */
Test(resources, pods_cgroup_v1, .init = setup, .fini = teardown) {
        Found f = {0};
        ResourceCounters c;
        ResourceTarget *t;
        const char *pod = "kubepods/burstable/pod1111aaaa-2222-3333-4444-555566667777";
        char rel[256];

#define V1(ctl, file, text)                                                                                 \
        do {                                                                                                \
                snprintf(rel, sizeof(rel), "cg1/%s/%s/%s", ctl, pod, file);                                 \
                put(rel, text);                                                                             \
        } while (0)
        V1("memory", "memory.usage_in_bytes", "2097152\n");
        V1("memory", "memory.limit_in_bytes", "9223372036854771712\n");
        V1("memory", "cgroup.procs", "55\n");
        V1("cpuacct", "cpuacct.usage", "5000000123\n");
        V1("cpu", "cpu.cfs_quota_us", "50000\n");
        V1("cpu", "cpu.cfs_period_us", "100000\n");
        V1("blkio",
           "blkio.throttle.io_service_bytes_recursive",
           "8:0 Read 10\n8:0 Write 20\n8:0 Sync 5\n8:0 Total 30\n8:16 Read 1\n8:16 Write 2\nTotal 33\n");
        V1("pids", "pids.current", "3\n");
        put("cg1/cpu/kubepods/besteffort/podabcdef01-2222-3333-4444-555566667777/cpu.shares", "2\n");
        put("pods/shop_cart-7f9c_1111aaaa-2222-3333-4444-555566667777/c/0.log", "");
        put("proc/55/net/dev", NET_HDR "  eth0: 300 1 0 0 0 0 0 0 400 2 0 0 0 0 0 0\n");

        cr_assert_eq(resources_find_pods(at("cg1"), at("pods"), on_pod, &f), 0);
        cr_assert_eq(f.n, 1, "a pod is found once, not once per controller");
        cr_expect_str_eq(f.name[0], "cart-7f9c");

        t = resource_target_new(RESOURCE_POD, "shop", "cart-7f9c");
        cr_assert_not_null(t);
        snprintf(rel, sizeof(rel), "cg1/memory/%s", pod);
        t->cgroup_dir = strdup(at(rel));
        t->pid = resources_cgroup_pid(t->cgroup_dir);
        cr_expect_eq(t->pid, 55);
        cr_assert_eq(resources_read_pod(at("proc"), t, 8000, 1ULL << 33, &c), 0);
        cr_expect_eq(c.cpu_usec, 5000000);
        cr_expect_eq(c.mem_used, 2097152);
        cr_expect_eq(c.mem_limit, 1ULL << 33, "no limit: the machine's memory");
        cr_expect_eq(c.cpu_limit_millicores, 500);
        cr_expect_eq(c.disk_read, 11);
        cr_expect_eq(c.disk_write, 22);
        cr_expect_eq(c.net_rx, 300);

        V1("memory", "memory.limit_in_bytes", "67108864\n");
        V1("cpu", "cpu.cfs_quota_us", "-1\n");
        cr_assert_eq(resources_read_pod(at("proc"), t, 8000, 1ULL << 33, &c), 0);
        cr_expect_eq(c.mem_limit, 67108864);
        cr_expect_eq(c.cpu_limit_millicores, 8000, "no CPU quota: the machine's CPUs");

        V1("cpuacct", "cpuacct.usage", "garbage\n");
        cr_expect_eq(resources_read_pod(at("proc"), t, 8000, 1ULL << 33, &c), -EBADMSG);
#undef V1
        resource_target_free(t);
}

Test(resources, process, .init = setup, .fini = teardown) {
        ResourceCounters c;
        uint64_t hz = (uint64_t) sysconf(_SC_CLK_TCK);

        /* A command name with blanks and a parenthesis; tpgid -1, nice -5. */
        put("proc/7/stat",
            "7 (we (ird) name) S 1 7 7 0 -1 4194560 100 0 0 0 30 12 0 0 20 -5 1 0 98765 1000 50 0 0\n");
        put("proc/7/status", "Name:\tx\nVmRSS:\t    2048 kB\n");
        put("proc/7/io", "rchar: 5\nwchar: 6\nread_bytes: 4096\nwrite_bytes: 8192\n");
        cr_assert_eq(resources_read_process(at("proc"), 7, 4000, 1ULL << 30, &c), 0);
        cr_expect_eq(c.cpu_usec, 42 * (1000000 / hz));
        cr_expect_eq(c.identity, 98765);
        cr_expect_eq(c.mem_used, 2048 * 1024);
        cr_expect_eq(c.disk_read, 4096);
        cr_expect_eq(c.disk_write, 8192);
        cr_expect_eq(c.cpu_limit_millicores, 4000);
        cr_expect_eq(resources_read_process(at("proc"), 8, 4000, 1ULL << 30, &c), -ESRCH);
        put("proc/9/stat", "9 (x S 1\n");
        cr_expect_eq(resources_read_process(at("proc"), 9, 4000, 1ULL << 30, &c), -EBADMSG);
}

Test(resources, counter_delta) {
        ResourceStats st = {0};

        cr_expect_eq(resource_counter_delta(10, 25, 64, &st), 15);
        cr_expect_eq(resource_counter_delta(5, 5, 64, &st), 0);
        /* A 64-bit counter that was reset, read between 2^31 and 2^32 before: a reset, counted as 0, not a
         * 32-bit wrap of 2^32 - 2959809074 + 1000 = 1335159222 bytes. */
        cr_expect_eq(resource_counter_delta(UINT64_C(2959809074), 1000, 64, &st), 0);
        cr_expect_eq(resource_counter_delta(UINT32_MAX - 99, 50, 64, &st), 0);
        cr_expect_eq(resource_counter_delta(1000000, 10, 64, &st), 0);
        cr_expect_eq(resource_counter_delta(UINT64_C(1) << 40, 5, 64, &st), 0);
        cr_expect_eq(st.counter_resets, 4);
        cr_expect_eq(st.counter_wraps, 0);
        /* A counter known to be 32 bits wide wraps: 100 before 2^32, 50 after. */
        cr_expect_eq(resource_counter_delta(UINT32_MAX - 99, 50, 32, &st), 150);
        /* A total over two 32-bit counters (above 2^32) of which one wrapped: modulo 2^32. */
        cr_expect_eq(
                resource_counter_delta(
                        (UINT64_C(1) << 32) + 4000000000u, (UINT64_C(1) << 32) + 100, 32, &st),
                (UINT64_C(1) << 32) + 100 - 4000000000u);
        cr_expect_eq(st.counter_wraps, 2);
        /* A small step back: as a wrap it would be more than 2^31, so it is a reset. */
        cr_expect_eq(resource_counter_delta(1000000, 10, 32, &st), 0);
        cr_expect_eq(st.counter_resets, 5);
}

Test(resources, samples) {
        ResourceTarget *t = resource_target_new(RESOURCE_POD, "ns", "pod");
        ResourceStats st = {0};
        ResourceSample s;
        ResourceCounters c = {
                .cpu_usec = 1000,
                .net_rx = 10,
                .mem_used = 100,
                .mem_limit = 1000,
                .cpu_limit_millicores = 500,
                .identity = 1};

        cr_assert_not_null(t);
        cr_expect_eq(
                resource_sample_make(t, &c, 1000000, 5000, 1000000, &st, &s), 0, "first reading: baseline");

        /* 100 ms later, 25 ms of CPU on half a core: 50 %. */
        c.cpu_usec += 25000;
        c.net_rx += 500;
        cr_assert_eq(resource_sample_make(t, &c, 1100000, 5100, 1000000, &st, &s), 1);
        cr_expect_eq(s.interval_ms, 100);
        cr_expect_eq(s.timestamp_ms, 5100);
        cr_expect_eq(s.cpu_used_us, 25000);
        cr_expect(s.cpu_percent > 49.999 && s.cpu_percent < 50.001, "%f", s.cpu_percent);
        cr_expect_eq(s.net_rx, 500);
        cr_expect_eq(s.quality, 0);

        /* 1.5 s later (a gap), 800 ms of CPU on half a core (> 100 %), memory above the limit. */
        c.cpu_usec += 800000;
        c.mem_used = 2000;
        cr_assert_eq(resource_sample_make(t, &c, 2600000, 6600, 1000000, &st, &s), 1);
        cr_expect_eq(s.interval_ms, 1500);
        cr_expect_eq(s.quality, SAMPLE_QUALITY_GAP | SAMPLE_QUALITY_CPU_OVER | SAMPLE_QUALITY_MEMORY_OVER);
        cr_expect_eq(st.gaps, 1);
        cr_expect_eq(st.cpu_over, 1);
        cr_expect_eq(st.memory_over, 1);

        /* Restarted: counters begin again at zero, their values are the interval's amounts. */
        c = (ResourceCounters){
                .cpu_usec = 3000,
                .net_rx = 7,
                .mem_used = 10,
                .mem_limit = 1000,
                .cpu_limit_millicores = 500,
                .identity = 2};
        cr_assert_eq(resource_sample_make(t, &c, 2700000, 6700, 1000000, &st, &s), 1);
        cr_expect_eq(s.cpu_used_us, 3000);
        cr_expect_eq(s.net_rx, 7);
        cr_expect_eq(st.restarts, 1);
        cr_expect_eq(st.samples, 3);

        /* The same instant again (clock did not move): no sample, new baseline. */
        cr_expect_eq(resource_sample_make(t, &c, 2700000, 6700, 1000000, &st, &s), 0);

        StrBuf b = STRBUF_INIT(4096);
        free(t->vm_id);
        t->vm_id = strdup("a\"b");
        cr_assert_eq(resource_sample_format(&b, t, &s), 0);
        cr_expect_str_eq(
                b.data,
                "{\"customer_id\":\"ns\",\"vm_id\":\"a\\\"b\",\"timestamp\":6700,\"interval_ms\":100,"
                "\"cpu_usage_percent\":6.0000,\"cpu_used_us\":3000,\"cpu_limit_millicores\":500,"
                "\"memory_used_bytes\":10,\"memory_total_bytes\":1000,\"network_rx_bytes\":7,"
                "\"network_tx_bytes\":0,\"disk_read_bytes\":0,\"disk_write_bytes\":0,\"quality\":0}\n");
        strbuf_done(&b);
        resource_target_free(t);
}

static int on_child(pid_t pid, const char *comm, void *userdata) {
        char *out = userdata;
        size_t l = strlen(out);
        snprintf(out + l, 256 - l, "%d:%s,", (int) pid, comm);
        return 0;
}

Test(resources, children, .init = setup, .fini = teardown) {
        char out[256] = "";

        put("proc/1/task/1/children", "10 11 12 ");
        put("proc/10/comm", "loggen\n");
        put("proc/12/comm", "clickhouse-endp\n"); /* 11 is gone */
        cr_assert_eq(resources_find_children(at("proc"), 1, on_child, out), 0);
        cr_expect_str_eq(out, "10:loggen,12:clickhouse-endp,");
        cr_expect_lt(resources_find_children(at("proc"), 2, on_child, out), 0);
}

/* Readings through the target's open files: a file updated in place or replaced by a rename is read anew,
 * limits are read again after a while or at once after a restart, a cgroup that is gone is an error. */
/* Whether a pod's directory is cgroup v1 or v2 is looked up once per target, not at every reading. */
Test(resources, cgroup_kind_looked_up_once, .init = setup, .fini = teardown) {
        ResourceTarget *t = resource_target_new(RESOURCE_POD, "shop", "cart");
        ResourceCounters c;

        cr_assert_not_null(t);
        t->cgroup_dir = strdup(at("cgk/pod"));
        /* Not there yet: neither kind, looked at again at the next reading. */
        cr_expect_lt(resource_target_read(t, at("proc"), 8000, 1ULL << 33, &c), 0);
        cr_expect_eq(t->cgroup_v1, -1);

        put("cgk/pod/cpu.stat", "usage_usec 100\n");
        put("cgk/pod/memory.current", "4096\n");
        put("cgk/pod/memory.max", "8192\n");
        put("cgk/pod/cpu.max", "100000 100000\n");
        cr_assert_eq(resource_target_read(t, at("proc"), 8000, 1ULL << 33, &c), 0);
        cr_expect_eq(c.cpu_usec, 100);
        cr_expect_eq(t->cgroup_v1, 0);

        /* A v2 directory stays one: v1's file name is not looked for again. */
        put("cgk/pod/memory.usage_in_bytes", "1\n");
        put("cgk/pod/cpu.stat", "usage_usec 300\n");
        cr_assert_eq(resource_target_read(t, at("proc"), 8000, 1ULL << 33, &c), 0);
        cr_expect_eq(c.cpu_usec, 300);
        cr_expect_eq(c.mem_used, 4096);
        resource_target_free(t);
}

Test(resources, open_files_plain_tree, .init = setup, .fini = teardown) {
        ResourceTarget *t = resource_target_new(RESOURCE_POD, "shop", "cart");
        ResourceCounters c;
        uint64_t identity;
        char from[512], to[512];

        cr_assert_not_null(t);
        t->cgroup_dir = strdup(at("cg/pod"));
        put("cg/pod/cpu.stat", "usage_usec 100\n");
        put("cg/pod/memory.current", "4096\n");
        put("cg/pod/memory.max", "8192\n");
        put("cg/pod/cpu.max", "100000 100000\n");
        put("cg/pod/io.stat", "8:0 rbytes=1 wbytes=2 rios=1 wios=1\n");
        put("proc/42/net/dev", NET_HDR "  eth0: 300 1 0 0 0 0 0 0 400 2 0 0 0 0 0 0\n");
        t->pid = 42;
        cr_assert_eq(resource_target_read(t, at("proc"), 8000, 1ULL << 33, &c), 0);
        cr_expect_eq(c.cpu_usec, 100);
        cr_expect_eq(c.mem_limit, 8192);
        cr_expect_eq(c.net_rx, 300);
        cr_expect(t->files[0].fd >= 0 && !t->files[0].pseudo, "cpu.stat is kept open, as a plain file");
        cr_expect(!t->net_failed);
        identity = c.identity;

        /* In place, and replaced by a rename. */
        put("cg/pod/cpu.stat", "usage_usec 200\n");
        cr_assert_eq(resource_target_read(t, at("proc"), 8000, 1ULL << 33, &c), 0);
        cr_expect_eq(c.cpu_usec, 200);
        put("cg/pod/cpu.stat.new", "usage_usec 300\n");
        cr_assert_eq(rename(at("cg/pod/cpu.stat.new"), at("cg/pod/cpu.stat")), 0);
        cr_assert_eq(resource_target_read(t, at("proc"), 8000, 1ULL << 33, &c), 0);
        cr_expect_eq(c.cpu_usec, 300);
        cr_expect_eq(c.identity, identity, "the same cgroup");

        /* A new limit shows within 50 readings (5 s at 100 ms), not on every one. */
        put("cg/pod/memory.max", "16384\n");
        cr_assert_eq(resource_target_read(t, at("proc"), 8000, 1ULL << 33, &c), 0);
        cr_expect_eq(c.mem_limit, 8192);
        for (int i = 0; i < 50; i++)
                cr_assert_eq(resource_target_read(t, at("proc"), 8000, 1ULL << 33, &c), 0);
        cr_expect_eq(c.mem_limit, 16384);

        /* The cgroup made anew (the pod restarted): new identity, its limits at once. */
        snprintf(from, sizeof(from), "%s", at("cg/pod"));
        snprintf(to, sizeof(to), "%s", at("cg/old"));
        cr_assert_eq(rename(from, to), 0);
        put("cg/pod/cpu.stat", "usage_usec 5\n");
        put("cg/pod/memory.current", "4096\n");
        put("cg/pod/memory.max", "32768\n");
        t->have_prev = true;
        t->prev.identity = identity;
        cr_assert_eq(resource_target_read(t, at("proc"), 8000, 1ULL << 33, &c), 0);
        cr_expect_neq(c.identity, identity);
        cr_expect_eq(c.cpu_usec, 5);
        cr_expect_eq(c.mem_limit, 32768);
        cr_expect_eq(c.cpu_limit_millicores, 8000, "no cpu.max: the machine's");

        /* Its process gone: no network counters, said so. */
        cr_assert_eq(unlink(at("proc/42/net/dev")), 0);
        cr_assert_eq(resource_target_read(t, at("proc"), 8000, 1ULL << 33, &c), 0);
        cr_expect(t->net_failed);

        /* Gone altogether. */
        snprintf(from, sizeof(from), "rm -rf '%s'", at("cg/pod"));
        cr_assert_eq(system(from), 0);
        cr_expect_eq(resource_target_read(t, at("proc"), 8000, 1ULL << 33, &c), -ENOENT);
        resource_target_free(t);
}

/* The kernel's own files (procfs): kept open and read from offset 0, they show the process's CPU time grow,
 * and a process that exited is -ESRCH. */
Test(resources, open_files_kernel) {
        ResourceTarget *t = resource_target_new(RESOURCE_PROCESS, "local", "child");
        ResourceCounters a, b;
        pid_t pid;
        int status;

        cr_assert_not_null(t);
        pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0)
                for (;;) /* busy until killed */
                        ;
        t->pid = pid;
        cr_assert_eq(resource_target_read(t, "/proc", 2000, 1ULL << 30, &a), 0);
        cr_expect(
                t->files[0].fd >= 0 && t->files[0].pseudo,
                "/proc/<pid>/stat is kept open, as a kernel file");
        usleep(300 * 1000);
        cr_assert_eq(resource_target_read(t, "/proc", 2000, 1ULL << 30, &b), 0);
        cr_expect_gt(
                b.cpu_usec,
                a.cpu_usec,
                "read again from offset 0: %llu then %llu",
                (unsigned long long) a.cpu_usec,
                (unsigned long long) b.cpu_usec);
        cr_expect_eq(b.identity, a.identity);
        kill(pid, SIGKILL);
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_expect_eq(resource_target_read(t, "/proc", 2000, 1ULL << 30, &b), -ESRCH);
        resource_target_free(t);
}
