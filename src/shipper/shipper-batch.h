/* SPDX-License-Identifier: MIT */
#pragma once

/* A batch: the otel_logs rows of one contiguous byte range [start, end) of one file generation, held as
 * the INSERT body they make (Native or JSONEachRow, compressed as they come: shipper-body.h), not as rows.
 * It is sent as one INSERT whose deduplication token names that range, so a retry (or a resend after a
 * restart) is stored once. When ClickHouse refuses it as malformed, the batch is bisected: its rows are sent
 * in parts, halved until single rows, each part with a token of its own; a single refused row is
 * dead-lettered by the sender. Where a batch waits (a file's queue, the sender's queue) is its owners'
 * business: the batch only holds rows, range and token. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shipper-body.h"
#include "strbuf.h"

typedef struct Batch Batch;

/* Row buffers of freed batches, handed to new ones: no page faults and zeroing of fresh megabytes for
 * every batch. */
typedef struct BatchPool BatchPool;

typedef struct RowRange {
        uint32_t lo, hi; /* rows [lo, hi) of a batch */
} RowRange;

#define BATCH_TOKEN_ID_MAX 80
#define BATCH_TOKEN_MAX 256

/* How every batch of the pool builds its body. */
typedef struct BatchBodyConfig {
        InsertFormat format;
        Compression compression;
        int compression_level;
        bool seed_columns;
        size_t max_line; /* the longest message */
} BatchBodyConfig;

int batch_pool_new(const BatchBodyConfig *config, BatchPool **ret);
BatchPool *batch_pool_free(BatchPool *p);

/* A batch starting at offset start of generation `generation` of the file identified by token_id, whose
 * rows may take up to max_bytes. */
Batch *batch_new(
        BatchPool *pool, size_t max_bytes, const char *token_id, uint64_t generation, uint64_t start);
/* Gives the row buffer back to the pool it came from. */
Batch *batch_free(Batch *b);

/* Appends one row to the body (res for Native, prefix for JSONEachRow) and counts it; now_usec is the time
 * of the first row (unused for the others). */
int batch_add_row(
        Batch *b,
        const TransformOptions *opts,
        const char *prefix,
        size_t prefix_len,
        const NativeResource *res,
        const LogRow *row,
        uint64_t now_usec);
/* Ends the body (the batch is sealed: no more rows). */
int batch_finish(Batch *b);
/* The finished body, its FORMAT and Content-Encoding. */
void batch_body(const Batch *b, const void **ret, size_t *ret_size);
InsertFormat batch_format(const Batch *b);
Compression batch_compression(const Batch *b);
uint32_t batch_n_rows(const Batch *b);
/* Uncompressed bytes of the rows (what batch-bytes counts). */
size_t batch_size(const Batch *b);
/* Bytes the batch holds in memory (compressed body, rows not yet compressed, rows rebuilt for bisecting). */
size_t batch_memory(const Batch *b);

/* A refused batch is bisected over its rows as JSONEachRow lines, which it does not hold: they are made
 * again from the file (the byte range is the batch's) into this buffer, one row per line, before
 * batch_bisect_start(). */
StrBuf *batch_rows(Batch *b);
uint64_t batch_first_row_usec(const Batch *b);

uint64_t batch_start(const Batch *b);
uint64_t batch_end(const Batch *b);
void batch_set_end(Batch *b, uint64_t end);
uint64_t batch_generation(const Batch *b);
/* The file's identity may only be known after the batch began (an empty file grows). */
void batch_set_token_id(Batch *b, const char *token_id);

/* The deduplication token of the part being sent: "<token_id>-<start>-<end>", plus "-r<lo>-<hi>" while
 * bisecting. */
void batch_token(const Batch *b, char *buf, size_t size);

/* The part to send: all rows, or the current part while bisecting, and its bytes. */
RowRange batch_part(const Batch *b);
void batch_part_bytes(const Batch *b, const char **ret, size_t *ret_len);
bool batch_bisecting(const Batch *b);
/* Starts bisecting over the rows rebuilt into batch_rows() (finds where each row starts); the current part
 * stays all rows. -EBADMSG when they are not batch_n_rows() rows. */
int batch_bisect_start(Batch *b);
/* Replaces the current part (of two rows or more) by its halves; the first half becomes current. */
int batch_part_split(Batch *b);
/* The current part is done: the next one becomes current. False when none is left. */
bool batch_part_next(Batch *b);
/* Row n (while bisecting), without its newline. */
void batch_row_bytes(const Batch *b, uint32_t row, const char **ret, size_t *ret_len);
