/* SPDX-License-Identifier: MIT */
#pragma once

/* The sender: batches whose range is on disk go out as INSERTs through the ClickHouse client, at most
 * max-inflight at a time, in the order they were handed over. A batch ClickHouse could not take now is
 * retried after the client's backoff; one it refused as malformed has its rows made again from the file as
 * JSONEachRow lines and is bisected until the bad rows are single, and those go to the dead-letter file
 * (counted) while the others are stored. When a batch is done (every row stored or dead-lettered) the sender
 * says so through its done callback; the batch stays its owner's all along. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "clickhouse-client.h"
#include "compress.h"
#include "shipper-batch.h"
#include "shipper-metrics.h"

typedef struct Sender Sender;

/* b is done: every row stored or dead-lettered. The callback may free b. */
typedef void (*SenderDone)(Batch *b, void *cookie, void *userdata);

typedef struct SenderConfig {
        sd_event *event;
        ClickHouseClient *clickhouse;
        const char *table;
        const char *user; /* named in messages */
        Compression compression;
        int compression_level;
        unsigned max_inflight;
        const char *dead_letter_file; /* opened for appending */
        bool sync;                    /* fsync the dead-letter file before a bisected batch is done */
        ShipperStats *stats;
        SenderDone done;
        /* b was refused as malformed: make its rows again into batch_rows(b) (JSONEachRow lines) to bisect
         * them. 0 or a negative errno (the rows cannot be had any more: the batch is given up). */
        int (*rebuild)(Batch *b, void *cookie, void *userdata);
        void (*progress)(void *userdata); /* after every request: sender_idle() may have changed */
        /* ClickHouse refused the credentials; called before the retry is scheduled, so a new password set on
         * the client now is the retry's. May be NULL. */
        void (*on_auth_refused)(void *userdata);
        void *userdata;
} SenderConfig;

int sender_new(const SenderConfig *c, Sender **ret);
/* Cancels what is in flight; the batches are not touched. */
Sender *sender_free(Sender *s);

/* Queues b for sending. label names it in messages and dead letters (its file's path) and must outlive
 * it; cookie comes back with done. */
int sender_submit(Sender *s, Batch *b, const char *label, void *cookie);
/* No request in flight and none waiting for a slot (batches waiting to be retried do not count). */
bool sender_idle(const Sender *s);
unsigned sender_inflight(const Sender *s);
/* Whether the last request reached ClickHouse. */
bool sender_clickhouse_up(const Sender *s);
/* While ClickHouse refuses the credentials (401, 403, code 516 or 194 to the last answer): one line saying
 * so. NULL otherwise. */
const char *sender_auth_refused(const Sender *s);
/* The last write to the dead-letter file failed: its negative errno; 0 otherwise. */
int sender_dead_letter_error(const Sender *s);
