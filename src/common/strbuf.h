/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The one growable byte buffer, with a hard maximum (curl's dynbuf idea): appends beyond `max` fail with
 * -ENOBUFS instead of growing without bound, so a hostile log file or reply cannot make memory grow without
 * limit.
 *
 * Two ways to fill it:
 *   - checked appends (strbuf_append(), _puts(), _printf(), _append_json_escaped()), each reserving what it
 *     needs; the content is NUL-terminated after each;
 *   - for hot paths, one strbuf_reserve() for the worst case, then unchecked strbuf_put*() writes: no
 *     per-byte checks. These leave the terminator to the caller (strbuf_terminate()); every reservation
 *     includes room for it. */
typedef struct StrBuf {
        char *data;
        size_t len;
        size_t alloc;
        size_t max; /* limit on len; 0: nothing may be added */
} StrBuf;

#define STRBUF_INIT(m) ((StrBuf){.max = (m)})

int strbuf_append(StrBuf *b, const char *s, size_t n);
int strbuf_puts(StrBuf *b, const char *s);
int strbuf_printf(StrBuf *b, const char *format, ...) __attribute__((__format__(printf, 2, 3)));
/* Appends s as the inside of a JSON string (quotes not included), escaping what JSON requires. */
int strbuf_append_json_escaped(StrBuf *b, const char *s, size_t n);
void strbuf_reset(StrBuf *b);
/* Cuts the content back to its first len bytes (no-op when already shorter): undoes a partial append. */
void strbuf_truncate(StrBuf *b, size_t len);
void strbuf_done(StrBuf *b);
/* Hands the buffer to the caller (never NULL on success: an empty buffer yields ""), resets b. */
char *strbuf_steal(StrBuf *b, size_t *ret_len);

/* --- the fast path ---------------------------------------------------------------------------------------
 */

/* Slow path of strbuf_reserve(). */
int strbuf_grow(StrBuf *b, size_t extra);

/* Makes room for `extra` more bytes (and a terminator); -ENOBUFS when that would pass b->max. */
static inline int strbuf_reserve(StrBuf *b, size_t extra) {
        if (b->alloc > b->len && b->alloc - b->len > extra)
                return 0;
        return strbuf_grow(b, extra);
}

/* Unchecked appends: callers reserve first (one reservation per row keeps the hot path free of per-byte
 * checks). */
static inline void strbuf_put(StrBuf *b, const void *p, size_t n) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
}

static inline void strbuf_putc(StrBuf *b, char c) {
        b->data[b->len++] = c;
}

#define strbuf_put_lit(b, s) strbuf_put((b), (s), sizeof(s) - 1)

/* Writes the decimal form of v; needs 20 bytes reserved. */
static inline void strbuf_put_u64(StrBuf *b, uint64_t v) {
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
static inline void strbuf_put_u64_padded(StrBuf *b, uint64_t v, unsigned width) {
        for (unsigned i = width; i > 0; i--) {
                b->data[b->len + i - 1] = (char) ('0' + v % 10);
                v /= 10;
        }
        b->len += width;
}

/* Room strbuf_put_json_escaped() needs for n bytes. */
static inline size_t json_escape_bound(size_t n) {
        return n * 6;
}
/* Appends [s, s+n) escaped for use inside a JSON string: '"', '\\' and control characters are escaped
 * (\n, \t, \b, …, \u00XX), other bytes are copied. Reserve json_escape_bound(n) first. */
void strbuf_put_json_escaped(StrBuf *b, const char *s, size_t n);

/* NUL-terminates after unchecked writes. */
static inline void strbuf_terminate(StrBuf *b) {
        if (b->data)
                b->data[b->len] = 0;
}
