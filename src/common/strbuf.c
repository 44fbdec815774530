/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "strbuf.h"

static int strbuf_reserve(StrBuf *b, size_t extra) {
        size_t need, a;
        char *p;

        if (extra > b->max || b->len > b->max - extra)
                return -ENOBUFS;
        need = b->len + extra + 1;
        if (need <= b->alloc)
                return 0;
        a = MAX(b->alloc * 2, MAX(need, (size_t) 64));
        a = MIN(a, b->max + 1);
        p = realloc(b->data, a);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->alloc = a;
        return 0;
}

int strbuf_append(StrBuf *b, const char *s, size_t n) {
        int r = strbuf_reserve(b, n);
        if (r < 0)
                return r;
        if (n > 0)
                memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = 0;
        return 0;
}

int strbuf_puts(StrBuf *b, const char *s) {
        return strbuf_append(b, s, strlen(s));
}

int strbuf_printf(StrBuf *b, const char *format, ...) {
        va_list ap;
        size_t room;
        int k, r;

        /* Format straight into the free space; only when that is too small, grow and format again. */
        room = b->alloc > b->len ? b->alloc - b->len : 0;
        va_start(ap, format);
        k = vsnprintf(room ? b->data + b->len : NULL, room, format, ap);
        va_end(ap);
        if (k < 0)
                return -EINVAL;
        if ((size_t) k < room) {
                if (b->len + (size_t) k > b->max) {
                        b->data[b->len] = 0;
                        return -ENOBUFS;
                }
                b->len += (size_t) k;
                return 0;
        }
        r = strbuf_reserve(b, (size_t) k);
        if (r < 0) {
                if (b->data)
                        b->data[b->len] = 0;
                return r;
        }
        va_start(ap, format);
        (void) vsnprintf(b->data + b->len, (size_t) k + 1, format, ap);
        va_end(ap);
        b->len += (size_t) k;
        return 0;
}

int strbuf_append_json_escaped(StrBuf *b, const char *s, size_t n) {
        static const char hex[] = "0123456789abcdef";
        size_t start = 0;
        int r;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                char esc[7];
                size_t elen = 2;

                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                r = strbuf_append(b, s + start, i - start);
                if (r < 0)
                        return r;
                esc[0] = '\\';
                switch (c) {
                case '"':
                        esc[1] = '"';
                        break;
                case '\\':
                        esc[1] = '\\';
                        break;
                case '\n':
                        esc[1] = 'n';
                        break;
                case '\r':
                        esc[1] = 'r';
                        break;
                case '\t':
                        esc[1] = 't';
                        break;
                default:
                        memcpy(esc + 1, "u00", 3);
                        esc[4] = hex[c >> 4];
                        esc[5] = hex[c & 15];
                        elen = 6;
                }
                r = strbuf_append(b, esc, elen);
                if (r < 0)
                        return r;
                start = i + 1;
        }
        return strbuf_append(b, s + start, n - start);
}

void strbuf_reset(StrBuf *b) {
        b->len = 0;
        if (b->data)
                b->data[0] = 0;
}

void strbuf_truncate(StrBuf *b, size_t len) {
        if (len >= b->len)
                return;
        b->len = len;
        b->data[len] = 0;
}

void strbuf_done(StrBuf *b) {
        free(b->data);
        b->data = NULL;
        b->len = b->alloc = 0;
}

char *strbuf_steal(StrBuf *b, size_t *ret_len) {
        char *p;

        if (!b->data) {
                if (strbuf_reserve(b, 0) < 0)
                        return NULL;
                b->data[0] = 0;
        }
        p = b->data;
        if (ret_len)
                *ret_len = b->len;
        b->data = NULL;
        b->len = b->alloc = 0;
        return p;
}
