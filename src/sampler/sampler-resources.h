/* SPDX-License-Identifier: MIT */
#pragma once

/* Resource readings for the sampler: the machine (/proc), Kubernetes pods (cgroup v2 and the pod's
 * network namespace) and single processes, each as cumulative counters plus gauges; two readings of one
 * workload become one sample (amounts of the interval, CPU %), with counter wraps and restarts handled
 * and the seed's data-quality checks applied. No event loop here: the tests drive it on fake /proc and
 * /sys/fs/cgroup trees (the roots are parameters). */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "strbuf.h"

typedef struct ResourceCounters {
        uint64_t cpu_usec;              /* cumulative CPU time */
        uint64_t net_rx, net_tx;        /* cumulative bytes */
        uint64_t disk_read, disk_write; /* cumulative bytes */
        uint64_t mem_used, mem_limit;   /* gauges, bytes */
        uint64_t cpu_limit_millicores;  /* allocation */
        uint64_t identity;              /* changes when the workload restarted (start time, cgroup inode) */
} ResourceCounters;

enum {
        SAMPLE_QUALITY_GAP = 1,         /* more than the gap threshold since the previous sample */
        SAMPLE_QUALITY_CPU_OVER = 2,    /* CPU above 100 % of the allocation */
        SAMPLE_QUALITY_MEMORY_OVER = 4, /* memory above the limit */
};

typedef struct ResourceSample {
        uint64_t timestamp_ms; /* realtime */
        uint64_t interval_ms;
        double cpu_percent; /* of the allocation */
        uint64_t cpu_used_us;
        uint64_t cpu_limit_millicores;
        uint64_t mem_used, mem_total;
        uint64_t net_rx, net_tx, disk_read, disk_write; /* in the interval */
        unsigned quality;
} ResourceSample;

typedef struct ResourceStats {
        uint64_t samples;
        uint64_t gaps;
        uint64_t cpu_over;
        uint64_t memory_over;
        uint64_t counter_wraps;
        uint64_t counter_resets;
        uint64_t restarts;
        uint64_t read_errors;
} ResourceStats;

typedef enum ResourceKind {
        RESOURCE_HOST,
        RESOURCE_POD,
        RESOURCE_PROCESS,
} ResourceKind;

/* A file a target reads every tick, kept open between readings and read again from offset 0: an open,
 * a read and a close per file and tick cost the sampler most of its time, in the kernel. */
#define RESOURCE_FILES_MAX 6
typedef struct ResourceFile {
        int fd;      /* -EBADF while closed */
        bool pseudo; /* on procfs/cgroupfs/sysfs: the content is made anew on each read, the file never
                      * replaced; otherwise (a test's tree) the path is checked for a new file each time */
        dev_t dev;
        ino_t ino;
} ResourceFile;

typedef struct ResourceTarget {
        ResourceKind kind;
        char *customer_id; /* namespace, "host" or "local" */
        char *vm_id;       /* pod name, host name or process name */
        char *cgroup_dir;  /* pods: the pod's cgroup directory */
        pid_t pid;         /* processes; pods: a process in the pod's network namespace (0: not found) */
        unsigned net_bits; /* width of the network byte counters: 64, or 32 (a 32-bit kernel's) */
        ResourceCounters prev;
        uint64_t prev_mono_usec;
        bool have_prev;
        bool seen; /* found by the current discovery */
        ResourceFile files[RESOURCE_FILES_MAX];
        pid_t files_pid;               /* the process whose /proc files are open */
        uint64_t limit_cpu, limit_mem; /* pods: cpu.max and memory.max as last read */
        unsigned limits_left;          /* readings until they are read again */
        bool net_failed; /* pods: the last reading found no network counters (that process is gone) */
        int cgroup_v1;   /* pods: -1 not known yet, 1 a cgroup v1 directory, 0 v2 (a host has one kind) */
} ResourceTarget;

ResourceTarget *resource_target_new(ResourceKind kind, const char *customer_id, const char *vm_id);
ResourceTarget *resource_target_free(ResourceTarget *t);

/* Host-wide totals: 0 or a negative errno. */
int resources_host_totals(const char *proc_root, uint64_t *ret_millicores, uint64_t *ret_mem_total);

/* A reading of the target (any kind) through its open files. 0 or a negative errno (the workload is gone:
 * -ENOENT/-ESRCH); a file that fails is closed, so the next reading opens it again. */
int resource_target_read(
        ResourceTarget *t,
        const char *proc_root,
        uint64_t host_millicores,
        uint64_t host_mem,
        ResourceCounters *ret);
/* Closes the target's files. */
void resource_target_close_files(ResourceTarget *t);

/* Readings that open each file once; 0 or a negative errno (the workload is gone: -ENOENT/-ESRCH). */
int resources_read_host(const char *proc_root, ResourceCounters *ret);
/* host_millicores/host_mem stand for "max" in cpu.max/memory.max. */
int resources_read_pod(
        const char *proc_root,
        const ResourceTarget *t,
        uint64_t host_millicores,
        uint64_t host_mem,
        ResourceCounters *ret);
int resources_read_process(
        const char *proc_root,
        pid_t pid,
        uint64_t host_millicores,
        uint64_t host_mem,
        ResourceCounters *ret);

/* Network totals of the interfaces in /proc/<pid>/net/dev (pid 0: /proc/net/dev), loopback excluded. */
int resources_read_net_dev(const char *proc_root, pid_t pid, uint64_t *ret_rx, uint64_t *ret_tx);

/* The amount a cumulative counter of the given width (64 or 32 bits) grew from prev to cur. A counter below
 * its previous reading was reset (it restarted unnoticed, or a device left the total) and counts 0: never
 * negative, never a spike. Only a counter known to be 32 bits wide may wrap: a drop is then a wrap when
 * (cur - prev) mod 2^32 is below 2^31, and counts that. */
uint64_t resource_counter_delta(uint64_t prev, uint64_t cur, unsigned bits, ResourceStats *stats);

/* Turns the reading cur (taken at mono_usec/realtime_ms) into a sample against the target's previous
 * reading. Returns 1 with *ret filled, 0 for a first reading (kept as the baseline). After a restart
 * (identity changed) the counters count from zero again, so their values are the interval's amounts. */
int resource_sample_make(
        ResourceTarget *t,
        const ResourceCounters *cur,
        uint64_t mono_usec,
        uint64_t realtime_ms,
        uint64_t gap_usec,
        ResourceStats *stats,
        ResourceSample *ret);

/* Appends the sample as one JSONEachRow line for metrics_raw. */
int resource_sample_format(StrBuf *out, const ResourceTarget *t, const ResourceSample *s);

/* A process in the cgroup dir or below (its first entry of cgroup.procs), 0 if none. */
pid_t resources_cgroup_pid(const char *dir);

/* Calls found() for every child of parent (/proc/<parent>/task/<parent>/children). */
typedef int (*ResourceChildFound)(pid_t pid, const char *comm, void *userdata);
int resources_find_children(const char *proc_root, pid_t parent, ResourceChildFound found, void *userdata);
