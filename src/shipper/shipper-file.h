/* SPDX-License-Identifier: MIT */
#pragma once

/* One tracked log file: its identity (device, inode and a fingerprint of its first bytes, since inodes are
 * reused), the reader, the batch being filled and the queue of sealed batches not yet acknowledged, in file
 * order. The acknowledged prefix of that queue moves the committed offset; a batch may only be sent once
 * the checkpoint file on disk records its range (so a restart rebuilds it with the same boundaries and
 * token). Reading pauses while the queue is full or the shipper holds too many rows in memory: the file is
 * the buffer.
 *
 * The file knows nothing of the manager: what it needs (limits, the batch pool, counters) comes in a
 * ShipperFileContext shared by all files, and what the manager must act upon comes back through its notify
 * callback. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "shipper-batch.h"
#include "shipper-checkpoint.h"
#include "shipper-config.h"
#include "shipper-metrics.h"
#include "shipper-transform.h"

typedef struct ShipperFile ShipperFile;

typedef enum ShipperFileEvent {
        SHIPPER_FILE_COMMIT,   /* offsets or queue changed: the checkpoint file should be written */
        SHIPPER_FILE_FLUSH_AT, /* a batch got its first row: seal it at arg (CLOCK_MONOTONIC µs) */
        SHIPPER_FILE_RESCAN,   /* the file continues in a copy (copytruncate): look at the globs again */
} ShipperFileEvent;

typedef struct ShipperFileContext {
        const ShipperConfig *config;
        BatchPool *pool;
        TransformOptions topts;
        TransformStats tstats;
        LogRow row; /* the row being added (large: one for all files) */
        ShipperStats *stats;
        uint64_t buffered_bytes; /* rows held in memory by all files */
        void (*notify)(ShipperFile *f, ShipperFileEvent event, uint64_t arg, void *userdata);
} ShipperFileContext;

/* Takes over fd. The checkpoint entries tell where a file seen before continues (the one used is marked);
 * userdata comes back with notify. */
int shipper_file_open(
        ShipperFileContext *ctx,
        const char *path,
        int fd,
        const struct stat *st,
        CheckpointEntry *restored,
        size_t n_restored,
        void *userdata,
        ShipperFile **ret);
/* A file of the checkpoint (e) found again after a restart under another name (found_path: renamed, or the
 * copy of a copytruncate): it keeps e's name (and so its metadata), identity and token, and resumes at e's
 * offset, rebuilding e's unacknowledged batches as they were. Takes over fd; marks e used. */
int shipper_file_open_found(
        ShipperFileContext *ctx,
        CheckpointEntry *e,
        const char *found_path,
        int fd,
        const struct stat *st,
        void *userdata,
        ShipperFile **ret);
ShipperFile *shipper_file_free(ShipperFile *f);

const char *shipper_file_path(const ShipperFile *f);
bool shipper_file_is(const ShipperFile *f, dev_t dev, ino_t ino);
uint64_t shipper_file_committed(const ShipperFile *f);
bool shipper_file_paused(const ShipperFile *f);
bool shipper_file_rotated(const ShipperFile *f);
unsigned shipper_file_queue_length(const ShipperFile *f);
/* Bytes in the file not yet acknowledged by ClickHouse. */
uint64_t shipper_file_lag(const ShipperFile *f);

/* Reads up to budget bytes; returns 1 at EOF, 0 when stopped early (budget or back-pressure), <0 on error.
 */
int shipper_file_read(ShipperFile *f, size_t budget);
/* Checks for truncation or replacement before reading (copytruncate). */
int shipper_file_check(ShipperFile *f);
/* Whether the path no longer leads to this file (renamed or deleted): then it is marked rotated, to be read
 * to its end and let go. True once, when that is found. */
bool shipper_file_check_rotated(ShipperFile *f);
/* A rotated file without data for rotate_wait_usec, read to its end once more, whose last message of a
 * stream is still in parts (its stream ended without the last part): the messages in parts are shipped as
 * they are (marked truncated) with those held behind them, so that nothing stays unsent. */
void shipper_file_end_parts(ShipperFile *f, uint64_t now_usec, uint64_t rotate_wait_usec);
/* A rotated file read to its end, all of it acknowledged, no data for rotate_wait_usec: it may go. */
bool shipper_file_finished(const ShipperFile *f, uint64_t now_usec, uint64_t rotate_wait_usec);

/* Seals the batch being filled (unless batches from before a restart must be rebuilt first). */
void shipper_file_seal(ShipperFile *f);
/* Seals the batch being filled when its first row is interval_usec old; returns when that will be for a
 * batch not due yet, or 0. */
uint64_t shipper_file_flush(ShipperFile *f, uint64_t now_usec, uint64_t interval_usec);

/* The checkpoint line of the file into *e: committed offset and the ranges of the batches not yet
 * acknowledged (noted as recorded by write seq). False when there is nothing to record. */
bool shipper_file_checkpoint_entry(ShipperFile *f, uint64_t seq, CheckpointEntry *e);
/* Checkpoint write seq finished with result (0 or a negative errno). */
void shipper_file_checkpoint_written(ShipperFile *f, uint64_t seq, int result);

/* The next batch that may be sent: its range is on disk and the file has a request slot left. Marked as
 * started; NULL when none. */
Batch *shipper_file_next_to_send(ShipperFile *f);
/* b (of this file) was stored: the committed offset moves over the acknowledged prefix of the queue, whose
 * batches are freed. */
void shipper_file_batch_done(ShipperFile *f, Batch *b);
/* The rows of b (of this file) made again from the file's bytes [start, end) into batch_rows(b) as
 * JSONEachRow lines, for bisecting a refused batch. -ESTALE when the file no longer holds them (truncated
 * since), -EBADMSG when they no longer make as many rows. */
int shipper_file_rebuild_rows(ShipperFile *f, Batch *b);
/* Resumes a paused file when back-pressure allows; true when it did (it should be read again). */
bool shipper_file_resume(ShipperFile *f);
