/* SPDX-License-Identifier: MIT */
#pragma once

/* The body of one INSERT, built as rows come: in Native blocks (shipper-native.h) or JSONEachRow lines,
 * compressed on the way. What a BodyWriter holds is the compressed body so far plus at most one block of
 * rows not yet compressed (block_bytes), so a batch of 100 000 rows costs its compressed size in memory,
 * not its rows' (about 50 MB of JSONEachRow for loggen's lines, 1 MB compressed). */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compress.h"
#include "strbuf.h"
#include "shipper-native.h"
#include "shipper-transform.h"

typedef enum InsertFormat {
        INSERT_FORMAT_NATIVE,
        INSERT_FORMAT_JSON_EACH_ROW,
        _INSERT_FORMAT_MAX,
        _INSERT_FORMAT_INVALID = -EINVAL,
} InsertFormat;

/* "Native", "JSONEachRow" (ClickHouse's FORMAT names); NULL out of range. */
const char *insert_format_to_string(InsertFormat f);
InsertFormat insert_format_from_string(const char *s);

typedef struct BodyWriter {
        InsertFormat format;
        Compression compression;
        int level;
        Compressor *compressor; /* NULL without compression */
        size_t block_bytes;     /* rows held uncompressed before they go into the body */
        NativeBlock block;      /* Native: rows not yet in the body */
        StrBuf rows;            /* JSONEachRow: rows not yet in the body */
        StrBuf body;            /* the body so far (complete after body_writer_finish()) */
        uint64_t raw_bytes;     /* uncompressed size of what went in so far */
        uint64_t n_rows;
        bool started;
} BodyWriter;

/* max_body bounds the (compressed) body; max_line the longest row's source message. */
int body_writer_init(
        BodyWriter *w,
        InsertFormat format,
        Compression compression,
        int level,
        bool seed_columns,
        size_t block_bytes,
        size_t max_body,
        size_t max_line);
void body_writer_done(BodyWriter *w);

/* Starts a new body (keeps the buffers). */
int body_writer_begin(BodyWriter *w);

/* Appends one row: JSONEachRow uses prefix (transform_resource_prefix()), Native res. Returns 0,
 * -ENOBUFS (the body would pass max_body), -ENOMEM or -EIO. */
int body_writer_add(
        BodyWriter *w,
        const TransformOptions *opts,
        const char *prefix,
        size_t prefix_len,
        const NativeResource *res,
        const LogRow *row);

/* Uncompressed bytes of the rows added (what batch-bytes counts). */
static inline uint64_t body_writer_raw_bytes(const BodyWriter *w) {
        return w->raw_bytes +
               (w->format == INSERT_FORMAT_NATIVE ? native_block_size(&w->block) : w->rows.len);
}

/* Ends the body: w->body holds all of it, compressed as asked. */
int body_writer_finish(BodyWriter *w);

/* Hands the finished body over (the writer gets an empty buffer of the same limit). */
StrBuf body_writer_take(BodyWriter *w);
