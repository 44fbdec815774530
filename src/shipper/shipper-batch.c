/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "macro.h"
#include "shipper-batch.h"

struct Batch {
        BatchPool *pool;
        uint64_t start, end;
        uint64_t generation;
        char token_id[BATCH_TOKEN_ID_MAX];
        BodyWriter *writer; /* while rows are added */
        StrBuf body;        /* the finished body */
        InsertFormat format;
        Compression compression;
        size_t raw_bytes;
        StrBuf rows; /* JSONEachRow lines rebuilt for bisecting */
        uint32_t n_rows;
        uint64_t first_row_usec;
        /* While bisecting: the part being sent, the parts still to send (a stack), and where each row
         * starts (n_rows + 1 offsets). */
        bool bisecting;
        RowRange cur;
        RowRange *ranges;
        size_t n_ranges, alloc_ranges;
        uint32_t *row_off;
};

#define POOL_SIZE 2
/* Rows held uncompressed before they go into the body: big enough for the compressor to see much at once
 * and for Native blocks to be worth their header, small against the memory a batch may take. */
#define BLOCK_BYTES (1024 * 1024)

struct BatchPool {
        BatchBodyConfig config;
        BodyWriter *writers[POOL_SIZE]; /* their buffers and compressor contexts */
        unsigned n_writers;
};

int batch_pool_new(const BatchBodyConfig *config, BatchPool **ret) {
        BatchPool *p = calloc(1, sizeof(BatchPool));
        if (!p)
                return -ENOMEM;
        p->config = *config;
        *ret = p;
        return 0;
}

static BodyWriter *writer_free(BodyWriter *w) {
        if (w) {
                body_writer_done(w);
                free(w);
        }
        return NULL;
}

BatchPool *batch_pool_free(BatchPool *p) {
        if (!p)
                return NULL;
        for (unsigned i = 0; i < p->n_writers; i++)
                writer_free(p->writers[i]);
        free(p);
        return NULL;
}

static BodyWriter *writer_get(BatchPool *p, size_t max_bytes) {
        BodyWriter *w;

        if (p->n_writers > 0) {
                w = p->writers[--p->n_writers];
                w->body.max = max_bytes;
        } else {
                w = calloc(1, sizeof(BodyWriter));
                if (!w)
                        return NULL;
                body_writer_init(
                        w,
                        p->config.format,
                        p->config.compression,
                        p->config.compression_level,
                        p->config.seed_columns,
                        BLOCK_BYTES,
                        max_bytes,
                        p->config.max_line);
        }
        if (body_writer_begin(w) < 0)
                return writer_free(w);
        return w;
}

static void writer_put(BatchPool *p, BodyWriter *w) {
        if (!w)
                return;
        if (p && p->n_writers < POOL_SIZE)
                p->writers[p->n_writers++] = w;
        else
                writer_free(w);
}

Batch *batch_new(
        BatchPool *pool, size_t max_bytes, const char *token_id, uint64_t generation, uint64_t start) {
        Batch *b = calloc(1, sizeof(Batch));
        if (!b)
                return NULL;
        assert(pool);
        b->pool = pool;
        b->generation = generation;
        b->start = b->end = start;
        b->format = pool->config.format;
        b->compression = pool->config.compression;
        b->writer = writer_get(pool, max_bytes);
        if (!b->writer) {
                free(b);
                return NULL;
        }
        /* Rebuilt JSONEachRow lines are longer than Native columns: room for what batch-bytes allows. */
        b->rows.max = max_bytes * 3;
        batch_set_token_id(b, token_id);
        return b;
}

Batch *batch_free(Batch *b) {
        if (!b)
                return NULL;
        writer_put(b->pool, b->writer);
        strbuf_done(&b->body);
        strbuf_done(&b->rows);
        free(b->ranges);
        free(b->row_off);
        free(b);
        return NULL;
}

StrBuf *batch_rows(Batch *b) {
        return &b->rows;
}

int batch_add_row(
        Batch *b,
        const TransformOptions *opts,
        const char *prefix,
        size_t prefix_len,
        const NativeResource *res,
        const LogRow *row,
        uint64_t now_usec) {
        int r;

        assert(b->writer);
        r = body_writer_add(b->writer, opts, prefix, prefix_len, res, row);
        if (r < 0)
                return r;
        if (b->n_rows++ == 0)
                b->first_row_usec = now_usec;
        return 0;
}

int batch_finish(Batch *b) {
        int r;

        if (!b->writer)
                return 0;
        r = body_writer_finish(b->writer);
        if (r < 0)
                return r;
        b->raw_bytes = (size_t) b->writer->raw_bytes;
        b->body = body_writer_take(b->writer);
        writer_put(b->pool, TAKE_PTR(b->writer));
        return 0;
}

void batch_body(const Batch *b, const void **ret, size_t *ret_size) {
        assert(!b->writer);
        *ret = b->body.data;
        *ret_size = b->body.len;
}

InsertFormat batch_format(const Batch *b) {
        return b->format;
}

Compression batch_compression(const Batch *b) {
        return b->compression;
}

uint32_t batch_n_rows(const Batch *b) {
        return b->n_rows;
}

size_t batch_size(const Batch *b) {
        return b->writer ? (size_t) body_writer_raw_bytes(b->writer) : b->raw_bytes;
}

size_t batch_memory(const Batch *b) {
        size_t n = b->body.len + b->rows.len;
        if (b->writer)
                n += b->writer->body.len + (size_t) body_writer_raw_bytes(b->writer) -
                     (size_t) b->writer->raw_bytes;
        return n;
}

uint64_t batch_first_row_usec(const Batch *b) {
        return b->first_row_usec;
}

uint64_t batch_start(const Batch *b) {
        return b->start;
}

uint64_t batch_end(const Batch *b) {
        return b->end;
}

void batch_set_end(Batch *b, uint64_t end) {
        b->end = end;
}

uint64_t batch_generation(const Batch *b) {
        return b->generation;
}

void batch_set_token_id(Batch *b, const char *token_id) {
        snprintf(b->token_id, sizeof(b->token_id), "%s", token_id);
}

void batch_token(const Batch *b, char *buf, size_t size) {
        if (b->bisecting)
                snprintf(
                        buf,
                        size,
                        "%s-%" PRIu64 "-%" PRIu64 "-r%" PRIu32 "-%" PRIu32,
                        b->token_id,
                        b->start,
                        b->end,
                        b->cur.lo,
                        b->cur.hi);
        else
                snprintf(buf, size, "%s-%" PRIu64 "-%" PRIu64, b->token_id, b->start, b->end);
}

RowRange batch_part(const Batch *b) {
        return b->bisecting ? b->cur : (RowRange){0, b->n_rows};
}

void batch_part_bytes(const Batch *b, const char **ret, size_t *ret_len) {
        RowRange r = batch_part(b);

        if (!b->bisecting) {
                *ret = b->rows.data;
                *ret_len = b->rows.len;
        } else {
                *ret = b->rows.data + b->row_off[r.lo];
                *ret_len = b->row_off[r.hi] - b->row_off[r.lo];
        }
}

bool batch_bisecting(const Batch *b) {
        return b->bisecting;
}

int batch_bisect_start(Batch *b) {
        const char *p = b->rows.data, *end = b->rows.data + b->rows.len;
        uint32_t n = 0;

        free(b->row_off);
        b->row_off = calloc((size_t) b->n_rows + 1, sizeof(uint32_t));
        if (!b->row_off)
                return -ENOMEM;
        while (p < end && n < b->n_rows) {
                /* Rows end in '\n' and contain no raw newline (it is escaped). */
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                if (!nl)
                        break;
                p = nl + 1;
                b->row_off[++n] = (uint32_t) (p - b->rows.data);
        }
        if (n != b->n_rows)
                return -EBADMSG;
        b->cur = (RowRange){0, b->n_rows};
        b->bisecting = true;
        return 0;
}

static int range_push(Batch *b, RowRange r) {
        if (b->n_ranges == b->alloc_ranges) {
                size_t n = MAX(b->alloc_ranges * 2, (size_t) 16);
                RowRange *a = reallocarray(b->ranges, n, sizeof(RowRange));
                if (!a)
                        return -ENOMEM;
                b->ranges = a;
                b->alloc_ranges = n;
        }
        b->ranges[b->n_ranges++] = r;
        return 0;
}

int batch_part_split(Batch *b) {
        uint32_t mid = b->cur.lo + (b->cur.hi - b->cur.lo) / 2;
        int r;

        if (!b->bisecting || b->cur.hi - b->cur.lo < 2)
                return -EINVAL;
        r = range_push(b, (RowRange){mid, b->cur.hi});
        if (r < 0)
                return r;
        b->cur.hi = mid;
        return 0;
}

bool batch_part_next(Batch *b) {
        if (b->n_ranges == 0)
                return false;
        b->cur = b->ranges[--b->n_ranges];
        return true;
}

void batch_row_bytes(const Batch *b, uint32_t row, const char **ret, size_t *ret_len) {
        const char *p = b->rows.data + b->row_off[row];
        size_t len = b->row_off[row + 1] - b->row_off[row];

        if (len > 0 && p[len - 1] == '\n')
                len--;
        *ret = p;
        *ret_len = len;
}
