/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "clickhouse-endpoint.h"
#include "macro.h"
#include "util.h"

/* multipart/form-data (RFC 7578) request bodies. ClickHouse's server takes the form's fields as URL
 * parameters (the query, param_*, settings) and its file parts as external tables; clients switch to it
 * when the URL would grow too long (the official JavaScript client does beyond about 4 KiB of parameters).
 */

#define MULTIPART_MAX_PARTS 1024

static void *memmem_bounded(const char *hay, size_t n, const char *needle, size_t m) {
        return m <= n ? memmem(hay, n, needle, m) : NULL;
}

/* The boundary parameter of a Content-Type value, quoted or not; NULL for anything but multipart/form-data.
 */
char *multipart_boundary(const char *content_type) {
        const char *p;

        if (!content_type || strncasecmp(content_type, "multipart/form-data", 19) != 0)
                return NULL;
        for (p = content_type + 19; (p = strchr(p, ';'));) {
                p++;
                p += strspn(p, " \t");
                if (strncasecmp(p, "boundary=", 9) != 0)
                        continue;
                p += 9;
                if (*p == '"') {
                        const char *end = strchr(p + 1, '"');
                        return end && end > p + 1 ? strndup(p + 1, (size_t) (end - p - 1)) : NULL;
                }
                size_t n = strcspn(p, "; \t");
                return n > 0 && n <= 70 ? strndup(p, n) : NULL;
        }
        return NULL;
}

void multipart_parts_free(MultipartPart *parts, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(parts[i].name);
                free(parts[i].filename);
                free(parts[i].value);
        }
        free(parts);
}

/* A copy of n bytes that need not be NUL-terminated where they end (strndup may look further). */
static char *copy_bytes(const char *p, size_t n) {
        char *s = malloc(n + 1);
        if (s) {
                memcpy(s, p, n);
                s[n] = 0;
        }
        return s;
}

/* A parameter of the Content-Disposition header (name="x"), unquoted; NULL when absent. */
static int disposition_param(const char *h, size_t n, const char *key, char **ret) {
        size_t klen = strlen(key);

        *ret = NULL;
        for (size_t i = 0; i + klen + 1 < n; i++) {
                if ((i > 0 && h[i - 1] != ';' && h[i - 1] != ' ' && h[i - 1] != '\t') ||
                    strncasecmp(h + i, key, klen) != 0 || h[i + klen] != '=')
                        continue;
                const char *v = h + i + klen + 1, *end = h + n;
                if (v < end && *v == '"') {
                        const char *q = memchr(v + 1, '"', (size_t) (end - v - 1));
                        if (!q)
                                return -EBADMSG;
                        *ret = copy_bytes(v + 1, (size_t) (q - v - 1));
                } else {
                        size_t m = 0;
                        while (v + m < end && v[m] != ';' && v[m] != ' ' && v[m] != '\r')
                                m++;
                        *ret = copy_bytes(v, m);
                }
                return *ret ? 0 : -ENOMEM;
        }
        return 0;
}

int multipart_parse(
        const char *body, size_t size, const char *boundary, MultipartPart **ret_parts, size_t *ret_n) {
        _cleanup_free_ char *delim = NULL;
        MultipartPart *parts = NULL;
        size_t n = 0, dlen;
        const char *p, *end = body + size;
        int r;

        if (asprintf(&delim, "\r\n--%s", boundary) < 0)
                return -ENOMEM;
        dlen = strlen(delim);
        /* The first delimiter may open the body without the CRLF before it. */
        if (size >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0)
                p = body + dlen - 2;
        else {
                p = memmem_bounded(body, size, delim, dlen);
                if (!p)
                        return -EBADMSG;
                p += dlen;
        }
        for (;;) {
                if (end - p >= 2 && p[0] == '-' && p[1] == '-')
                        break;                               /* closing delimiter */
                while (p < end && (*p == ' ' || *p == '\t')) /* transport padding; the body has no NUL */
                        p++;
                if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
                        r = -EBADMSG;
                        goto fail;
                }
                p += 2;
                const char *head_end = memmem_bounded(p, (size_t) (end - p), "\r\n\r\n", 4);
                if (!head_end) {
                        /* A part without headers starts with its blank line. */
                        r = -EBADMSG;
                        goto fail;
                }
                const char *content = head_end + 4;
                const char *next = memmem_bounded(content, (size_t) (end - content), delim, dlen);
                if (!next) {
                        r = -EBADMSG;
                        goto fail;
                }
                if (n >= MULTIPART_MAX_PARTS) {
                        r = -E2BIG;
                        goto fail;
                }
                MultipartPart *np = realloc(parts, (n + 1) * sizeof(MultipartPart));
                if (!np) {
                        r = -ENOMEM;
                        goto fail;
                }
                parts = np;
                parts[n] = (MultipartPart){};
                n++;
                /* Find Content-Disposition among the part's headers. */
                for (const char *h = p; h < head_end;) {
                        const char *eol = memmem_bounded(h, (size_t) (head_end + 2 - h), "\r\n", 2);
                        if (!eol)
                                eol = head_end;
                        size_t hl = (size_t) (eol - h);
                        if (hl > 20 && strncasecmp(h, "Content-Disposition:", 20) == 0) {
                                r = disposition_param(h + 20, hl - 20, "name", &parts[n - 1].name);
                                if (r >= 0)
                                        r = disposition_param(
                                                h + 20, hl - 20, "filename", &parts[n - 1].filename);
                                if (r < 0)
                                        goto fail;
                        }
                        h = eol + 2;
                }
                if (!parts[n - 1].name) {
                        r = -EBADMSG;
                        goto fail;
                }
                size_t vlen = (size_t) (next - content);
                parts[n - 1].value = malloc(vlen + 1);
                if (!parts[n - 1].value) {
                        r = -ENOMEM;
                        goto fail;
                }
                memcpy(parts[n - 1].value, content, vlen);
                parts[n - 1].value[vlen] = 0;
                parts[n - 1].size = vlen;
                p = next + dlen;
        }
        *ret_parts = parts;
        *ret_n = n;
        return 0;

fail:
        multipart_parts_free(parts, n);
        return r;
}
