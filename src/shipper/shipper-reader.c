/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "shipper-reader.h"

int reader_init(Reader *r, size_t max_line) {
        *r = (Reader){.fd = -EBADF};
        /* A physical line up to max_line (plus docker's escaping of a 16 KiB
         * part) fits; longer ones go the overlong path. */
        r->cap = max_line + 64 * 1024;
        if (r->cap < 256 * 1024)
                r->cap = 256 * 1024;
        r->buf = malloc(r->cap);
        if (!r->buf)
                return -ENOMEM;
        return line_assembler_init(&r->asm_, max_line);
}

void reader_done(Reader *r) {
        free(r->buf);
        r->buf = NULL;
        line_assembler_done(&r->asm_);
}

void reader_reset(Reader *r, int fd, uint64_t offset) {
        r->fd = fd;
        r->start = r->end = 0;
        r->buf_off = offset;
        r->cut_at = 0;
        line_assembler_reset(&r->asm_);
}

static int process_lines(Reader *r, ReaderCallback cb, void *userdata) {
        const LogMessage *msgs;
        size_t n;
        int k;

        while (r->start < r->end) {
                char *line = r->buf + r->start;
                char *nl = memchr(line, '\n', r->end - r->start);
                if (!nl) {
                        if (r->start > 0 || r->end < r->cap)
                                return 0; /* need more data */
                        /* A full buffer without a newline: keep the first
                         * bytes, skip the rest of this physical line. */
                        k = line_assembler_overlong_piece(&r->asm_, line, r->end - r->start);
                        if (k < 0)
                                return k;
                        r->buf_off += r->end;
                        r->start = r->end = 0;
                        return 0;
                }
                size_t len = (size_t) (nl - line);
                uint64_t end_off = r->buf_off + (uint64_t) (nl + 1 - r->buf);
                r->start += len + 1;
                if (r->asm_.in_overlong)
                        k = line_assembler_overlong_end(&r->asm_, line, len, &msgs, &n);
                else
                        k = line_assembler_feed(&r->asm_, line, len, &msgs, &n);
                if (k == 0 && end_off == r->cut_at)
                        k = line_assembler_cut(&r->asm_, &msgs, &n);
                if (k < 0)
                        return k;
                if (k == 0)
                        continue; /* not a boundary */
                k = cb(userdata, msgs, n, end_off);
                if (k != 0)
                        return k < 0 ? k : 1;
        }
        return 0;
}

int reader_cut(Reader *r, ReaderCallback cb, void *userdata) {
        const LogMessage *msgs;
        size_t n;

        if (r->asm_.in_overlong || line_assembler_cut(&r->asm_, &msgs, &n) == 0)
                return 0;
        return cb(userdata, msgs, n, r->buf_off + r->start);
}

int reader_run(Reader *r, size_t budget, ReaderCallback cb, void *userdata) {
        size_t got = 0;
        int k;

        for (;;) {
                k = process_lines(r, cb, userdata);
                if (k != 0)
                        return k < 0 ? k : 0;
                if (got >= budget)
                        return 0;
                if (r->start > 0) {
                        memmove(r->buf, r->buf + r->start, r->end - r->start);
                        r->buf_off += r->start;
                        r->end -= r->start;
                        r->start = 0;
                }
                ssize_t n = pread(r->fd, r->buf + r->end, r->cap - r->end, (off_t) (r->buf_off + r->end));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return 1;
                r->end += (size_t) n;
                got += (size_t) n;
        }
}
