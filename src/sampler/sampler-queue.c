/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "duration.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "sampler-queue.h"
#include "spool.h"

/* A spooled batch is at most what the sampler's row buffer holds, compressed. */
#define SPOOL_FILE_MAX (256 * 1024 * 1024)
#define SPOOL_PREFIX "samples-"
#define SPOOL_SUFFIX ".batch"

typedef struct SampleBatch SampleBatch;
struct SampleBatch {
        SampleBatch *next;
        char token[160];
        char *body; /* compressed as the queue's compression says */
        size_t size;
        uint64_t n_rows;
        bool spooled;
};

struct SampleQueue {
        sd_event *event;
        ClickHouseClient *clickhouse;
        char *table;
        char *spool_dir; /* NULL: memory only */
        size_t max_batches;
        Compression compression;
        Compressor *compressor;
        SampleBatch *head, *tail;
        size_t length;
        bool started;
        ClickHouseRequest *req; /* the INSERT of the head, in flight */
        unsigned attempts;
        sd_event_source *retry_timer;
        SampleQueueStats stats;
};

static SampleBatch *sample_batch_free(SampleBatch *b) {
        if (!b)
                return NULL;
        free(b->body);
        free(b);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(SampleBatch *, sample_batch_free);

static void spool_name(const SampleBatch *b, char *buf, size_t size) {
        snprintf(buf, size, "%s" SPOOL_SUFFIX, b->token);
}

static void unspool(SampleQueue *q, SampleBatch *b) {
        char name[sizeof(b->token) + sizeof(SPOOL_SUFFIX)];
        int r;

        if (!b->spooled)
                return;
        spool_name(b, name, sizeof(name));
        r = spool_remove(q->spool_dir, name);
        if (r < 0)
                log_warning_errno(r, "Cannot remove %s/%s: %m", q->spool_dir, name);
}

static void append(SampleQueue *q, SampleBatch *b) {
        /* Bounded: beyond max_batches the oldest batch not in flight is dropped, and counted. */
        while (q->length >= q->max_batches && q->head) {
                SampleBatch **pp = &q->head, *victim;
                if (q->req) /* the head is in flight */
                        pp = &q->head->next;
                if (!*pp)
                        break;
                victim = *pp;
                *pp = victim->next;
                if (q->tail == victim) {
                        q->tail = q->head;
                        while (q->tail && q->tail->next)
                                q->tail = q->tail->next;
                }
                q->length--;
                q->stats.batches_dropped++;
                q->stats.rows_dropped += victim->n_rows;
                unspool(q, victim);
                log_warning(
                        "Sample queue full (%zu batches): dropped batch %s", q->max_batches, victim->token);
                sample_batch_free(victim);
        }
        b->next = NULL;
        if (q->tail)
                q->tail->next = b;
        else
                q->head = b;
        q->tail = b;
        q->length++;
}

static void send_head(SampleQueue *q);

static int on_retry(sd_event_source *src, uint64_t usec, void *userdata) {
        SampleQueue *q = userdata;
        q->retry_timer = sd_event_source_disable_unref(q->retry_timer);
        send_head(q);
        return 0;
}

static void retry_in(SampleQueue *q, uint64_t usec) {
        if (sd_event_add_time_relative(q->event, &q->retry_timer, CLOCK_MONOTONIC, usec, 0, on_retry, q) < 0)
                log_error("Cannot arm the sample retry timer");
}

static void on_insert_done(ClickHouseRequest *req, const ClickHouseReply *reply, void *userdata) {
        SampleQueue *q = userdata;
        SampleBatch *b = q->head;

        q->req = NULL;
        if (!b)
                return;
        if (reply->result == CLICKHOUSE_RETRY) {
                uint64_t delay =
                        clickhouse_client_retry_delay(q->clickhouse, q->attempts++, reply->retry_after_usec);
                q->stats.batches_retried++;
                log_debug(
                        "Sample batch %s not stored (%s); retry in %" PRIu64 " ms",
                        b->token,
                        reply->error,
                        delay / USEC_PER_MSEC);
                retry_in(q, delay);
                return;
        }
        if (reply->result == CLICKHOUSE_MALFORMED) {
                q->stats.batches_refused++;
                log_error("ClickHouse refused sample batch %s (%s): dropped", b->token, reply->error);
        } else {
                q->stats.batches_sent++;
                q->stats.rows_sent += b->n_rows;
        }
        q->attempts = 0;
        unspool(q, b);
        q->head = b->next;
        if (!q->head)
                q->tail = NULL;
        q->length--;
        sample_batch_free(b);
        send_head(q);
}

static void send_head(SampleQueue *q) {
        SampleBatch *b = q->head;
        const ClickHouseSetting settings[] = {
                /* The rollups are materialized views: a batch sent again must not be counted twice there. */
                {"deduplicate_blocks_in_dependent_materialized_views", "1"},
                {"insert_deduplication_token", b ? b->token : ""},
        };
        int r;

        if (!q->started || !b || q->req || q->retry_timer)
                return;
        r = clickhouse_insert(
                q->clickhouse,
                &(ClickHouseInsert){
                        .table = q->table,
                        .format = "JSONEachRow",
                        .content_type = "application/x-ndjson",
                        .settings = settings,
                        .n_settings = ELEMENTSOF(settings),
                        .compression = q->compression,
                        .precompressed = true,
                        .data = b->body,
                        .size = b->size,
                },
                on_insert_done,
                q,
                &q->req);
        if (r < 0) {
                log_error_errno(r, "Cannot start the INSERT of sample batch %s, retrying: %m", b->token);
                retry_in(q, USEC_PER_SEC);
        }
}

int sample_queue_push(SampleQueue *q, const char *token, const char *rows, size_t size, uint64_t n_rows) {
        _cleanup_(sample_batch_freep) SampleBatch *b = NULL;
        size_t bound;
        ssize_t n;
        int r;

        b = new0(SampleBatch, 1);
        if (!b)
                return -ENOMEM;
        if (strlen(token) >= sizeof(b->token))
                return -ENAMETOOLONG;
        memcpy(b->token, token, strlen(token) + 1);
        b->n_rows = n_rows;
        /* Compressed once: the spool holds, and every attempt sends, the same bytes. */
        bound = compressor_bound(q->compressor, size);
        b->body = malloc(MAX(bound, (size_t) 1));
        if (!b->body)
                return -ENOMEM;
        n = compressor_compress(q->compressor, rows, size, b->body, bound);
        if (n < 0)
                return (int) n;
        b->size = (size_t) n;
        if (q->spool_dir) {
                char name[sizeof(b->token) + sizeof(SPOOL_SUFFIX)];
                spool_name(b, name, sizeof(name));
                r = spool_put(q->spool_dir, name, b->body, b->size);
                if (r < 0) {
                        q->stats.spool_errors++;
                        log_warning_errno(
                                r, "Cannot spool %s/%s (sent from memory): %m", q->spool_dir, name);
                } else
                        b->spooled = true;
        }
        append(q, TAKE_PTR(b));
        send_head(q);
        return 0;
}

/* Batches left in the spool by an earlier run, oldest (smallest first timestamp) first. */
static int restore(SampleQueue *q) {
        _cleanup_strv_free_ char **names = NULL;
        int r;

        r = spool_open(q->spool_dir);
        if (r < 0)
                return log_error_errno(r, "Cannot create sample-spool-dir %s: %m", q->spool_dir);
        r = spool_list(q->spool_dir, SPOOL_PREFIX, SPOOL_SUFFIX, &names);
        if (r < 0)
                return log_error_errno(r, "Cannot read sample-spool-dir %s: %m", q->spool_dir);
        for (char **n = names; *n; n++) {
                size_t l = strlen(*n) - strlen(SPOOL_SUFFIX);
                SampleBatch *b;
                const char *count;

                if (l >= sizeof(b->token))
                        continue;
                b = new0(SampleBatch, 1);
                if (!b)
                        return log_oom();
                r = spool_get(q->spool_dir, *n, SPOOL_FILE_MAX, &b->body, &b->size);
                if (r < 0) {
                        q->stats.spool_errors++;
                        log_warning_errno(r, "Cannot read %s/%s: %m", q->spool_dir, *n);
                        sample_batch_free(b);
                        continue;
                }
                memcpy(b->token, *n, l);
                /* Tokens end in the batch's row count. */
                count = strrchr(b->token, '-');
                if (!count || safe_atou64(count + 1, &b->n_rows) < 0)
                        b->n_rows = 0;
                b->spooled = true;
                q->stats.spool_restored++;
                append(q, b);
        }
        if (q->stats.spool_restored > 0)
                log_info(
                        "Sending %" PRIu64 " sample batches left in %s",
                        q->stats.spool_restored,
                        q->spool_dir);
        return 0;
}

int sample_queue_new(const SampleQueueConfig *c, SampleQueue **ret) {
        _cleanup_(sample_queue_freep) SampleQueue *q = NULL;
        int r;

        if (isempty(c->table) || strchr(c->table, '`') || c->max_batches == 0)
                return -EINVAL;
        q = new0(SampleQueue, 1);
        if (!q)
                return -ENOMEM;
        q->event = sd_event_ref(c->event);
        q->clickhouse = c->clickhouse;
        q->max_batches = c->max_batches;
        q->compression = c->compression;
        q->table = strdup(c->table);
        if (!q->table)
                return -ENOMEM;
        r = compressor_new(c->compression, c->compression_level, &q->compressor);
        if (r < 0)
                return r;
        if (!isempty(c->spool_dir)) {
                q->spool_dir = strdup(c->spool_dir);
                if (!q->spool_dir)
                        return -ENOMEM;
                r = restore(q);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(q);
        return 0;
}

void sample_queue_start(SampleQueue *q) {
        q->started = true;
        send_head(q);
}

SampleQueue *sample_queue_free(SampleQueue *q) {
        if (!q)
                return NULL;
        clickhouse_request_cancel(q->req);
        sd_event_source_disable_unref(q->retry_timer);
        while (q->head) {
                SampleBatch *b = q->head;
                q->head = b->next;
                sample_batch_free(b);
        }
        compressor_free(q->compressor);
        sd_event_unref(q->event);
        free(q->table);
        free(q->spool_dir);
        free(q);
        return NULL;
}

size_t sample_queue_length(const SampleQueue *q) {
        return q->length;
}

const SampleQueueStats *sample_queue_stats(const SampleQueue *q) {
        return &q->stats;
}
