/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "shipper-batch.h"

struct Batch {
        BatchPool *pool;
        uint64_t start, end;
        uint64_t generation;
        char token_id[BATCH_TOKEN_ID_MAX];
        Buf rows;
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

#define POOL_SIZE 1

struct BatchPool {
        Buf spare[POOL_SIZE];
        unsigned n_spare;
};

int batch_pool_new(BatchPool **ret) {
        BatchPool *p = calloc(1, sizeof(BatchPool));
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

BatchPool *batch_pool_free(BatchPool *p) {
        if (!p)
                return NULL;
        for (unsigned i = 0; i < p->n_spare; i++)
                buf_done(&p->spare[i]);
        free(p);
        return NULL;
}

Batch *batch_new(
        BatchPool *pool, size_t max_bytes, const char *token_id, uint64_t generation, uint64_t start) {
        Batch *b = calloc(1, sizeof(Batch));
        if (!b)
                return NULL;
        b->pool = pool;
        b->generation = generation;
        b->start = b->end = start;
        if (pool && pool->n_spare > 0) {
                b->rows = pool->spare[--pool->n_spare];
                b->rows.len = 0;
        }
        b->rows.max = max_bytes;
        batch_set_token_id(b, token_id);
        return b;
}

Batch *batch_free(Batch *b) {
        if (!b)
                return NULL;
        if (b->pool && b->pool->n_spare < POOL_SIZE && b->rows.data)
                b->pool->spare[b->pool->n_spare++] = b->rows;
        else
                buf_done(&b->rows);
        free(b->ranges);
        free(b->row_off);
        free(b);
        return NULL;
}

Buf *batch_rows(Batch *b) {
        return &b->rows;
}

void batch_row_added(Batch *b, uint64_t now_usec) {
        if (b->n_rows++ == 0)
                b->first_row_usec = now_usec;
}

uint32_t batch_n_rows(const Batch *b) {
        return b->n_rows;
}

size_t batch_size(const Batch *b) {
        return b->rows.len;
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
