/* SPDX-License-Identifier: MIT */
#pragma once

/* otel_logs rows in ClickHouse's Native format: the body of `INSERT INTO otel_logs FORMAT Native` over HTTP
 * (protocol revision 0: no block info, no per-column serialization byte).
 *
 * Native is columnar: a block is the number of columns and rows, then per column its name, its type and
 * all its values. The engine copies such columns into its own almost as they are, where JSONEachRow costs it
 * a parse of every byte (about half the engine's CPU per row, measured in bench/insert-format-bench.py).
 * A NativeBlock collects rows column by column and writes them as one block; a body is any number of blocks,
 * which the engine squashes into one insert, so a large batch is written block by block and never held
 * uncompressed as a whole.
 *
 * Types as sent: Timestamp DateTime64(9), SeverityNumber UInt8, the LowCardinality(String) columns as String
 * and the Map(LowCardinality(String), String) columns as Map(String, String) (the engine converts them while
 * it inserts, which costs it no more than dictionaries would: the same bench), RandomNumber Int32,
 * Count UInt64. Strings are the decoded bytes (JSON escapes undone, anything else, invalid UTF-8
 * included, as it came): the values the engine stores from the JSONEachRow row of the same message. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"
#include "shipper-transform.h"

/* A file's resource as Native column bytes, made once per file. */
typedef struct NativeResource {
        StrBuf service_name; /* ServiceName: length-prefixed */
        StrBuf keys, values; /* ResourceAttributes' constant entries, each length-prefixed */
        uint32_t n;          /* entries */
} NativeResource;

int native_resource_init(const TransformResource *res, NativeResource *ret);
void native_resource_done(NativeResource *r);

typedef enum NativeColumn {
        NATIVE_TIMESTAMP,
        NATIVE_SEVERITY_TEXT,
        NATIVE_SEVERITY_NUMBER,
        NATIVE_SERVICE_NAME,
        NATIVE_RESOURCE_OFFSETS,
        NATIVE_RESOURCE_KEYS,
        NATIVE_RESOURCE_VALUES,
        NATIVE_BODY,
        NATIVE_LOG_OFFSETS,
        NATIVE_LOG_KEYS,
        NATIVE_LOG_VALUES,
        NATIVE_RANDOM_NUMBER,
        NATIVE_RANDOM_STRING,
        NATIVE_COUNT,
        _NATIVE_COLUMN_MAX,
} NativeColumn;

typedef struct NativeBlock {
        bool seed_columns; /* also RandomNumber/RandomString/Count (0/"" where the message has none) */
        uint64_t rows;
        uint64_t resource_entries, log_entries; /* running totals: the Map offsets */
        size_t bytes;                           /* data bytes in the columns */
        size_t header_bytes;                    /* the block's header and column names and types */
        size_t fixed_header_bytes;              /* the same without the row count */
        StrBuf col[_NATIVE_COLUMN_MAX];
} NativeBlock;

/* max_bytes bounds each column's buffer (a block's data is at most ~max_bytes per column). */
void native_block_init(NativeBlock *b, bool seed_columns, size_t max_bytes);
void native_block_done(NativeBlock *b);
/* Forgets the rows, keeps the buffers. */
void native_block_reset(NativeBlock *b);

/* Appends one row. Returns 0, or -ENOBUFS (a column would pass max_bytes; the block is unchanged) or
 * -ENOMEM. */
int native_block_add(NativeBlock *b, const NativeResource *res, const LogRow *row);

/* Bytes native_block_write() will write (no rows: 0). */
static inline size_t native_block_size(const NativeBlock *b) {
        return b->rows == 0 ? 0 : b->header_bytes + b->bytes;
}

/* Writes the block through write() (called with consecutive pieces; a negative return stops it and is
 * returned) and resets it. A block of no rows writes nothing. */
typedef int (*NativeWriteFn)(const void *p, size_t n, void *userdata);
int native_block_write(NativeBlock *b, NativeWriteFn write, void *userdata);

/* native_block_write() into a StrBuf (appending; reserves as needed). */
int native_block_write_buf(NativeBlock *b, StrBuf *out);
