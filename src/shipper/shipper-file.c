/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "duration.h"
#include "log.h"
#include "macro.h"
#include "shipper-file.h"
#include "shipper-identity.h"
#include "shipper-reader.h"
#include "util.h"

/* A sealed batch in the file's queue. */
typedef struct Pending Pending;
struct Pending {
        Pending *next;
        Batch *batch;
        bool started;        /* handed to the sender (in flight, queued or waiting to retry) */
        bool acked;          /* stored by ClickHouse; freed once the batches before it are too */
        bool intent_saved;   /* the checkpoint file on disk records its range */
        uint64_t intent_seq; /* the checkpoint write that records it; 0 for none yet */
};

struct ShipperFile {
        ShipperFileContext *ctx;
        void *userdata;
        char *path; /* the name it was found under: its Kubernetes metadata comes from it */
        char *dir;  /* the directory it really lives in, where it is looked for after a restart */
        int fd;
        dev_t dev;
        ino_t ino;
        uint64_t fp_hash;
        uint32_t fp_len;
        uint64_t generation;
        char token_id[BATCH_TOKEN_ID_MAX];
        Reader reader;
        StrBuf prefix; /* JSONEachRow: the row's resource part */
        TransformResource resource;
        NativeResource native_resource;
        Batch *filling;
        Pending *queue_head, *queue_tail;
        unsigned queue_len;
        unsigned inflight;  /* batches started and not yet acknowledged */
        uint64_t committed; /* offset acknowledged by ClickHouse */
        /* Batches recorded before a restart end exactly here, in order. */
        uint64_t forced[CHECKPOINT_MAX_PENDING];
        unsigned n_forced, i_forced;
        uint64_t next_start; /* where the next batch begins (end of the last sealed one) */
        uint64_t last_data_usec;
        uint64_t size;
        int64_t read_time_ns; /* the time of lines that carry none: taken once per read */
        bool paused;
        bool at_eof;
        bool rotated; /* the path no longer leads here: read to the end, then let go */
};

static void notify(ShipperFile *f, ShipperFileEvent event, uint64_t arg) {
        f->ctx->notify(f, event, arg, f->userdata);
}

static bool forced(const ShipperFile *f) {
        return f->i_forced < f->n_forced;
}

/* Reading pauses while every sending slot of the file is taken and one more
 * batch waits: back-pressure, the file is the buffer. */
static bool queue_full(const ShipperFile *f) {
        return f->queue_len > (unsigned) f->ctx->config->max_inflight_per_file;
}

static void set_identity(ShipperFile *f) {
        uint32_t len = (uint32_t) MIN(f->size, (uint64_t) IDENTITY_FINGERPRINT_MAX);
        uint64_t h = 0;

        if (len > 0 && identity_fingerprint(f->fd, len, &h) < 0)
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

/* Resumes where e (the file's line of the checkpoint) left off: its offset, its token and the ranges of the
 * batches not acknowledged before the restart, to be rebuilt as they were. */
static void resume_from(ShipperFile *f, CheckpointEntry *e) {
        e->used = true;
        f->fp_len = e->fp_len;
        f->fp_hash = e->fp_hash;
        memcpy(f->token_id, e->token_id, sizeof(f->token_id));
        f->committed = e->committed;
        memcpy(f->forced, e->pending, sizeof(f->forced));
        f->n_forced = e->n_pending;
        f->i_forced = 0;
}

static void file_restore(ShipperFile *f, CheckpointEntry *restored, size_t n_restored) {
        for (size_t i = 0; i < n_restored; i++) {
                CheckpointEntry *e = &restored[i];
                uint64_t h;

                if (e->used || e->dev != (uint64_t) f->dev || e->ino != (uint64_t) f->ino)
                        continue;
                if (e->fp_len > f->size || e->committed > f->size ||
                    (e->fp_len > 0 && (identity_fingerprint(f->fd, e->fp_len, &h) < 0 || h != e->fp_hash))) {
                        log_info(
                                "%s: inode was reused or the file was truncated, reading it from the start",
                                f->path);
                        continue;
                }
                resume_from(f, e);
                log_info(
                        "%s: resuming at offset %" PRIu64
                        " (%u unacknowledged batches rebuilt as they were)",
                        f->path,
                        f->committed,
                        f->n_forced);
                return;
        }
}

static char *real_dir(const char *path) {
        _cleanup_free_ char *real = realpath(path, NULL);
        _cleanup_free_ char *copy = strdup(real ? real : path);

        return copy ? strdup(dirname(copy)) : NULL;
}

static int file_new(
        ShipperFileContext *ctx,
        const char *path,
        const char *dir,
        int fd,
        const struct stat *st,
        void *userdata,
        ShipperFile **ret) {
        ShipperFile *f;
        int r;

        f = calloc(1, sizeof(ShipperFile));
        if (!f)
                return -ENOMEM;
        f->ctx = ctx;
        f->userdata = userdata;
        f->fd = fd;
        f->dev = st->st_dev;
        f->ino = st->st_ino;
        f->size = (uint64_t) st->st_size;
        f->last_data_usec = now_usec(CLOCK_MONOTONIC);
        f->path = strdup(path);
        f->dir = dir ? strdup(dir) : real_dir(path);
        f->prefix.max = 64 * 1024;
        if (!f->path || !f->dir) {
                r = -ENOMEM;
                goto fail;
        }
        r = reader_init(&f->reader, (size_t) ctx->config->max_line_bytes);
        if (r < 0)
                goto fail;
        r = transform_resource_prefix(path, ctx->config->service_name, &f->prefix);
        if (r < 0)
                goto fail;
        r = transform_resource_init(path, ctx->config->service_name, &f->resource);
        if (r < 0)
                goto fail;
        r = native_resource_init(&f->resource, &f->native_resource);
        if (r < 0)
                goto fail;
        set_identity(f);
        *ret = f;
        return 0;
fail:
        f->fd = -EBADF;
        shipper_file_free(f);
        return r;
}

int shipper_file_open(
        ShipperFileContext *ctx,
        const char *path,
        int fd,
        const struct stat *st,
        CheckpointEntry *restored,
        size_t n_restored,
        void *userdata,
        ShipperFile **ret) {
        ShipperFile *f;
        int r;

        r = file_new(ctx, path, NULL, fd, st, userdata, &f);
        if (r < 0)
                return r;
        file_restore(f, restored, n_restored);
        f->next_start = f->committed;
        reader_reset(&f->reader, fd, f->committed);
        *ret = f;
        return 0;
}

int shipper_file_open_found(
        ShipperFileContext *ctx,
        CheckpointEntry *e,
        const char *found_path,
        int fd,
        const struct stat *st,
        void *userdata,
        ShipperFile **ret) {
        _cleanup_free_ char *dir = identity_entry_dir(e);
        ShipperFile *f;
        int r;

        if (!dir || !e->path)
                return -ENOMEM;
        r = file_new(ctx, e->path, dir, fd, st, userdata, &f);
        if (r < 0)
                return r;
        /* The identity stays the checkpoint's (a copy has another inode): the batches rebuilt from it keep
         * their tokens. */
        resume_from(f, e);
        f->next_start = f->committed;
        reader_reset(&f->reader, fd, f->committed);
        log_info(
                "%s: found again as %s, resuming at offset %" PRIu64
                " (%u unacknowledged batches rebuilt as they were)",
                f->path,
                found_path,
                f->committed,
                f->n_forced);
        *ret = f;
        return 0;
}

ShipperFile *shipper_file_free(ShipperFile *f) {
        if (!f)
                return NULL;
        while (f->queue_head) {
                Pending *p = f->queue_head;
                f->queue_head = p->next;
                batch_free(p->batch);
                free(p);
        }
        batch_free(f->filling);
        reader_done(&f->reader);
        strbuf_done(&f->prefix);
        native_resource_done(&f->native_resource);
        transform_resource_done(&f->resource);
        safe_close(f->fd);
        free(f->dir);
        free(f->path);
        free(f);
        return NULL;
}

/* The batch being filled becomes the last of the queue; an empty one just moves the offset when nothing
 * waits before it. */
static void seal(ShipperFile *f) {
        Batch *b = f->filling;
        Pending *p;

        if (!b)
                return;
        size_t before = batch_memory(b);
        int r = batch_finish(b);
        if (r < 0) {
                /* Keep it: the next seal tries again (the body is bounded, so this is memory). */
                log_error_errno(r, "%s: cannot finish a batch's body: %m", f->path);
                return;
        }
        f->ctx->buffered_bytes = f->ctx->buffered_bytes + batch_memory(b) - before;
        f->filling = NULL;
        f->next_start = batch_end(b);
        if (batch_n_rows(b) == 0 && !f->queue_head) {
                if (batch_generation(b) == f->generation && batch_end(b) > f->committed) {
                        f->committed = batch_end(b);
                        notify(f, SHIPPER_FILE_COMMIT, 0);
                }
                f->ctx->buffered_bytes -= batch_memory(b);
                batch_free(b);
                return;
        }
        p = new0(Pending, 1);
        if (!p) {
                /* Keep filling it instead: the next seal tries again. */
                log_oom();
                f->filling = b;
                return;
        }
        p->batch = b;
        if (f->queue_tail)
                f->queue_tail->next = p;
        else
                f->queue_head = p;
        f->queue_tail = p;
        f->queue_len++;
        notify(f, SHIPPER_FILE_COMMIT, 0);
}

void shipper_file_seal(ShipperFile *f) {
        if (!forced(f))
                seal(f);
}

uint64_t shipper_file_flush(ShipperFile *f, uint64_t now_usec, uint64_t interval_usec) {
        Batch *b = f->filling;
        uint64_t due;

        if (!b || forced(f))
                return 0;
        if (batch_n_rows(b) == 0) {
                if (batch_end(b) > batch_start(b))
                        seal(f); /* only empty lines: just move the offset */
                return 0;
        }
        due = batch_first_row_usec(b) + interval_usec;
        if (due > now_usec)
                return due;
        seal(f);
        return 0;
}

static int on_message(void *userdata, const LogMessage *msgs, size_t n_msgs, uint64_t end) {
        ShipperFile *f = userdata;
        ShipperFileContext *ctx = f->ctx;
        const ShipperConfig *c = ctx->config;
        Batch *b = f->filling;
        int r;

        if (!b) {
                /* One message (max_line, escaped up to 6x) must always fit on top of a batch that is just
                 * below batch-bytes (the body is compressed as it grows: this bounds the rare body that
                 * does not compress). */
                size_t max = (size_t) c->batch_bytes + (size_t) c->max_line_bytes * 6 + 64 * 1024;
                b = f->filling = batch_new(ctx->pool, max, f->token_id, f->generation, f->next_start);
                if (!b)
                        return -ENOMEM;
        }
        /* The messages of one boundary all go into this batch: no batch ends between two boundaries. */
        for (size_t i = 0; i < n_msgs; i++) {
                const LogMessage *msg = &msgs[i];
                size_t before = batch_memory(b);
                bool first = batch_n_rows(b) == 0;
                transform_parse(msg, f->read_time_ns, &ctx->row, &ctx->tstats);
                r = batch_add_row(
                        b,
                        &ctx->topts,
                        f->prefix.data,
                        f->prefix.len,
                        &f->native_resource,
                        &ctx->row,
                        first ? now_usec(CLOCK_MONOTONIC) : 0); /* the time of the first row only */
                if (r < 0)
                        return r;
                transform_count_row(&ctx->row, &ctx->tstats);
                ctx->buffered_bytes = ctx->buffered_bytes + batch_memory(b) - before;
                if (first)
                        notify(f,
                               SHIPPER_FILE_FLUSH_AT,
                               batch_first_row_usec(b) + nsec_to_usec(c->flush_interval_nsec));
        }
        batch_set_end(b, end);

        if (forced(f)) {
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
                while (forced(f) && f->forced[f->i_forced] <= end)
                        f->i_forced++;
                reader_cut_at(&f->reader, forced(f) ? f->forced[f->i_forced] : 0);
                seal(f);
        } else if (batch_n_rows(b) >= (uint64_t) c->batch_rows || batch_size(b) >= (size_t) c->batch_bytes)
                seal(f);

        if (queue_full(f) || ctx->buffered_bytes >= (uint64_t) c->buffer_bytes) {
                /* Back-pressure: the file itself is the buffer. */
                if (!f->paused)
                        ctx->stats->read_pauses++;
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
                if (identity_fingerprint(fd, f->fp_len, &h) < 0 || h != f->fp_hash)
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
                (identity_fingerprint(f->fd, f->fp_len, &h) < 0 || h != f->fp_hash))
                truncated = true;
        f->size = (uint64_t) st.st_size;
        if (!truncated)
                return 0;

        f->ctx->stats->truncations++;
        if (!f->rotated && find_copy(f) == 0) {
                notify(f, SHIPPER_FILE_RESCAN, 0);
                return 0;
        }
        log_info("%s: truncated, reading it from the start", f->path);
        /* Rows already read belong to the old content: send them, but their
         * acknowledgement no longer moves this file's offset. */
        seal(f);
        f->generation++;
        f->committed = 0;
        f->next_start = 0;
        f->n_forced = f->i_forced = 0;
        reader_reset(&f->reader, f->fd, 0);
        set_identity(f);
        notify(f, SHIPPER_FILE_COMMIT, 0);
        return 0;
}

int shipper_file_read(ShipperFile *f, size_t budget) {
        ShipperStats *st = f->ctx->stats;
        uint64_t before = reader_file_pos(&f->reader);
        LineStats old = f->reader.asm_.stats;
        int r;

        if (f->fp_len == 0 && f->size > 0) {
                set_identity(f);
                /* Batches carry the identity: a filling batch without rows yet gets it too. */
                if (f->filling)
                        batch_set_token_id(f->filling, f->token_id);
        }
        /* The time of lines that carry none: taken once per read, not per line. */
        f->read_time_ns = (int64_t) now_nsec(CLOCK_REALTIME);
        /* A batch recorded before a restart may have ended where messages in parts were cut: cut them at
         * the same place again. */
        reader_cut_at(&f->reader, forced(f) ? f->forced[f->i_forced] : 0);
        r = reader_run(&f->reader, budget, on_message, f);
        uint64_t after = reader_file_pos(&f->reader);
        const LineStats *s = &f->reader.asm_.stats;
        st->bytes_read += after - before;
        st->lines_read += s->lines - old.lines;
        st->lines_truncated += s->truncated - old.truncated;
        st->lines_partial += s->partials - old.partials;
        st->lines_empty += s->empty - old.empty;
        for (int i = 0; i < _LOG_FORMAT_MAX; i++)
                st->format_lines[i] += s->format[i] - old.format[i];
        if (after > before)
                f->last_data_usec = now_usec(CLOCK_MONOTONIC);
        if (after > f->size)
                f->size = after;
        if (r < 0)
                return log_error_errno(r, "%s: failed to read: %m", f->path);
        f->at_eof = r == 1;
        return r;
}

bool shipper_file_check_rotated(ShipperFile *f) {
        struct stat st, fst;

        if (f->rotated)
                return false;
        if (stat(f->path, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino &&
            !(fstat(f->fd, &fst) == 0 && fst.st_nlink == 0))
                return false;
        log_info("%s was rotated or deleted; reading the old file to its end", f->path);
        f->rotated = true;
        f->ctx->stats->rotations++;
        return true;
}

void shipper_file_end_parts(ShipperFile *f, uint64_t now_usec, uint64_t rotate_wait_usec) {
        int r;

        if (!f->rotated || !f->reader.asm_.pending || forced(f) || f->paused ||
            now_usec < f->last_data_usec + rotate_wait_usec)
                return;
        /* A writer may still have appended (the last part, maybe). */
        if (shipper_file_read(f, SIZE_MAX) != 1 || !f->reader.asm_.pending ||
            now_usec < f->last_data_usec + rotate_wait_usec)
                return;
        log_info(
                "%s: rotated, read to its end and quiet, but a message is still in parts: shipping it as it is",
                f->path);
        r = reader_cut(&f->reader, on_message, f);
        if (r < 0)
                log_error_errno(r, "%s: cannot end the messages in parts: %m", f->path);
}

bool shipper_file_finished(const ShipperFile *f, uint64_t now_usec, uint64_t rotate_wait_usec) {
        return f->rotated && f->at_eof && !f->filling && !f->queue_head && !f->reader.asm_.pending &&
               now_usec >= f->last_data_usec + rotate_wait_usec;
}

bool shipper_file_checkpoint_entry(ShipperFile *f, uint64_t seq, CheckpointEntry *e) {
        uint64_t at = f->committed;
        bool contiguous = true;

        *e = (CheckpointEntry){
                .dev = (uint64_t) f->dev,
                .ino = (uint64_t) f->ino,
                .fp_hash = f->fp_hash,
                .fp_len = f->fp_len,
                .committed = f->committed,
                .size = f->size,
                .dir = f->dir,
                .path = f->path,
        };
        for (Pending *p = f->queue_head; p; p = p->next) {
                Batch *b = p->batch;
                if (batch_generation(b) != f->generation) {
                        /* Rows of content that was truncated away cannot be rebuilt after a restart:
                         * nothing to record. */
                        if (!p->intent_seq)
                                p->intent_seq = seq;
                        continue;
                }
                if (contiguous && batch_start(b) == at && e->n_pending < CHECKPOINT_MAX_PENDING) {
                        e->pending[e->n_pending++] = batch_end(b);
                        at = batch_end(b);
                        if (!p->intent_seq)
                                p->intent_seq = seq;
                } else
                        contiguous = false;
        }
        /* Batches from before a restart that are not rebuilt yet: their ranges stay on record, or a second
         * restart would cut their rows differently, under other tokens, and what ClickHouse stored of them
         * without an acknowledgement would be stored again. */
        for (unsigned i = f->i_forced;
             contiguous && i < f->n_forced && e->n_pending < CHECKPOINT_MAX_PENDING;
             i++)
                if (f->forced[i] > at)
                        e->pending[e->n_pending++] = at = f->forced[i];
        if (f->fp_len == 0)
                return false; /* nothing read yet */
        memcpy(e->token_id, f->token_id, sizeof(e->token_id));
        return true;
}

void shipper_file_checkpoint_written(ShipperFile *f, uint64_t seq, int result) {
        for (Pending *p = f->queue_head; p; p = p->next)
                if (result < 0) {
                        /* Nothing may be sent before its range is on disk: the next write records it. */
                        if (p->intent_seq == seq && !p->intent_saved)
                                p->intent_seq = 0;
                } else if (p->intent_seq && p->intent_seq <= seq)
                        p->intent_saved = true;
}

Batch *shipper_file_next_to_send(ShipperFile *f) {
        /* Acknowledgements may come back in any order; the offset only moves over the acknowledged
         * prefix. */
        for (Pending *p = f->queue_head; p; p = p->next) {
                if (f->inflight >= (unsigned) f->ctx->config->max_inflight_per_file)
                        return NULL;
                if (p->acked || p->started)
                        continue;
                if (!p->intent_saved)
                        return NULL;
                p->started = true;
                f->inflight++;
                return p->batch;
        }
        return NULL;
}

void shipper_file_batch_done(ShipperFile *f, Batch *b) {
        Pending *p;

        for (p = f->queue_head; p && p->batch != b; p = p->next)
                ;
        assert(p && p->started && !p->acked);
        p->acked = true;
        f->inflight--;
        while ((p = f->queue_head) && p->acked) {
                f->queue_head = p->next;
                if (!f->queue_head)
                        f->queue_tail = NULL;
                f->queue_len--;
                f->ctx->buffered_bytes -= batch_memory(p->batch);
                if (batch_generation(p->batch) == f->generation && batch_end(p->batch) > f->committed)
                        f->committed = batch_end(p->batch);
                batch_free(p->batch);
                free(p);
        }
        notify(f, SHIPPER_FILE_COMMIT, 0);
}

typedef struct Rebuild {
        ShipperFile *file;
        Batch *batch;
        uint64_t end;
        uint32_t rows;
        int error;
} Rebuild;

static int on_rebuild_message(void *userdata, const LogMessage *msgs, size_t n_msgs, uint64_t end) {
        Rebuild *rb = userdata;
        ShipperFile *f = rb->file;
        ShipperFileContext *ctx = f->ctx;
        TransformStats ignored = {};

        if (end > rb->end) {
                rb->error = -EBADMSG; /* no line boundary where the batch ended */
                return -EBADMSG;
        }
        for (size_t i = 0; i < n_msgs; i++) {
                int r = transform_message(
                        &ctx->topts,
                        f->prefix.data,
                        f->prefix.len,
                        &msgs[i],
                        f->read_time_ns,
                        batch_rows(rb->batch),
                        &ignored);
                if (r < 0)
                        return rb->error = r;
                rb->rows++;
        }
        return end == rb->end ? 1 : 0;
}

int shipper_file_rebuild_rows(ShipperFile *f, Batch *b) {
        Rebuild rb = {.file = f, .batch = b, .end = batch_end(b)};
        Reader reader;
        size_t before = batch_memory(b);
        int r;

        if (batch_generation(b) != f->generation || batch_end(b) > f->size)
                return -ESTALE;
        r = reader_init(&reader, (size_t) f->ctx->config->max_line_bytes);
        if (r < 0)
                return r;
        /* A reader of its own on the same descriptor (it reads with pread): the file's position stays. */
        reader_reset(&reader, f->fd, batch_start(b));
        reader_cut_at(&reader, rb.end); /* where the batch ended, messages in parts may have been cut */
        batch_rows(b)->len = 0;
        do
                r = reader_run(&reader, SIZE_MAX, on_rebuild_message, &rb);
        while (r == 0 && rb.error == 0 && reader_file_pos(&reader) < rb.end && rb.rows < batch_n_rows(b));
        reader_done(&reader);
        if (rb.error < 0)
                r = rb.error;
        else if (r >= 0 && rb.rows != batch_n_rows(b))
                r = -EBADMSG;
        f->ctx->buffered_bytes = f->ctx->buffered_bytes + batch_memory(b) - before;
        if (r < 0) {
                batch_rows(b)->len = 0;
                f->ctx->buffered_bytes = f->ctx->buffered_bytes + batch_memory(b) - batch_memory(b);
                return r;
        }
        return 0;
}

bool shipper_file_resume(ShipperFile *f) {
        if (!f->paused || queue_full(f) || f->ctx->buffered_bytes >= (uint64_t) f->ctx->config->buffer_bytes)
                return false;
        f->paused = false;
        return true;
}

const char *shipper_file_path(const ShipperFile *f) {
        return f->path;
}

bool shipper_file_is(const ShipperFile *f, dev_t dev, ino_t ino) {
        return f->dev == dev && f->ino == ino;
}

uint64_t shipper_file_committed(const ShipperFile *f) {
        return f->committed;
}

bool shipper_file_paused(const ShipperFile *f) {
        return f->paused;
}

bool shipper_file_rotated(const ShipperFile *f) {
        return f->rotated;
}

unsigned shipper_file_queue_length(const ShipperFile *f) {
        return f->queue_len;
}

uint64_t shipper_file_lag(const ShipperFile *f) {
        struct stat st;

        if (fstat(f->fd, &st) < 0 || (uint64_t) st.st_size <= f->committed)
                return 0;
        return (uint64_t) st.st_size - f->committed;
}
