/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "json-string.h"
#include "shipper-json.h"

static inline bool is_ws(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline bool is_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static inline const char *skip_ws(const char *p, const char *end) {
        while (p < end && is_ws(*p))
                p++;
        return p;
}

/* p points just after the opening quote; returns a pointer to the closing
 * quote, or NULL. *escaped is set when the string has an escape. */
static inline const char *scan_string_flag(const char *p, const char *end, bool *escaped) {
        for (;;) {
                p = json_plain_end(p, end);
                if (p >= end)
                        return NULL;
                if (*p == '"')
                        return p;
                if (*p != '\\')
                        return NULL; /* raw control character */
                *escaped = true;
                p++;
                if (p >= end)
                        return NULL;
                switch (*p) {
                case '"':
                case '\\':
                case '/':
                case 'b':
                case 'f':
                case 'n':
                case 'r':
                case 't':
                        p++;
                        break;
                case 'u':
                        if (end - p < 5 || !is_hex(p[1]) || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]))
                                return NULL;
                        p += 5;
                        break;
                default:
                        return NULL;
                }
        }
}

static const char *scan_string(const char *p, const char *end) {
        bool escaped = false;
        return scan_string_flag(p, end, &escaped);
}

static const char *scan_number(const char *p, const char *end) {
        if (p < end && *p == '-')
                p++;
        if (p >= end)
                return NULL;
        if (*p == '0')
                p++;
        else if (*p >= '1' && *p <= '9')
                while (p < end && *p >= '0' && *p <= '9')
                        p++;
        else
                return NULL;
        if (p < end && *p == '.') {
                p++;
                if (p >= end || *p < '0' || *p > '9')
                        return NULL;
                while (p < end && *p >= '0' && *p <= '9')
                        p++;
        }
        if (p < end && (*p == 'e' || *p == 'E')) {
                p++;
                if (p < end && (*p == '+' || *p == '-'))
                        p++;
                if (p >= end || *p < '0' || *p > '9')
                        return NULL;
                while (p < end && *p >= '0' && *p <= '9')
                        p++;
        }
        return p;
}

static const char *scan_literal(const char *p, const char *end, const char *lit, size_t n) {
        if ((size_t) (end - p) < n || memcmp(p, lit, n) != 0)
                return NULL;
        return p + n;
}

static const char *scan_value(const char *p, const char *end, unsigned depth, JsonType *ret_type);

static const char *scan_container(const char *p, const char *end, unsigned depth, bool object) {
        char close = object ? '}' : ']';
        JsonType t;

        if (depth >= JSON_MAX_DEPTH)
                return NULL;
        p = skip_ws(p + 1, end);
        if (p < end && *p == close)
                return p + 1;
        for (;;) {
                if (object) {
                        if (p >= end || *p != '"')
                                return NULL;
                        p = scan_string(p + 1, end);
                        if (!p)
                                return NULL;
                        p = skip_ws(p + 1, end);
                        if (p >= end || *p != ':')
                                return NULL;
                        p = skip_ws(p + 1, end);
                }
                p = scan_value(p, end, depth + 1, &t);
                if (!p)
                        return NULL;
                p = skip_ws(p, end);
                if (p >= end)
                        return NULL;
                if (*p == close)
                        return p + 1;
                if (*p != ',')
                        return NULL;
                p = skip_ws(p + 1, end);
        }
}

static const char *scan_value(const char *p, const char *end, unsigned depth, JsonType *ret_type) {
        const char *q;

        if (p >= end)
                return NULL;
        switch (*p) {
        case '"':
                q = scan_string(p + 1, end);
                *ret_type = JSON_STRING;
                return q ? q + 1 : NULL;
        case '{':
                *ret_type = JSON_OBJECT;
                return scan_container(p, end, depth, true);
        case '[':
                *ret_type = JSON_ARRAY;
                return scan_container(p, end, depth, false);
        case 't':
                *ret_type = JSON_TRUE;
                return scan_literal(p, end, "true", 4);
        case 'f':
                *ret_type = JSON_FALSE;
                return scan_literal(p, end, "false", 5);
        case 'n':
                *ret_type = JSON_NULL;
                return scan_literal(p, end, "null", 4);
        default:
                *ret_type = JSON_NUMBER;
                return scan_number(p, end);
        }
}

int json_scan_object(
        const char *p, size_t len, JsonField *fields, size_t max, size_t *ret_n, size_t *ret_dropped) {
        const char *end = p + len, *k, *ke, *v;
        size_t n = 0, dropped = 0;
        JsonType t;

        p = skip_ws(p, end);
        if (p >= end || *p != '{')
                return -EINVAL;
        p = skip_ws(p + 1, end);
        if (p < end && *p == '}') {
                p++;
                goto done;
        }
        for (;;) {
                bool key_escaped = false, val_escaped = false;
                if (p >= end || *p != '"')
                        return -EINVAL;
                k = p + 1;
                ke = scan_string_flag(k, end, &key_escaped);
                if (!ke)
                        return -EINVAL;
                p = skip_ws(ke + 1, end);
                if (p >= end || *p != ':')
                        return -EINVAL;
                v = skip_ws(p + 1, end);
                if (v < end && *v == '"') {
                        /* Strings, the common case, scanned here to learn whether they need decoding. */
                        t = JSON_STRING;
                        p = scan_string_flag(v + 1, end, &val_escaped);
                        if (p)
                                p++;
                } else
                        p = scan_value(v, end, 1, &t);
                if (!p)
                        return -EINVAL;
                if (n < max && (size_t) (ke - k) <= UINT32_MAX && (size_t) (p - v) <= UINT32_MAX) {
                        JsonField *f = &fields[n++];
                        f->key = k;
                        f->key_len = (uint32_t) (ke - k);
                        f->key_escaped = key_escaped;
                        f->val_escaped = val_escaped;
                        f->type = t;
                        if (t == JSON_STRING) {
                                f->val = v + 1;
                                f->val_len = (uint32_t) (p - v - 2);
                        } else {
                                f->val = v;
                                f->val_len = (uint32_t) (p - v);
                        }
                } else
                        dropped++;
                p = skip_ws(p, end);
                if (p >= end)
                        return -EINVAL;
                if (*p == '}') {
                        p++;
                        break;
                }
                if (*p != ',')
                        return -EINVAL;
                p = skip_ws(p + 1, end);
        }
done:
        if (skip_ws(p, end) != end)
                return -EINVAL;
        *ret_n = n;
        *ret_dropped = dropped;
        return 0;
}

static unsigned hex_value(char c) {
        if (c >= '0' && c <= '9')
                return (unsigned) (c - '0');
        if (c >= 'a' && c <= 'f')
                return (unsigned) (c - 'a' + 10);
        return (unsigned) (c - 'A' + 10);
}

static unsigned read_hex4(const char *p) {
        return hex_value(p[0]) << 12 | hex_value(p[1]) << 8 | hex_value(p[2]) << 4 | hex_value(p[3]);
}

static void put_utf8(StrBuf *out, uint32_t cp) {
        if (cp < 0x80)
                strbuf_putc(out, (char) cp);
        else if (cp < 0x800) {
                strbuf_putc(out, (char) (0xc0 | cp >> 6));
                strbuf_putc(out, (char) (0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
                strbuf_putc(out, (char) (0xe0 | cp >> 12));
                strbuf_putc(out, (char) (0x80 | ((cp >> 6) & 0x3f)));
                strbuf_putc(out, (char) (0x80 | (cp & 0x3f)));
        } else {
                strbuf_putc(out, (char) (0xf0 | cp >> 18));
                strbuf_putc(out, (char) (0x80 | ((cp >> 12) & 0x3f)));
                strbuf_putc(out, (char) (0x80 | ((cp >> 6) & 0x3f)));
                strbuf_putc(out, (char) (0x80 | (cp & 0x3f)));
        }
}

int json_unescape_append(StrBuf *out, const char *p, size_t len) {
        const char *end = p + len, *run;
        int r;

        /* Decoded text is never longer than the escaped text (\uXXXX is 6
         * bytes for at most 3 of UTF-8, a pair 12 for 4). */
        r = strbuf_reserve(out, len);
        if (r < 0)
                return r;
        while (p < end) {
                run = p;
                p = memchr(p, '\\', (size_t) (end - p));
                if (!p)
                        p = end;
                strbuf_put(out, run, (size_t) (p - run));
                if (p >= end)
                        break;
                p++;
                if (p >= end)
                        return -EINVAL;
                switch (*p++) {
                case '"':
                        strbuf_putc(out, '"');
                        break;
                case '\\':
                        strbuf_putc(out, '\\');
                        break;
                case '/':
                        strbuf_putc(out, '/');
                        break;
                case 'b':
                        strbuf_putc(out, '\b');
                        break;
                case 'f':
                        strbuf_putc(out, '\f');
                        break;
                case 'n':
                        strbuf_putc(out, '\n');
                        break;
                case 'r':
                        strbuf_putc(out, '\r');
                        break;
                case 't':
                        strbuf_putc(out, '\t');
                        break;
                case 'u': {
                        uint32_t cp;
                        if (end - p < 4)
                                return -EINVAL;
                        cp = read_hex4(p);
                        p += 4;
                        if (cp >= 0xd800 && cp <= 0xdbff) {
                                if (end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                                        uint32_t lo = read_hex4(p + 2);
                                        if (lo >= 0xdc00 && lo <= 0xdfff) {
                                                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                                p += 6;
                                        } else
                                                cp = 0xfffd;
                                } else
                                        cp = 0xfffd;
                        } else if (cp >= 0xdc00 && cp <= 0xdfff)
                                cp = 0xfffd;
                        put_utf8(out, cp);
                        break;
                }
                default:
                        return -EINVAL;
                }
        }
        return 0;
}

bool json_number_is_integer(const char *p, size_t len) {
        size_t i = 0;
        if (len > 0 && p[0] == '-')
                i++;
        if (i >= len)
                return false;
        for (; i < len; i++)
                if (p[i] < '0' || p[i] > '9')
                        return false;
        return true;
}

/* Copies plain string bytes from p to out until a stop byte, eight at a time: each word is stored before it
 * is looked at (the output never runs ahead of the input, and out has room for all the input, so a word
 * read from the input also fits at the output). Short runs between escapes cost no memcpy call. */
static inline const char *copy_plain(StrBuf *out, const char *p, const char *end) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        uint64_t w, stop;
        while (end - p >= 8) {
                memcpy(&w, p, 8);
                memcpy(out->data + out->len, &w, 8);
                stop = json_word_has_stop(w);
                if (stop) {
                        size_t n = __builtin_ctzll(stop) >> 3;
                        out->len += n;
                        return p + n;
                }
                p += 8;
                out->len += 8;
        }
#endif
        while (p < end && !json_is_stop((uint8_t) *p))
                out->data[out->len++] = *p++;
        return p;
}

const char *json_unescape_string(StrBuf *out, const char *p, const char *end) {
        for (;;) {
                p = copy_plain(out, p, end);
                if (p >= end)
                        return NULL;
                if (*p == '"')
                        return p;
                if (*p != '\\')
                        return NULL; /* raw control character */
                p++;
                if (p >= end)
                        return NULL;
                switch (*p++) {
                case '"':
                        strbuf_putc(out, '"');
                        break;
                case '\\':
                        strbuf_putc(out, '\\');
                        break;
                case '/':
                        strbuf_putc(out, '/');
                        break;
                case 'b':
                        strbuf_putc(out, '\b');
                        break;
                case 'f':
                        strbuf_putc(out, '\f');
                        break;
                case 'n':
                        strbuf_putc(out, '\n');
                        break;
                case 'r':
                        strbuf_putc(out, '\r');
                        break;
                case 't':
                        strbuf_putc(out, '\t');
                        break;
                case 'u': {
                        uint32_t cp;
                        if (end - p < 4 || !is_hex(p[0]) || !is_hex(p[1]) || !is_hex(p[2]) || !is_hex(p[3]))
                                return NULL;
                        cp = read_hex4(p);
                        p += 4;
                        if (cp >= 0xd800 && cp <= 0xdbff) {
                                if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' && is_hex(p[2]) &&
                                    is_hex(p[3]) && is_hex(p[4]) && is_hex(p[5])) {
                                        uint32_t lo = read_hex4(p + 2);
                                        if (lo >= 0xdc00 && lo <= 0xdfff) {
                                                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                                p += 6;
                                        } else
                                                cp = 0xfffd;
                                } else
                                        cp = 0xfffd;
                        } else if (cp >= 0xdc00 && cp <= 0xdfff)
                                cp = 0xfffd;
                        put_utf8(out, cp);
                        break;
                }
                default:
                        return NULL;
                }
        }
}
