/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "macro.h"
#include "shipper-manager.h"
#include "util.h"

/* How much of a file's beginning identifies it, besides device and inode
 * (inodes are reused once a file is deleted). */
#define FINGERPRINT_MAX 1024

static uint64_t fnv1a(const char *p, size_t n) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        for (size_t i = 0; i < n; i++) {
                h ^= (uint8_t) p[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

static int fingerprint(int fd, uint32_t len, uint64_t *ret) {
        char buf[FINGERPRINT_MAX];
        ssize_t n;

        n = pread(fd, buf, len, 0);
        if (n < 0)
                return -errno;
        if ((size_t) n != len)
                return -ENODATA;
        *ret = fnv1a(buf, len);
        return 0;
}

void shipper_file_set_identity(ShipperFile *f) {
        uint32_t len = (uint32_t) MIN(f->size, (uint64_t) FINGERPRINT_MAX);
        uint64_t h = 0;

        if (len > 0 && fingerprint(f->fd, len, &h) < 0)
                len = 0;
        f->fp_len = len;
        f->fp_hash = h;
        snprintf(
                f->token_id,
                sizeof(f->token_id),
                "%" PRIx64 "-%" PRIu64 "-%016" PRIx64,
                (uint64_t) f->dev,
                (uint64_t) f->ino,
                h);
}

static void file_restore(ShipperFile *f) {
        Manager *m = f->manager;

        for (size_t i = 0; i < m->n_restored; i++) {
                CheckpointEntry *e = &m->restored[i];
                uint64_t h;

                if (e->used || e->dev != (uint64_t) f->dev || e->ino != (uint64_t) f->ino)
                        continue;
                if (e->fp_len > f->size || e->committed > f->size ||
                    (e->fp_len > 0 && (fingerprint(f->fd, e->fp_len, &h) < 0 || h != e->fp_hash))) {
                        log_info(
                                "%s: inode was reused or the file was truncated, reading it from the start",
                                f->path);
                        continue;
                }
                e->used = true;
                f->fp_len = e->fp_len;
                f->fp_hash = e->fp_hash;
                memcpy(f->token_id, e->token_id, sizeof(f->token_id));
                f->committed = e->committed;
                memcpy(f->forced, e->pending, sizeof(f->forced));
                f->n_forced = e->n_pending;
                f->i_forced = 0;
                log_info(
                        "%s: resuming at offset %" PRIu64
                        " (%u unacknowledged batches rebuilt as they were)",
                        f->path,
                        f->committed,
                        f->n_forced);
                return;
        }
}

int shipper_file_open(Manager *m, const char *path, int fd, const struct stat *st, ShipperFile **ret) {
        ShipperFile *f;
        int r;

        f = calloc(1, sizeof(ShipperFile));
        if (!f)
                return -ENOMEM;
        f->manager = m;
        f->fd = fd;
        f->dev = st->st_dev;
        f->ino = st->st_ino;
        f->size = (uint64_t) st->st_size;
        f->last_data_usec = now_usec(CLOCK_MONOTONIC);
        f->path = strdup(path);
        f->prefix.max = 64 * 1024;
        if (!f->path) {
                r = -ENOMEM;
                goto fail;
        }
        r = reader_init(&f->reader, (size_t) m->config->max_line_bytes);
        if (r < 0)
                goto fail;
        r = transform_resource_prefix(path, m->config->service_name, &f->prefix);
        if (r < 0)
                goto fail;
        shipper_file_set_identity(f);
        file_restore(f);
        f->next_start = f->committed;
        reader_reset(&f->reader, fd, f->committed);
        *ret = f;
        return 0;
fail:
        f->fd = -EBADF;
        shipper_file_free(f);
        return r;
}

ShipperFile *shipper_file_free(ShipperFile *f) {
        if (!f)
                return NULL;
        while (f->queue_head) {
                Batch *b = f->queue_head;
                f->queue_head = b->next;
                batch_free(b);
        }
        batch_free(f->filling);
        sd_event_source_disable_unref(f->watch);
        reader_done(&f->reader);
        buf_done(&f->prefix);
        safe_close(f->fd);
        free(f->path);
        free(f);
        return NULL;
}

static int on_message(void *userdata, const LogMessage *msg, uint64_t end) {
        ShipperFile *f = userdata;
        Manager *m = f->manager;
        const ShipperConfig *c = m->config;
        Batch *b = f->filling;
        int r;

        if (!b) {
                b = f->filling = batch_new(f);
                if (!b)
                        return -ENOMEM;
                b->start = b->end = f->next_start;
        }
        if (msg) {
                size_t before = b->rows.len;
                r = transform_message(
                        &m->topts,
                        f->prefix.data,
                        f->prefix.len,
                        msg,
                        m->read_time_ns,
                        &b->rows,
                        &m->tstats);
                if (r < 0)
                        return r;
                m->buffered_bytes += b->rows.len - before;
                if (b->n_rows++ == 0) {
                        b->first_row_usec = now_usec(CLOCK_MONOTONIC);
                        manager_arm_flush(m, b->first_row_usec + (uint64_t) c->flush_interval_nsec / 1000);
                }
        }
        b->end = end;

        if (shipper_file_forced(f)) {
                uint64_t forced_end = f->forced[f->i_forced];
                if (end < forced_end)
                        return 0;
                if (end > forced_end)
                        log_warning(
                                "%s: batch in flight before the restart ended at %" PRIu64
                                ", the file now has a line boundary at %" PRIu64 " instead",
                                f->path,
                                forced_end,
                                end);
                while (shipper_file_forced(f) && f->forced[f->i_forced] <= end)
                        f->i_forced++;
                manager_seal(m, f);
        } else if (b->n_rows >= (uint64_t) c->batch_rows || b->rows.len >= (size_t) c->batch_bytes)
                manager_seal(m, f);

        if (shipper_file_queue_full(f) || m->buffered_bytes >= (uint64_t) c->buffer_bytes) {
                /* Back-pressure: the file itself is the buffer. */
                if (!f->paused)
                        m->stats.read_pauses++;
                f->paused = true;
                return 1;
        }
        return 0;
}

/* A copytruncate rotation copies the file and then truncates it. Lines we had
 * not read yet are only in the copy: find it (same first bytes, another inode,
 * next to the file) and continue there, as if the file had been renamed. */
static int find_copy(ShipperFile *f) {
        _cleanup_free_ char *pattern = NULL;
        glob_t g = {0};
        int found = -ENOENT;

        if (f->fp_len == 0 || asprintf(&pattern, "%s[.-]*", f->path) < 0)
                return -ENOENT;
        if (glob(pattern, GLOB_NOSORT, NULL, &g) != 0)
                return -ENOENT;
        for (size_t i = 0; i < g.gl_pathc && found < 0; i++) {
                _cleanup_close_ int fd = open(g.gl_pathv[i], O_RDONLY | O_CLOEXEC | O_NOCTTY);
                struct stat st;
                uint64_t h;

                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_ino == f->ino ||
                    (uint64_t) st.st_size < f->reader.buf_off + f->reader.start)
                        continue;
                if (fingerprint(fd, f->fp_len, &h) < 0 || h != f->fp_hash)
                        continue;
                log_info(
                        "%s: truncated after a copy to %s, reading the rest from the copy",
                        f->path,
                        g.gl_pathv[i]);
                safe_close(f->fd);
                f->fd = TAKE_FD(fd);
                f->dev = st.st_dev;
                f->ino = st.st_ino;
                f->size = (uint64_t) st.st_size;
                f->reader.fd = f->fd;
                f->rotated = true;
                found = 0;
        }
        globfree(&g);
        return found;
}

int shipper_file_check(ShipperFile *f) {
        Manager *m = f->manager;
        struct stat st;
        uint64_t pos = reader_file_pos(&f->reader), h;
        bool truncated = false;

        if (fstat(f->fd, &st) < 0)
                return -errno;
        if ((uint64_t) st.st_size < pos)
                truncated = true;
        else if (f->fp_len > 0 && pos > 0 && (uint64_t) st.st_size < f->size) /* shrank, then grew again */
                truncated = true;
        else if (
                f->fp_len > 0 && pos > 0 && !f->rotated &&
                (fingerprint(f->fd, f->fp_len, &h) < 0 || h != f->fp_hash))
                truncated = true;
        f->size = (uint64_t) st.st_size;
        if (!truncated)
                return 0;

        m->stats.truncations++;
        if (!f->rotated && find_copy(f) == 0) {
                manager_schedule_rescan(m);
                return 0;
        }
        log_info("%s: truncated, reading it from the start", f->path);
        /* Rows already read belong to the old content: send them, but their
         * acknowledgement no longer moves this file's offset. */
        if (f->filling)
                manager_seal(m, f);
        f->generation++;
        f->committed = 0;
        f->next_start = 0;
        f->n_forced = f->i_forced = 0;
        reader_reset(&f->reader, f->fd, 0);
        shipper_file_set_identity(f);
        manager_schedule_commit(m);
        return 0;
}

int shipper_file_read(ShipperFile *f, size_t budget) {
        Manager *m = f->manager;
        uint64_t before = reader_file_pos(&f->reader);
        LineStats old = f->reader.asm_.stats;
        int r;

        if (f->fp_len == 0 && f->size > 0) {
                shipper_file_set_identity(f);
                /* Batches carry the identity: a filling batch without rows yet gets it too. */
                if (f->filling)
                        memcpy(f->filling->token_id, f->token_id, sizeof(f->token_id));
        }
        /* The time of lines that carry none: taken once per read, not per line. */
        m->read_time_ns = (int64_t) now_nsec(CLOCK_REALTIME);
        r = reader_run(&f->reader, budget, on_message, f);
        uint64_t after = reader_file_pos(&f->reader);
        const LineStats *s = &f->reader.asm_.stats;
        m->stats.bytes_read += after - before;
        m->stats.lines_read += s->lines - old.lines;
        m->stats.lines_truncated += s->truncated - old.truncated;
        m->stats.lines_partial += s->partials - old.partials;
        m->stats.lines_empty += s->empty - old.empty;
        for (int i = 0; i < _LOG_FORMAT_MAX; i++)
                m->stats.format_lines[i] += s->format[i] - old.format[i];
        if (after > before)
                f->last_data_usec = now_usec(CLOCK_MONOTONIC);
        if (after > f->size)
                f->size = after;
        if (r < 0)
                return log_error_errno(r, "%s: failed to read: %m", f->path);
        f->at_eof = r == 1;
        return r;
}
