/* SPDX-License-Identifier: MIT */
#pragma once

/* The resource sampler, a program part of its own that the shipper hosts: every sample-interval it reads
 * the machine, the pods' cgroups and/or the children of a process (sampler-resources.c), turns the
 * readings into metrics_raw rows and hands them in batches (sample-batch-samples ticks or
 * sample-flush-interval) to its queue (sampler-queue.c), which sends them through the ClickHouse client
 * the host gives it (same server, credentials and retry policy as the logs) with a deduplication token per
 * batch. Sealed batches are kept in sample-spool-dir until ClickHouse acknowledged them, so a restart
 * sends them again with the same token (stored once). It knows nothing of the shipper: it gets an event
 * loop, a client and a few settings (SamplerContext). */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "clickhouse-client.h"
#include "compress.h"
#include "config.h"
#include "strbuf.h"

typedef struct Sampler Sampler;

typedef struct SamplerConfig {
        char *targets; /* comma-separated: host, pods, children; empty: off */
        int64_t interval_nsec;
        int64_t batch_samples;
        int64_t flush_interval_nsec;
        int64_t gap_nsec;
        char *table;
        char *spool_dir;
        int64_t spool_max;
        char *proc_root;
        char *cgroup_root;
        char *pods_log_dir;
        char *host_name;
        int64_t children_of;      /* 0: the shipper's parent */
        int64_t net_counter_bits; /* 64, or 32: /proc/net/dev counters of a 32-bit kernel wrap */
} SamplerConfig;

/* Options the sampler adds to its host's table. */
#define SAMPLER_OPTIONS_MAX 24

/* Every sampler setting at its default (from the option table). 0, or -ENOMEM. */
int sampler_config_init(SamplerConfig *c);
void sampler_config_done(SamplerConfig *c);
/* Writes the sampler's options into table (room for max); returns how many. */
size_t sampler_config_options(SamplerConfig *c, ConfigOption *table, size_t max);

/* What the host lends the sampler. */
typedef struct SamplerContext {
        sd_event *event;
        ClickHouseClient *clickhouse; /* its database qualifies sample-table */
        Compression compression;      /* of the INSERT bodies */
        int compression_level;
        uint64_t discovery_interval_usec; /* pods and children are looked for this often */
} SamplerContext;

/* NULL in *ret when sampling is off. The config must outlive the sampler. */
int sampler_new(const SamplerConfig *c, const SamplerContext *ctx, Sampler **ret);
Sampler *sampler_free(Sampler *s);
int sampler_start(Sampler *s);
/* Seals the batch being filled into the spool (called when the shipper stops). */
void sampler_stop(Sampler *s);
/* Appends the sampler's counters and gauges in Prometheus text. */
int sampler_metrics_render(Sampler *s, StrBuf *out);
