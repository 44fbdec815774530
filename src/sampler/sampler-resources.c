/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cleanup.h"
#include "macro.h"
#include "parse-util.h"
#include "sampler-resources.h"

#define READ_MAX (64 * 1024)

ResourceTarget *resource_target_new(ResourceKind kind, const char *customer_id, const char *vm_id) {
        ResourceTarget *t = calloc(1, sizeof(ResourceTarget));
        if (!t)
                return NULL;
        t->kind = kind;
        t->net_bits = 64;
        t->cgroup_v1 = -1;
        for (size_t i = 0; i < RESOURCE_FILES_MAX; i++)
                t->files[i].fd = -EBADF;
        t->customer_id = strdup(customer_id);
        t->vm_id = strdup(vm_id);
        if (!t->customer_id || !t->vm_id)
                return resource_target_free(t);
        return t;
}

ResourceTarget *resource_target_free(ResourceTarget *t) {
        if (!t)
                return NULL;
        resource_target_close_files(t);
        free(t->customer_id);
        free(t->vm_id);
        free(t->cgroup_dir);
        free(t);
        return NULL;
}

/* Reads a small file into buf (NUL-terminated, at most size - 1 bytes). */
static int read_small(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t n = 0;

        if (fd < 0)
                return -errno;
        while (n < size - 1) {
                ssize_t k = read(fd, buf + n, size - 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = 0;
        return (int) n;
}

void resource_target_close_files(ResourceTarget *t) {
        for (size_t i = 0; i < RESOURCE_FILES_MAX; i++)
                t->files[i].fd = safe_close(t->files[i].fd);
}

/* Reads the whole file behind fd from offset 0 into buf (NUL-terminated, at most size - 1 bytes). */
static int pread_small(int fd, char *buf, size_t size) {
        size_t n = 0;

        while (n < size - 1) {
                ssize_t k = pread(fd, buf + n, size - 1 - n, (off_t) n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                n += (size_t) k;
                /* A short read is the end: procfs and cgroupfs fill the buffer as far as the file goes
                 * (and a second read would cost a syscall per file and tick). */
                if (k == 0 || n < size - 1)
                        break;
        }
        buf[n] = 0;
        return (int) n;
}

static int file_open(ResourceFile *f, const char *path) {
        struct statfs sfs;
        struct stat st;

        f->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (f->fd < 0)
                return f->fd = -errno;
        if (fstat(f->fd, &st) < 0 || fstatfs(f->fd, &sfs) < 0) {
                int r = -errno;
                f->fd = safe_close(f->fd);
                return r;
        }
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        f->pseudo = sfs.f_type == PROC_SUPER_MAGIC || sfs.f_type == CGROUP2_SUPER_MAGIC ||
                    sfs.f_type == CGROUP_SUPER_MAGIC || sfs.f_type == SYSFS_MAGIC;
        return 0;
}

/* Reads a file into buf through f (NULL: open, read, close). A kernel file stays open and is read from
 * offset 0 each time; on a read error it is opened again once (a cgroup removed and made again). */
static int read_file(ResourceFile *f, char *buf, size_t size, const char *fmt, ...) _printf_(4, 5);
static int read_file(ResourceFile *f, char *buf, size_t size, const char *fmt, ...) {
        char path[PATH_MAX];
        struct stat st;
        va_list ap;
        int k, r;

        /* The common case, without even formatting the path. */
        if (f && f->fd >= 0 && f->pseudo) {
                r = pread_small(f->fd, buf, size);
                if (r >= 0)
                        return r;
                f->fd = safe_close(f->fd);
        }
        va_start(ap, fmt);
        k = vsnprintf(path, sizeof(path), fmt, ap);
        va_end(ap);
        if (k < 0 || (size_t) k >= sizeof(path))
                return -ENAMETOOLONG;
        if (!f)
                return read_small(path, buf, size);
        /* A plain file (a test's tree) may be replaced by a rename between readings. */
        if (f->fd >= 0 && !f->pseudo && (stat(path, &st) < 0 || st.st_ino != f->ino || st.st_dev != f->dev))
                f->fd = safe_close(f->fd);
        for (;;) {
                bool fresh = f->fd < 0;
                if (fresh) {
                        r = file_open(f, path);
                        if (r < 0)
                                return r;
                }
                r = pread_small(f->fd, buf, size);
                if (r >= 0)
                        return r;
                f->fd = safe_close(f->fd);
                if (fresh)
                        return r;
        }
}

/* The unsigned number at the start of s (after blanks); 0 on success. */
static int leading_u64(const char *s, const char **ret_end, uint64_t *ret) {
        uint64_t v = 0;
        const char *p = s;

        while (*p == ' ' || *p == '\t')
                p++;
        if (*p < '0' || *p > '9')
                return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
                unsigned d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        if (ret_end)
                *ret_end = p;
        return 0;
}

/* Value of "key value" / "key: value" lines (as in cpu.stat, meminfo, /proc/<pid>/io). */
static int keyed_u64(const char *text, const char *key, uint64_t *ret) {
        size_t kl = strlen(key);
        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                if (strncmp(p, key, kl) != 0)
                        continue;
                const char *v = p + kl;
                if (*v == ':')
                        v++;
                if (*v != ' ' && *v != '\t')
                        continue;
                return leading_u64(v, NULL, ret);
        }
        return -ENODATA;
}

int resources_host_totals(const char *proc_root, uint64_t *ret_millicores, uint64_t *ret_mem_total) {
        char buf[READ_MAX];
        uint64_t cpus = 0, kb;
        int r;

        r = read_file(NULL, buf, sizeof(buf), "%s/stat", proc_root);
        if (r < 0)
                return r;
        for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (startswith(p, "cpu") && p[3] >= '0' && p[3] <= '9')
                        cpus++;
        r = read_file(NULL, buf, sizeof(buf), "%s/meminfo", proc_root);
        if (r < 0)
                return r;
        r = keyed_u64(buf, "MemTotal", &kb);
        if (r < 0)
                return r;
        *ret_millicores = MAX(cpus, UINT64_C(1)) * 1000;
        *ret_mem_total = kb * 1024;
        return 0;
}

static uint64_t ticks_to_usec(uint64_t ticks) {
        static long hz = 0;
        if (hz <= 0)
                hz = sysconf(_SC_CLK_TCK);
        if (hz <= 0)
                hz = 100;
        return ticks * (UINT64_C(1000000) / (uint64_t) hz);
}

static int read_net_dev(
        ResourceFile *f, const char *proc_root, pid_t pid, uint64_t *ret_rx, uint64_t *ret_tx) {
        char buf[READ_MAX];
        uint64_t rx = 0, tx = 0;
        int r;

        if (pid > 0)
                r = read_file(f, buf, sizeof(buf), "%s/%d/net/dev", proc_root, (int) pid);
        else
                r = read_file(f, buf, sizeof(buf), "%s/net/dev", proc_root);
        if (r < 0)
                return r;
        /* Two header lines, then "  name: rx_bytes packets … (8 fields) tx_bytes …". */
        for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                const char *colon = strchr(p, ':'), *nl = strchr(p, '\n');
                const char *name = p, *q;
                uint64_t v[9];

                if (!colon || (nl && colon > nl))
                        continue;
                while (*name == ' ')
                        name++;
                if (colon - name == 2 && strncmp(name, "lo", 2) == 0)
                        continue;
                q = colon + 1;
                for (int i = 0; i < 9; i++)
                        if (leading_u64(q, &q, &v[i]) < 0)
                                return -EBADMSG;
                rx += v[0];
                tx += v[8];
        }
        *ret_rx = rx;
        *ret_tx = tx;
        return 0;
}

int resources_read_net_dev(const char *proc_root, pid_t pid, uint64_t *ret_rx, uint64_t *ret_tx) {
        return read_net_dev(NULL, proc_root, pid, ret_rx, ret_tx);
}

static int read_diskstats(ResourceFile *f, const char *proc_root, uint64_t *ret_read, uint64_t *ret_write) {
        char buf[READ_MAX], last_disk[64] = "";
        uint64_t rd = 0, wr = 0;
        int r;

        r = read_file(f, buf, sizeof(buf), "%s/diskstats", proc_root);
        if (r < 0)
                return r;
        /* "major minor name reads merged sectors_read ms writes merged sectors_written …". Whole disks
         * only: partitions (name = an earlier disk's name + suffix), loop, ram and device-mapper devices
         * would count the same bytes twice or are not disks. */
        for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                uint64_t major, minor, v[7];
                const char *q = p, *name;
                size_t len;

                if (leading_u64(q, &q, &major) < 0 || leading_u64(q, &q, &minor) < 0)
                        continue;
                while (*q == ' ')
                        q++;
                name = q;
                len = strcspn(name, " \n");
                q = name + len;
                for (int i = 0; i < 7; i++)
                        if (leading_u64(q, &q, &v[i]) < 0)
                                return -EBADMSG;
                if (len == 0 || len >= sizeof(last_disk) || strncmp(name, "loop", 4) == 0 ||
                    strncmp(name, "ram", 3) == 0 || strncmp(name, "dm-", 3) == 0 ||
                    strncmp(name, "zram", 4) == 0)
                        continue;
                if (last_disk[0] && len > strlen(last_disk) &&
                    strncmp(name, last_disk, strlen(last_disk)) == 0)
                        continue;
                memcpy(last_disk, name, len);
                last_disk[len] = 0;
                rd += v[2] * 512;
                wr += v[6] * 512;
        }
        *ret_read = rd;
        *ret_write = wr;
        return 0;
}

#define FILE_OF(files, i) ((files) ? &(files)[i] : NULL)

static int read_host(ResourceFile *files, const char *proc_root, ResourceCounters *ret) {
        char buf[READ_MAX];
        ResourceCounters c = {0};
        uint64_t v[8] = {0}, total_kb, avail_kb;
        const char *q;
        int r;

        r = read_file(FILE_OF(files, 0), buf, sizeof(buf), "%s/stat", proc_root);
        if (r < 0)
                return r;
        if (!startswith(buf, "cpu "))
                return -EBADMSG;
        /* user nice system idle iowait irq softirq steal: busy is all but idle and iowait. */
        q = buf + 4;
        for (int i = 0; i < 8; i++)
                if (leading_u64(q, &q, &v[i]) < 0) {
                        if (i < 4)
                                return -EBADMSG;
                        break;
                }
        c.cpu_usec = ticks_to_usec(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
        (void) keyed_u64(buf, "btime", &c.identity);
        c.cpu_limit_millicores = 0;
        for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (startswith(p, "cpu") && p[3] >= '0' && p[3] <= '9')
                        c.cpu_limit_millicores += 1000;
        if (c.cpu_limit_millicores == 0)
                c.cpu_limit_millicores = 1000;

        r = read_file(FILE_OF(files, 1), buf, sizeof(buf), "%s/meminfo", proc_root);
        if (r < 0)
                return r;
        if (keyed_u64(buf, "MemTotal", &total_kb) < 0 || keyed_u64(buf, "MemAvailable", &avail_kb) < 0)
                return -EBADMSG;
        c.mem_limit = total_kb * 1024;
        c.mem_used = (total_kb - MIN(avail_kb, total_kb)) * 1024;

        r = read_net_dev(FILE_OF(files, 2), proc_root, 0, &c.net_rx, &c.net_tx);
        if (r < 0)
                return r;
        r = read_diskstats(FILE_OF(files, 3), proc_root, &c.disk_read, &c.disk_write);
        if (r < 0)
                return r;
        *ret = c;
        return 0;
}

int resources_read_host(const char *proc_root, ResourceCounters *ret) {
        return read_host(NULL, proc_root, ret);
}

pid_t resources_cgroup_pid(const char *dir) {
        char path[PATH_MAX], buf[256];
        _cleanup_(closedirp) DIR *d = NULL;
        uint64_t pid;
        struct dirent *de;

        if ((size_t) snprintf(path, sizeof(path), "%s/cgroup.procs", dir) < sizeof(path) &&
            read_small(path, buf, sizeof(buf)) > 0 && leading_u64(buf, NULL, &pid) == 0 && pid > 0 &&
            pid < INT32_MAX)
                return (pid_t) pid;
        d = opendir(dir);
        if (!d)
                return 0;
        while ((de = readdir(d))) {
                pid_t p;
                if (de->d_type != DT_DIR || de->d_name[0] == '.')
                        continue;
                if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
                        continue;
                p = resources_cgroup_pid(path);
                if (p > 0)
                        return p;
        }
        return 0;
}

/* Limits change seldom (a resize): through open files, they are read every this many readings (5 s at the
 * default 100 ms), and at once after a restart. */
#define LIMITS_EVERY 50

static void read_pod_limits(
        ResourceFile *files,
        const ResourceTarget *t,
        uint64_t host_millicores,
        uint64_t host_mem,
        uint64_t *ret_cpu,
        uint64_t *ret_mem) {
        char buf[256];
        uint64_t quota, period;
        const char *q;
        int r;

        r = read_file(FILE_OF(files, 2), buf, sizeof(buf), "%s/memory.max", t->cgroup_dir);
        if (r < 0 || leading_u64(buf, NULL, ret_mem) < 0)
                *ret_mem = host_mem; /* "max" */

        /* cpu.max: "<quota|max> <period>". */
        *ret_cpu = host_millicores;
        r = read_file(FILE_OF(files, 3), buf, sizeof(buf), "%s/cpu.max", t->cgroup_dir);
        if (r >= 0 && leading_u64(buf, &q, &quota) == 0 && leading_u64(q, NULL, &period) == 0 && period > 0)
                *ret_cpu = MAX(quota * 1000 / period, UINT64_C(1));
}

/* cache: the target whose open files are used and whose limits are kept (NULL: open every file). */
/* cgroup v1 (one hierarchy per controller): the pod was found in the memory hierarchy
 * ("<root>/memory/<path>"); the other controllers keep the same <path> beside it. */
static int read_pod_v1(const char *dir, uint64_t host_millicores, uint64_t host_mem, ResourceCounters *c) {
        char buf[READ_MAX], root[PATH_MAX];
        const char *m = NULL, *rel;
        uint64_t v, quota, period;
        int r;

        for (const char *p = strstr(dir, "/memory/"); p; p = strstr(p + 1, "/memory/"))
                m = p;
        if (!m || (size_t) (m - dir) >= sizeof(root))
                return -EBADMSG;
        memcpy(root, dir, (size_t) (m - dir));
        root[m - dir] = 0;
        rel = m + strlen("/memory/");

        /* cpuacct.usage: nanoseconds, the pod's containers included. */
        r = read_file(NULL, buf, sizeof(buf), "%s/cpuacct/%s/cpuacct.usage", root, rel);
        if (r < 0)
                r = read_file(NULL, buf, sizeof(buf), "%s/cpu,cpuacct/%s/cpuacct.usage", root, rel);
        if (r < 0)
                return r;
        if (leading_u64(buf, NULL, &v) < 0)
                return -EBADMSG;
        c->cpu_usec = v / 1000;

        r = read_file(NULL, buf, sizeof(buf), "%s/memory.usage_in_bytes", dir);
        if (r < 0)
                return r;
        if (leading_u64(buf, NULL, &c->mem_used) < 0)
                return -EBADMSG;
        /* No limit reads as a huge page-aligned number: the machine's memory. */
        r = read_file(NULL, buf, sizeof(buf), "%s/memory.limit_in_bytes", dir);
        c->mem_limit = r >= 0 && leading_u64(buf, NULL, &v) == 0 && v < host_mem ? v : host_mem;

        /* cpu.cfs_quota_us is -1 without a limit. */
        c->cpu_limit_millicores = host_millicores;
        r = read_file(NULL, buf, sizeof(buf), "%s/cpu/%s/cpu.cfs_quota_us", root, rel);
        if (r < 0)
                r = read_file(NULL, buf, sizeof(buf), "%s/cpu,cpuacct/%s/cpu.cfs_quota_us", root, rel);
        if (r >= 0 && leading_u64(buf, NULL, &quota) == 0) {
                r = read_file(NULL, buf, sizeof(buf), "%s/cpu/%s/cpu.cfs_period_us", root, rel);
                if (r < 0)
                        r = read_file(
                                NULL, buf, sizeof(buf), "%s/cpu,cpuacct/%s/cpu.cfs_period_us", root, rel);
                if (r >= 0 && leading_u64(buf, NULL, &period) == 0 && period > 0)
                        c->cpu_limit_millicores = MAX(quota * 1000 / period, UINT64_C(1));
        }

        /* blkio: "maj:min Read N" / "maj:min Write N" per device, then "Total N". The _recursive file
         * counts the containers below the pod; older kernels only have the pod's own. */
        r = read_file(
                NULL, buf, sizeof(buf), "%s/blkio/%s/blkio.throttle.io_service_bytes_recursive", root, rel);
        if (r < 0)
                r = read_file(
                        NULL, buf, sizeof(buf), "%s/blkio/%s/blkio.throttle.io_service_bytes", root, rel);
        if (r >= 0)
                for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                        const char *sp = strchr(p, ' '), *nl = strchr(p, '\n');
                        if (!sp || (nl && sp > nl))
                                continue;
                        if (startswith(sp + 1, "Read ") && leading_u64(sp + 6, NULL, &v) == 0)
                                c->disk_read += v;
                        else if (startswith(sp + 1, "Write ") && leading_u64(sp + 7, NULL, &v) == 0)
                                c->disk_write += v;
                }
        return 0;
}

/* Whether the pod's directory is a cgroup v1 one. Looked up once per target (it was a syscall per pod and
 * tick): v1 is remembered when its file is there, v2 once a v2 reading worked (read_pod()), so a directory
 * not there yet is looked at again. */
static bool cgroup_is_v1(ResourceTarget *cache, const ResourceTarget *t) {
        char path[PATH_MAX];
        bool v1;

        if (cache && cache->cgroup_v1 >= 0)
                return cache->cgroup_v1 == 1;
        v1 = (size_t) snprintf(path, sizeof(path), "%s/memory.usage_in_bytes", t->cgroup_dir) <
                     sizeof(path) &&
             access(path, F_OK) == 0;
        if (cache && v1)
                cache->cgroup_v1 = 1;
        return v1;
}

static int read_pod(
        ResourceTarget *cache,
        const char *proc_root,
        const ResourceTarget *t,
        uint64_t host_millicores,
        uint64_t host_mem,
        ResourceCounters *ret) {
        ResourceFile *files = cache ? cache->files : NULL;
        char buf[READ_MAX];
        ResourceCounters c = {0};
        struct stat st;
        bool plain;
        int r;

        /* cgroup v1: read by path each time (the open-file cache is laid out for v2's files). */
        if (cgroup_is_v1(cache, t)) {
                if (stat(t->cgroup_dir, &st) < 0)
                        return -errno;
                c.identity = (uint64_t) st.st_ino;
                r = read_pod_v1(t->cgroup_dir, host_millicores, host_mem, &c);
                if (r < 0)
                        return r;
                goto net;
        }

        r = read_file(FILE_OF(files, 0), buf, sizeof(buf), "%s/cpu.stat", t->cgroup_dir);
        if (r < 0)
                return r;
        if (keyed_u64(buf, "usage_usec", &c.cpu_usec) < 0)
                return -EBADMSG;
        if (cache)
                cache->cgroup_v1 = 0;
        /* A cgroup made anew (the pod restarted) has new inodes. The kernel's cpu.stat, kept open, says so
         * itself: a removed cgroup's file fails to read and is opened again, by path. A plain file (a
         * test's tree) is replaced on every update, so there the directory tells — before and after the
         * files are read, so that the counters and the identity are of the same directory. */
        plain = !files || !files[0].pseudo;
        if (plain) {
                if (stat(t->cgroup_dir, &st) < 0)
                        return -errno;
                c.identity = (uint64_t) st.st_ino;
        } else
                c.identity = (uint64_t) files[0].ino;

        r = read_file(FILE_OF(files, 1), buf, sizeof(buf), "%s/memory.current", t->cgroup_dir);
        if (r < 0)
                return r;
        if (leading_u64(buf, NULL, &c.mem_used) < 0)
                return -EBADMSG;

        if (!cache)
                read_pod_limits(NULL, t, host_millicores, host_mem, &c.cpu_limit_millicores, &c.mem_limit);
        else {
                if (cache->limits_left == 0 || (cache->have_prev && cache->prev.identity != c.identity)) {
                        read_pod_limits(
                                files, t, host_millicores, host_mem, &cache->limit_cpu, &cache->limit_mem);
                        cache->limits_left = LIMITS_EVERY;
                }
                cache->limits_left--;
                c.cpu_limit_millicores = cache->limit_cpu;
                c.mem_limit = cache->limit_mem;
        }

        /* io.stat: "maj:min rbytes=N wbytes=N rios=…" per device. */
        r = read_file(FILE_OF(files, 4), buf, sizeof(buf), "%s/io.stat", t->cgroup_dir);
        if (r >= 0)
                for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                        const char *rb = strstr(p, " rbytes="), *wb = strstr(p, " wbytes="),
                                   *nl = strchr(p, '\n');
                        uint64_t v;
                        if (rb && (!nl || rb < nl) && leading_u64(rb + 8, NULL, &v) == 0)
                                c.disk_read += v;
                        if (wb && (!nl || wb < nl) && leading_u64(wb + 8, NULL, &v) == 0)
                                c.disk_write += v;
                }
        /* Replaced while it was read: another reading next time. */
        if (plain && (stat(t->cgroup_dir, &st) < 0 || (uint64_t) st.st_ino != c.identity))
                return -EAGAIN;

net:
        /* The pod's network namespace, seen through one of its processes. */
        if (t->pid > 0) {
                r = read_net_dev(FILE_OF(files, 5), proc_root, t->pid, &c.net_rx, &c.net_tx);
                if (cache)
                        cache->net_failed = r < 0;
        }
        *ret = c;
        return 0;
}

int resources_read_pod(
        const char *proc_root,
        const ResourceTarget *t,
        uint64_t host_millicores,
        uint64_t host_mem,
        ResourceCounters *ret) {
        return read_pod(NULL, proc_root, t, host_millicores, host_mem, ret);
}

static int read_process(
        ResourceFile *files,
        const char *proc_root,
        pid_t pid,
        uint64_t host_millicores,
        uint64_t host_mem,
        ResourceCounters *ret) {
        char buf[READ_MAX];
        ResourceCounters c = {0};
        uint64_t f[22], kb;
        const char *q;
        int r;

        r = read_file(FILE_OF(files, 0), buf, sizeof(buf), "%s/%d/stat", proc_root, (int) pid);
        if (r < 0)
                return r == -ENOENT ? -ESRCH : r;
        /* After the command name in parentheses (which may hold anything): state, then numbers. */
        q = strrchr(buf, ')');
        if (!q || q[1] != ' ' || !q[2])
                return -EBADMSG;
        q += 3; /* skip ") <state>" */
        while (*q && *q != ' ')
                q++;
        /* Fields 4 to 22 (ppid … starttime); tpgid, priority and nice may be negative (kept as 0). */
        for (int i = 4; i <= 22; i++) {
                while (*q == ' ')
                        q++;
                if (*q == '-') {
                        q++;
                        while (*q >= '0' && *q <= '9')
                                q++;
                        f[i - 1] = 0;
                        continue;
                }
                if (leading_u64(q, &q, &f[i - 1]) < 0)
                        return -EBADMSG;
        }
        c.cpu_usec = ticks_to_usec(f[13] + f[14]); /* utime + stime */
        c.identity = f[21];                        /* starttime */

        r = read_file(FILE_OF(files, 1), buf, sizeof(buf), "%s/%d/status", proc_root, (int) pid);
        if (r >= 0 && keyed_u64(buf, "VmRSS", &kb) == 0)
                c.mem_used = kb * 1024;
        r = read_file(FILE_OF(files, 2), buf, sizeof(buf), "%s/%d/io", proc_root, (int) pid);
        if (r >= 0) {
                (void) keyed_u64(buf, "read_bytes", &c.disk_read);
                (void) keyed_u64(buf, "write_bytes", &c.disk_write);
        }
        c.mem_limit = host_mem;
        c.cpu_limit_millicores = host_millicores;
        *ret = c;
        return 0;
}

int resources_read_process(
        const char *proc_root,
        pid_t pid,
        uint64_t host_millicores,
        uint64_t host_mem,
        ResourceCounters *ret) {
        return read_process(NULL, proc_root, pid, host_millicores, host_mem, ret);
}

int resource_target_read(
        ResourceTarget *t,
        const char *proc_root,
        uint64_t host_millicores,
        uint64_t host_mem,
        ResourceCounters *ret) {
        /* The /proc files of another process than last time (a pod's process was found anew): not those. */
        if (t->files_pid != t->pid) {
                if (t->kind == RESOURCE_PROCESS)
                        resource_target_close_files(t);
                else if (t->kind == RESOURCE_POD)
                        t->files[5].fd = safe_close(t->files[5].fd);
                t->files_pid = t->pid;
        }
        switch (t->kind) {
        case RESOURCE_HOST:
                return read_host(t->files, proc_root, ret);
        case RESOURCE_POD:
                return read_pod(t, proc_root, t, host_millicores, host_mem, ret);
        case RESOURCE_PROCESS:
                return read_process(t->files, proc_root, t->pid, host_millicores, host_mem, ret);
        default:
                return -EINVAL;
        }
}

/* --- children of a process ---------------------------------------------------------------------------- */

int resources_find_children(const char *proc_root, pid_t parent, ResourceChildFound found, void *userdata) {
        char buf[READ_MAX], comm[64];
        const char *p;
        int r;

        r = read_file(
                NULL, buf, sizeof(buf), "%s/%d/task/%d/children", proc_root, (int) parent, (int) parent);
        if (r < 0)
                return r;
        for (p = buf; *p;) {
                uint64_t pid;
                if (leading_u64(p, &p, &pid) < 0)
                        break;
                if (pid == 0 || pid > INT32_MAX)
                        continue;
                r = read_file(NULL, comm, sizeof(comm), "%s/%" PRIu64 "/comm", proc_root, pid);
                if (r < 0)
                        continue; /* gone meanwhile */
                comm[strcspn(comm, "\n")] = 0;
                r = found((pid_t) pid, comm, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}
