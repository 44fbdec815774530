/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "macro.h"
#include "sampler.h"

/* The sampler's options, part of the shipper's option table (shipper-config.c). */

int sampler_config_init(SamplerConfig *c) {
        ConfigOption table[SAMPLER_OPTIONS_MAX];
        size_t n;

        /* The defaults are written once, in the option table below. */
        *c = (SamplerConfig){};
        n = sampler_config_options(c, table, ELEMENTSOF(table));
        return config_apply_defaults(table, n);
}

void sampler_config_done(SamplerConfig *c) {
        free(c->targets);
        free(c->table);
        free(c->spool_dir);
        free(c->proc_root);
        free(c->cgroup_root);
        free(c->pods_log_dir);
        free(c->host_name);
}

static int parse_targets(const ConfigOption *o, const char *value) {
        const char *p = value;
        while (*p) {
                size_t n = strcspn(p, ",");
                if (!((n == 4 && strncmp(p, "host", 4) == 0) || (n == 4 && strncmp(p, "pods", 4) == 0) ||
                      (n == 8 && strncmp(p, "children", 8) == 0)))
                        return -EINVAL;
                p += n;
                if (*p == ',')
                        p++;
        }
        return config_parse_string(o, value);
}

static int parse_counter_bits(const ConfigOption *o, const char *value) {
        if (!streq(value, "32") && !streq(value, "64"))
                return -EINVAL;
        return config_parse_int64(o, value);
}

#define S_STRING(n, e, field, def, h)                                                                       \
        {                                                                                                   \
                .name = n, .env = e, .metavar = "STRING", .defval = def, .help = h,                         \
                .parse = config_parse_string, .data = &c->field                                             \
        }
#define S_DURATION(n, e, field, def, lo, hi, h)                                                             \
        {                                                                                                   \
                .name = n, .env = e, .metavar = "DURATION", .defval = def, .help = h,                       \
                .parse = config_parse_duration, .data = &c->field, .min = lo, .max = hi                     \
        }
#define S_INT(n, e, field, def, lo, hi, h)                                                                  \
        {                                                                                                   \
                .name = n, .env = e, .metavar = "N", .defval = def, .help = h, .parse = config_parse_int64, \
                .data = &c->field, .min = lo, .max = hi                                                     \
        }

size_t sampler_config_options(SamplerConfig *c, ConfigOption *table, size_t max) {
        const ConfigOption options[] = {
                {.name = "sample-targets",
                 .env = "SHIPPER_SAMPLE_TARGETS",
                 .metavar = "LIST",
                 .defval = "",
                 .help = "resource samples to send to sample-table: host, pods, children (comma-separated); "
                         "empty: none",
                 .parse = parse_targets,
                 .data = &c->targets,
                 .expect = "a comma-separated list of host, pods, children"},
                S_DURATION(
                        "sample-interval",
                        "SHIPPER_SAMPLE_INTERVAL",
                        interval_nsec,
                        "100ms",
                        10 * NSEC_PER_MSEC,
                        NSEC_PER_HOUR,
                        "time between resource samples"),
                S_INT("sample-batch-samples",
                      "SHIPPER_SAMPLE_BATCH_SAMPLES",
                      batch_samples,
                      "600",
                      1,
                      100000,
                      "a batch of samples is sent after this many samples of each workload"),
                S_DURATION(
                        "sample-flush-interval",
                        "SHIPPER_SAMPLE_FLUSH_INTERVAL",
                        flush_interval_nsec,
                        "60s",
                        10 * NSEC_PER_MSEC,
                        NSEC_PER_HOUR,
                        "… or when its first sample is this old"),
                S_DURATION(
                        "sample-gap",
                        "SHIPPER_SAMPLE_GAP",
                        gap_nsec,
                        "1s",
                        NSEC_PER_MSEC,
                        NSEC_PER_HOUR,
                        "a longer time between two samples of a workload is counted as a gap"),
                S_STRING(
                        "sample-table",
                        "SHIPPER_SAMPLE_TABLE",
                        table,
                        "metrics_raw",
                        "table for resource samples"),
                S_STRING(
                        "sample-spool-dir",
                        "SHIPPER_SAMPLE_SPOOL_DIR",
                        spool_dir,
                        "",
                        "directory keeping unacknowledged sample batches across restarts; empty: memory only"),
                S_INT("sample-spool-max",
                      "SHIPPER_SAMPLE_SPOOL_MAX",
                      spool_max,
                      "1000",
                      1,
                      1000000,
                      "unacknowledged sample batches kept; beyond, the oldest is dropped (and counted)"),
                S_STRING("proc-root", "SHIPPER_PROC_ROOT", proc_root, "/proc", "procfs to sample"),
                S_STRING(
                        "cgroup-root",
                        "SHIPPER_CGROUP_ROOT",
                        cgroup_root,
                        "/sys/fs/cgroup",
                        "cgroup v2 hierarchy holding the pods' cgroups"),
                S_STRING(
                        "pods-log-dir",
                        "SHIPPER_PODS_LOG_DIR",
                        pods_log_dir,
                        "/var/log/pods",
                        "kubelet's <namespace>_<pod>_<uid> directories, naming the pods"),
                {.name = "host-name",
                 .env = "SHIPPER_HOST_NAME",
                 .metavar = "STRING",
                 .help = "vm_id of host samples (default: the machine's host name)",
                 .parse = config_parse_string,
                 .data = &c->host_name},
                S_INT("sample-children-of",
                      "SHIPPER_SAMPLE_CHILDREN_OF",
                      children_of,
                      "0",
                      0,
                      INT32_MAX,
                      "pid whose child processes are sampled (target children); 0: the shipper's parent"),
                {.name = "sample-net-counter-bits",
                 .env = "SHIPPER_SAMPLE_NET_COUNTER_BITS",
                 .metavar = "N",
                 .defval = "64",
                 .help = "width of the kernel's network byte counters: 64, or 32 on a 32-bit kernel (a drop is "
                         "then taken for a wrap; otherwise it is a reset, counted as 0)",
                 .parse = parse_counter_bits,
                 .data = &c->net_counter_bits,
                 .min = 32,
                 .max = 64,
                 .expect = "32 or 64"},
        };
        /* The shipper's option table must have room for these (shipper-config.c). */
        assert(ELEMENTSOF(options) <= max);
        memcpy(table, options, ELEMENTSOF(options) * sizeof(ConfigOption));
        return ELEMENTSOF(options);
}
