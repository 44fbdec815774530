/* SPDX-License-Identifier: MIT */
#pragma once

/* The sampler's outbox: sealed batches of sample rows, each compressed once, kept in the spool directory
 * (when one is configured) until ClickHouse acknowledged it, and sent one at a time in order through the
 * shared ClickHouse client with a deduplication token of its own, so a batch sent again after a restart or
 * a lost acknowledgement is stored once. Bounded: beyond spool-max batches the oldest one not in flight is
 * dropped, and counted. */

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "clickhouse-client.h"
#include "compress.h"

typedef struct SampleQueue SampleQueue;

typedef struct SampleQueueConfig {
        sd_event *event;
        ClickHouseClient *clickhouse;
        const char *table;
        const char *spool_dir; /* NULL or "": memory only */
        size_t max_batches;
        Compression compression;
        int compression_level;
} SampleQueueConfig;

typedef struct SampleQueueStats {
        uint64_t rows_sent;
        uint64_t batches_sent;
        uint64_t batches_retried;
        uint64_t batches_refused;
        uint64_t batches_dropped;
        uint64_t rows_dropped;
        uint64_t spool_errors;
        uint64_t spool_restored;
} SampleQueueStats;

/* Also picks up the batches an earlier run left in the spool (sent first, oldest first). */
int sample_queue_new(const SampleQueueConfig *c, SampleQueue **ret);
SampleQueue *sample_queue_free(SampleQueue *q);
static inline void sample_queue_freep(SampleQueue **q) {
        if (*q)
                sample_queue_free(*q);
}
/* Starts sending (what is queued and whatever comes later). */
void sample_queue_start(SampleQueue *q);
/* Seals rows (JSONEachRow lines) as a batch: token names it (in the spool and for deduplication) and must
 * sort after the tokens of earlier batches. The rows are copied. */
int sample_queue_push(SampleQueue *q, const char *token, const char *rows, size_t size, uint64_t n_rows);
size_t sample_queue_length(const SampleQueue *q);
const SampleQueueStats *sample_queue_stats(const SampleQueue *q);
