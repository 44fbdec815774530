/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* A growable byte buffer with a hard maximum (curl's dynbuf idea): appends beyond `max` fail with -ENOBUFS
 * instead of growing without bound. The content is always NUL-terminated. */
typedef struct StrBuf {
        char *data;
        size_t len;
        size_t alloc;
        size_t max;
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
