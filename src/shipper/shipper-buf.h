/* SPDX-License-Identifier: MIT */
#pragma once

/* A growable byte buffer with a hard upper bound (curl's dynbuf idea): every
 * buffer the shipper fills from outside input has a maximum, so a hostile log
 * file cannot make memory grow without limit. */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct Buf {
        char *data;
        size_t len;
        size_t cap;
        size_t max; /* hard limit on cap; 0 means "no data may be added" */
} Buf;

int buf_grow(Buf *b, size_t extra);
void buf_done(Buf *b);

/* Makes room for `extra` more bytes; -ENOBUFS when that would pass b->max. */
static inline int buf_reserve(Buf *b, size_t extra) {
        if (b->cap - b->len >= extra)
                return 0;
        return buf_grow(b, extra);
}

/* Unchecked appends: callers reserve first (one reservation per row keeps the
 * hot path free of per-byte checks). */
static inline void buf_put(Buf *b, const void *p, size_t n) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
}

static inline void buf_putc(Buf *b, char c) {
        b->data[b->len++] = c;
}

#define buf_puts_lit(b, s) buf_put((b), (s), sizeof(s) - 1)

/* Writes the decimal form of v; needs 20 bytes reserved. */
static inline void buf_put_u64(Buf *b, uint64_t v) {
        char tmp[20];
        size_t n = 0;
        do {
                tmp[n++] = (char) ('0' + v % 10);
                v /= 10;
        } while (v);
        while (n)
                b->data[b->len++] = tmp[--n];
}

/* Writes exactly `width` digits, zero padded. */
static inline void buf_put_u64_padded(Buf *b, uint64_t v, unsigned width) {
        for (unsigned i = width; i > 0; i--) {
                b->data[b->len + i - 1] = (char) ('0' + v % 10);
                v /= 10;
        }
        b->len += width;
}
