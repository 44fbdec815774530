/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "json-string.h"
#include "macro.h"
#include "strbuf.h"

int strbuf_grow(StrBuf *b, size_t extra) {
        size_t need, a, limit;
        char *p;

        if (extra > b->max || b->len > b->max - extra)
                return -ENOBUFS;
        need = b->len + extra + 1;
        if (need <= b->alloc)
                return 0;
        limit = b->max == SIZE_MAX ? SIZE_MAX : b->max + 1;
        a = b->alloc > SIZE_MAX / 2 ? SIZE_MAX : b->alloc * 2;
        a = MIN(MAX(a, MAX(need, (size_t) 64)), limit);
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

static const char escape_char[32] = {
        ['\b'] = 'b',
        ['\f'] = 'f',
        ['\n'] = 'n',
        ['\r'] = 'r',
        ['\t'] = 't',
};

void strbuf_put_json_escaped(StrBuf *b, const char *s, size_t n) {
        static const char hex[] = "0123456789abcdef";
        const char *p = s, *end = s + n, *run;
        char *o = b->data + b->len;

        /* Runs of plain bytes are copied whole; the few bytes to escape are written one by one. */
        while (p < end) {
                run = p;
                p = json_plain_end(p, end);
                memcpy(o, run, (size_t) (p - run));
                o += p - run;
                if (p >= end)
                        break;
                uint8_t c = (uint8_t) *p++;
                *o++ = '\\';
                if (c == '"' || c == '\\')
                        *o++ = (char) c;
                else if (escape_char[c])
                        *o++ = escape_char[c];
                else {
                        memcpy(o, "u00", 3);
                        o[3] = hex[c >> 4];
                        o[4] = hex[c & 15];
                        o += 5;
                }
        }
        b->len = (size_t) (o - b->data);
}

int strbuf_append_json_escaped(StrBuf *b, const char *s, size_t n) {
        /* Reserving the worst case up front would make a large plain string look over the limit: reserve
         * what this string needs, counted. */
        size_t need = n;
        int r;

        for (const char *p = s, *end = s + n; p < end; p++)
                if (json_is_stop((uint8_t) *p))
                        need += (*p == '"' || *p == '\\' || escape_char[(uint8_t) *p]) ? 1 : 5;
        r = strbuf_reserve(b, need);
        if (r < 0)
                return r;
        strbuf_put_json_escaped(b, s, n);
        strbuf_terminate(b);
        return 0;
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
