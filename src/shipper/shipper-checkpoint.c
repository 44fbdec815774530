/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "shipper-checkpoint.h"
#include "util.h"

void checkpoint_entries_free(CheckpointEntry *e, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(e[i].path);
        free(e);
}

static int next_field(const char **p, const char *end, char *buf, size_t size) {
        const char *s = *p, *e;
        e = memchr(s, ' ', (size_t) (end - s));
        if (!e)
                e = end;
        if (e == s || (size_t) (e - s) >= size)
                return -EBADMSG;
        memcpy(buf, s, (size_t) (e - s));
        buf[e - s] = 0;
        *p = e < end ? e + 1 : e;
        return 0;
}

static int parse_hex64(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        if (!*s || strlen(s) > 16)
                return -EBADMSG;
        for (; *s; s++) {
                unsigned d;
                if (*s >= '0' && *s <= '9')
                        d = (unsigned) (*s - '0');
                else if (*s >= 'a' && *s <= 'f')
                        d = (unsigned) (*s - 'a' + 10);
                else
                        return -EBADMSG;
                v = v << 4 | d;
        }
        *ret = v;
        return 0;
}

static int parse_line(const char *p, const char *end, CheckpointEntry *e) {
        char f[96];
        uint32_t fp_len;
        int r;

        *e = (CheckpointEntry){0};
        if ((r = next_field(&p, end, f, sizeof(f))) < 0 || (r = safe_atou64(f, &e->dev)) < 0)
                return -EBADMSG;
        if ((r = next_field(&p, end, f, sizeof(f))) < 0 || (r = safe_atou64(f, &e->ino)) < 0)
                return -EBADMSG;
        if ((r = next_field(&p, end, f, sizeof(f))) < 0 || (r = parse_hex64(f, &e->fp_hash)) < 0)
                return -EBADMSG;
        if ((r = next_field(&p, end, f, sizeof(f))) < 0 || (r = safe_atou32(f, &fp_len)) < 0)
                return -EBADMSG;
        e->fp_len = fp_len;
        if ((r = next_field(&p, end, f, sizeof(f))) < 0 || (r = safe_atou64(f, &e->committed)) < 0)
                return -EBADMSG;
        if ((r = next_field(&p, end, f, sizeof(f))) < 0 || (r = safe_atou64(f, &e->pending_start)) < 0)
                return -EBADMSG;
        if ((r = next_field(&p, end, f, sizeof(f))) < 0 || (r = safe_atou64(f, &e->pending_end)) < 0)
                return -EBADMSG;
        if ((r = next_field(&p, end, e->token_id, sizeof(e->token_id))) < 0)
                return -EBADMSG;
        if (e->pending_end < e->pending_start ||
            (e->pending_end > e->pending_start && e->pending_start != e->committed))
                return -EBADMSG;
        if (p < end) {
                e->path = strndup(p, (size_t) (end - p));
                if (!e->path)
                        return -ENOMEM;
        }
        return 0;
}

int checkpoint_parse(
        const char *text, size_t size, CheckpointEntry **ret, size_t *ret_n, size_t *ret_bad_line) {
        const char *p = text, *end = text + size;
        CheckpointEntry *l = NULL;
        size_t n = 0, line = 1;
        int r;

        if (size < strlen(CHECKPOINT_HEADER) ||
            memcmp(text, CHECKPOINT_HEADER, strlen(CHECKPOINT_HEADER)) != 0) {
                *ret_bad_line = 1;
                return -EBADMSG;
        }
        p += strlen(CHECKPOINT_HEADER);
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                line++;
                if (!nl) {
                        r = -EBADMSG; /* torn write cannot happen (rename), so this is damage */
                        goto fail;
                }
                CheckpointEntry *nl_ = reallocarray(l, n + 1, sizeof(*l));
                if (!nl_) {
                        r = -ENOMEM;
                        goto fail;
                }
                l = nl_;
                r = parse_line(p, nl, &l[n]);
                if (r < 0)
                        goto fail;
                n++;
                p = nl + 1;
        }
        *ret = l;
        *ret_n = n;
        return 0;
fail:
        checkpoint_entries_free(l, n);
        *ret_bad_line = line;
        return r;
}

int checkpoint_format_entry(const CheckpointEntry *e, char **text, size_t *len, size_t *alloc) {
        char line[512];
        int k;
        const char *path = e->path && !strchr(e->path, '\n') ? e->path : "";

        k = snprintf(
                line,
                sizeof(line),
                "%" PRIu64 " %" PRIu64 " %" PRIx64 " %" PRIu32 " %" PRIu64 " %" PRIu64 " %" PRIu64
                " %s %s\n",
                e->dev,
                e->ino,
                e->fp_hash,
                e->fp_len,
                e->committed,
                e->pending_start,
                e->pending_end,
                e->token_id,
                path);
        if (k < 0)
                return -EINVAL;
        if ((size_t) k >= sizeof(line)) {
                /* Long path: drop it, it is only informative. */
                k = snprintf(
                        line,
                        sizeof(line),
                        "%" PRIu64 " %" PRIu64 " %" PRIx64 " %" PRIu32 " %" PRIu64 " %" PRIu64 " %" PRIu64
                        " %s\n",
                        e->dev,
                        e->ino,
                        e->fp_hash,
                        e->fp_len,
                        e->committed,
                        e->pending_start,
                        e->pending_end,
                        e->token_id);
        }
        if (*len + (size_t) k + 1 > *alloc) {
                size_t na = MAX(*alloc * 2, *len + (size_t) k + 1024);
                char *p = realloc(*text, na);
                if (!p)
                        return -ENOMEM;
                *text = p;
                *alloc = na;
        }
        memcpy(*text + *len, line, (size_t) k);
        *len += (size_t) k;
        return 0;
}

int checkpoint_load(const char *path, CheckpointEntry **ret, size_t *ret_n) {
        _cleanup_free_ char *text = NULL;
        size_t size, bad;
        int r;

        r = read_full_file(path, 64 * 1024 * 1024, &text, &size);
        if (r == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to read checkpoint file %s: %m", path);
        r = checkpoint_parse(text, size, ret, ret_n, &bad);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "%s:%zu: malformed checkpoint line", path, bad);
        return 0;
}
