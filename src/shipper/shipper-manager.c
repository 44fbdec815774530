/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "clickhouse-client.h"
#include "curl-glue.h"
#include "duration.h"
#include "http-server.h"
#include "log.h"
#include "macro.h"
#include "sampler.h"
#include "shipper-batch.h"
#include "shipper-checkpoint.h"
#include "shipper-discovery.h"
#include "shipper-file.h"
#include "shipper-identity.h"
#include "shipper-manager.h"
#include "shipper-metrics.h"
#include "shipper-sender.h"
#include "strbuf.h"
#include "util.h"

/* Bytes read from one file before the loop looks at other work (acks, other files). */
#define READ_BUDGET (1024 * 1024)

/* A file as the manager tracks it: the file itself, its inotify watch and its place in the lists. */
typedef struct Tracked Tracked;
struct Tracked {
        Manager *manager;
        Tracked *next; /* all files */
        ShipperFile *file;
        sd_event_source *watch;
        bool seen;  /* found by the current rescan */
        bool ready; /* in the list of files to read */
        Tracked *ready_next;
};

struct Manager {
        ShipperConfig *config;
        sd_event *event;
        CurlGlue *curl;
        ClickHouseClient *clickhouse;
        HttpServer *http;
        Discovery *discovery;
        Sender *sender;
        BatchPool *pool;
        ShipperFileContext files_ctx;
        Tracked *files;
        unsigned n_files;
        Tracked *ready_head, *ready_tail;
        sd_event_source *read_source;
        sd_event_source *commit_source;
        sd_event_source *flush_timer;
        sd_event_source *rescan_timer;
        sd_event_source *rescan_soon;
        uint64_t flush_deadline_usec;
        CheckpointEntry *restored;
        size_t n_restored;
        struct timespec restored_mtime; /* of the checkpoint file read at start; 0 when there was none */
        bool checkpoint_dirty;
        CheckpointWriter *ckpt_writer;
        sd_event_source *ckpt_source;
        sd_event_source *ckpt_retry;
        uint64_t ckpt_seq;
        bool ckpt_busy;
        int ckpt_error; /* of the last checkpoint write, 0 when it succeeded */
        ShipperStats stats;
        sd_event_source *sigterm_source, *sigint_source, *exit_timer;
        bool stopping;
        int exit_status;
        Sampler *sampler; /* resource samples, NULL when off */
};

/* --- reading ------------------------------------------------------------------------------------------ */

static void mark_ready(Manager *m, Tracked *t) {
        if (t->ready || shipper_file_paused(t->file) || m->stopping)
                return;
        t->ready = true;
        t->ready_next = NULL;
        if (m->ready_tail)
                m->ready_tail->ready_next = t;
        else
                m->ready_head = t;
        m->ready_tail = t;
        (void) sd_event_source_set_enabled(m->read_source, SD_EVENT_ONESHOT);
}

static Tracked *ready_pop(Manager *m) {
        Tracked *t = m->ready_head;
        if (!t)
                return NULL;
        m->ready_head = t->ready_next;
        if (!m->ready_head)
                m->ready_tail = NULL;
        t->ready = false;
        t->ready_next = NULL;
        return t;
}

static int on_read(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        Tracked *tail = m->ready_tail, *t;
        int r;

        /* One pass over the files that were ready when we started; files that
         * still have data go to the back of the list. */
        while ((t = ready_pop(m))) {
                bool last = t == tail;
                if (!shipper_file_paused(t->file)) {
                        r = shipper_file_check(t->file);
                        if (r < 0)
                                log_warning_errno(r, "%s: cannot stat: %m", shipper_file_path(t->file));
                        r = shipper_file_read(t->file, READ_BUDGET);
                        if (r == 0 && !shipper_file_paused(t->file))
                                mark_ready(m, t);
                }
                if (last)
                        break;
        }
        if (m->ready_head)
                (void) sd_event_source_set_enabled(m->read_source, SD_EVENT_ONESHOT);
        return 0;
}

/* --- sealing on time ---------------------------------------------------------------------------------- */

static void arm_flush(Manager *m, uint64_t deadline_usec) {
        if (m->flush_deadline_usec && m->flush_deadline_usec <= deadline_usec)
                return;
        m->flush_deadline_usec = deadline_usec;
        (void) sd_event_source_set_time(m->flush_timer, deadline_usec);
        (void) sd_event_source_set_enabled(m->flush_timer, SD_EVENT_ONESHOT);
}

static int on_flush(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC), next = 0,
                 interval = nsec_to_usec(m->config->flush_interval_nsec);

        m->flush_deadline_usec = 0;
        for (Tracked *t = m->files; t; t = t->next) {
                uint64_t due = shipper_file_flush(t->file, now, interval);
                if (due && (!next || due < next))
                        next = due;
        }
        if (next)
                arm_flush(m, next);
        return 0;
}

/* --- checkpoints and sending -------------------------------------------------------------------------- */

static void schedule_commit(Manager *m) {
        m->checkpoint_dirty = true;
        (void) sd_event_source_set_enabled(m->commit_source, SD_EVENT_ONESHOT);
}

static bool may_exit(Manager *m) {
        return m->stopping && sender_idle(m->sender) && !m->ckpt_busy && !m->checkpoint_dirty;
}

static void exit_if_done(Manager *m) {
        if (may_exit(m))
                (void) sd_event_exit(m->event, m->exit_status);
}

/* Hands the file's batches whose range is on disk to the sender, up to max-inflight-per-file at a time. */
static void send_ready(Manager *m, Tracked *t) {
        Batch *b;

        while ((b = shipper_file_next_to_send(t->file)))
                if (sender_submit(m->sender, b, shipper_file_path(t->file), t) < 0) {
                        /* Without memory for the job the batch cannot go now; it is sent again after a
                         * restart (its range is on disk). */
                        log_oom();
                        return;
                }
}

/* Starts writing the checkpoint file: committed offsets and the ranges of all batches not yet
 * acknowledged (so that after a restart they are rebuilt with the same boundaries and tokens). */
static int checkpoint_start_write(Manager *m) {
        uint64_t seq = m->ckpt_seq + 1;
        size_t len = strlen(CHECKPOINT_HEADER), alloc = 4096;
        char *text;
        int r;

        text = malloc(alloc);
        if (!text)
                return log_oom();
        memcpy(text, CHECKPOINT_HEADER, len);
        for (Tracked *t = m->files; t; t = t->next) {
                CheckpointEntry e;
                if (!shipper_file_checkpoint_entry(t->file, seq, &e))
                        continue;
                r = checkpoint_format_entry(&e, &text, &len, &alloc);
                if (r < 0) {
                        free(text);
                        return log_oom();
                }
        }
        r = checkpoint_writer_submit(m->ckpt_writer, text, len, seq);
        if (r < 0) {
                free(text);
                return r;
        }
        m->ckpt_seq = seq;
        m->ckpt_busy = true;
        m->checkpoint_dirty = false;
        return 0;
}

static int on_commit(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        if (m->checkpoint_dirty && !m->ckpt_busy)
                (void) checkpoint_start_write(m);
        exit_if_done(m);
        return 0;
}

static int on_ckpt_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        m->ckpt_retry = sd_event_source_disable_unref(m->ckpt_retry);
        schedule_commit(m);
        return 0;
}

static int on_ckpt_written(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        uint64_t seq;
        int result;

        if (checkpoint_writer_collect(m->ckpt_writer, &seq, &result) < 0)
                return 0;
        m->ckpt_busy = false;
        for (Tracked *t = m->files; t; t = t->next)
                shipper_file_checkpoint_written(t->file, seq, result);
        if (result < 0) {
                m->stats.checkpoint_write_failures++;
                /* Said once per cause, not once a second: /health and the metrics carry it meanwhile. */
                if (result != m->ckpt_error)
                        log_error_errno(
                                result,
                                "Failed to write checkpoint file %s, nothing is sent until it can be written, "
                                "retrying every second: %m",
                                m->config->checkpoint_file);
                else
                        log_debug_errno(result, "Checkpoint file still not written: %m");
                m->ckpt_error = result;
                /* Nothing may be sent before its range is on disk; retry in a second. */
                m->checkpoint_dirty = true;
                if (!m->ckpt_retry)
                        (void) sd_event_add_time_relative(
                                m->event,
                                &m->ckpt_retry,
                                CLOCK_MONOTONIC,
                                USEC_PER_SEC,
                                0,
                                on_ckpt_retry,
                                m);
                return 0;
        }
        m->stats.checkpoint_writes++;
        if (m->ckpt_error < 0)
                log_info("Checkpoint file %s written again", m->config->checkpoint_file);
        m->ckpt_error = 0;
        for (Tracked *t = m->files; t; t = t->next)
                send_ready(m, t);
        if (m->checkpoint_dirty)
                schedule_commit(m);
        exit_if_done(m);
        return 0;
}

/* The sender stored (or dead-lettered) every row of b. */
static void on_batch_done(Batch *b, void *cookie, void *userdata) {
        Manager *m = userdata;
        Tracked *t = cookie;

        shipper_file_batch_done(t->file, b);
        send_ready(m, t);
        for (Tracked *i = m->files; i; i = i->next)
                if (shipper_file_resume(i->file))
                        mark_ready(m, i);
}

/* b was refused: its rows again, from its file, for bisecting. */
static int on_batch_rebuild(Batch *b, void *cookie, void *userdata) {
        Tracked *t = cookie;

        return shipper_file_rebuild_rows(t->file, b);
}

static void on_sender_progress(void *userdata) {
        exit_if_done(userdata);
}

/* ClickHouse refused the password: with --password-file, the file may hold a new one by now (a Secret
 * mounted as a file is updated in place). Read it again; a changed password is the next retry's. */
static void on_auth_refused(void *userdata) {
        Manager *m = userdata;
        ShipperConfig *c = m->config;
        char *pw = NULL;
        int r;

        if (isempty(c->password_file))
                return;
        r = shipper_config_read_password_file(c->password_file, &pw);
        if (r < 0) {
                log_debug_errno(r, "Failed to read %s again, keeping the password: %m", c->password_file);
                return;
        }
        if (streq_ptr(pw, c->password)) {
                explicit_bzero(pw, strlen(pw));
                free(pw);
                return;
        }
        r = clickhouse_client_set_password(m->clickhouse, pw);
        if (r < 0) {
                log_warning_errno(
                        r,
                        "%s: the new password cannot be sent (control characters), ignoring",
                        c->password_file);
                explicit_bzero(pw, strlen(pw));
                free(pw);
                return;
        }
        log_info("%s holds another password; the next attempts send it", c->password_file);
        if (c->password)
                explicit_bzero(c->password, strlen(c->password));
        free(c->password);
        c->password = pw;
}

/* What a file asks of the manager. */
static void on_file_notify(ShipperFile *f, ShipperFileEvent event, uint64_t arg, void *userdata) {
        Tracked *t = userdata;
        Manager *m = t->manager;

        switch (event) {
        case SHIPPER_FILE_COMMIT:
                schedule_commit(m);
                break;
        case SHIPPER_FILE_FLUSH_AT:
                arm_flush(m, arg);
                break;
        case SHIPPER_FILE_RESCAN:
                (void) sd_event_source_set_enabled(m->rescan_soon, SD_EVENT_ONESHOT);
                break;
        }
}

/* --- the set of files --------------------------------------------------------------------------------- */

static void schedule_rescan(Manager *m) {
        (void) sd_event_source_set_enabled(m->rescan_soon, SD_EVENT_ONESHOT);
}

static int on_file_event(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        Tracked *t = userdata;
        Manager *m = t->manager;

        if (ev->mask & (IN_MOVE_SELF | IN_DELETE_SELF | IN_ATTRIB | IN_IGNORED))
                schedule_rescan(m);
        /* A paused file is not read, but a copytruncate must be noticed at
         * once: the copy is only found while it still has this generation's
         * first bytes, i.e. before the next rotation. */
        if (shipper_file_paused(t->file) && !shipper_file_rotated(t->file))
                (void) shipper_file_check(t->file);
        mark_ready(m, t);
        return 0;
}

static Tracked *tracked_free(Tracked *t) {
        if (!t)
                return NULL;
        sd_event_source_disable_unref(t->watch);
        shipper_file_free(t->file);
        free(t);
        return NULL;
}

/* Tracks t's file, read from watch_path (its name, or where it was found again after a restart). */
static void track(Manager *m, Tracked *t, const char *watch_path) {
        int r;

        t->seen = true;
        t->next = m->files;
        m->files = t;
        m->n_files++;
        m->stats.files_opened++;
        r = sd_event_add_inotify(
                m->event,
                &t->watch,
                watch_path,
                IN_MODIFY | IN_MOVE_SELF | IN_DELETE_SELF | IN_ATTRIB,
                on_file_event,
                t);
        if (r < 0)
                log_debug_errno(r, "%s: no inotify watch, polling: %m", watch_path);
        r = discovery_watch_file_dir(m->discovery, watch_path);
        if (r < 0)
                log_debug_errno(
                        r, "%s: its directory is not watched, relying on the rescan: %m", watch_path);
        mark_ready(m, t);
        schedule_commit(m);
}

static void on_path_found(const char *path, void *userdata) {
        Manager *m = userdata;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        Tracked *t;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                log_debug_errno(errno, "%s: cannot open: %m", path);
                return;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return;
        for (t = m->files; t; t = t->next)
                if (shipper_file_is(t->file, st.st_dev, st.st_ino)) {
                        t->seen = true;
                        return;
                }
        t = new0(Tracked, 1);
        if (!t) {
                log_oom();
                return;
        }
        t->manager = m;
        r = shipper_file_open(&m->files_ctx, path, fd, &st, m->restored, m->n_restored, t, &t->file);
        if (r < 0) {
                free(t);
                log_error_errno(r, "%s: cannot track: %m", path);
                return;
        }
        TAKE_FD(fd);
        track(m, t, path);
        log_info("Tracking %s from offset %" PRIu64, path, shipper_file_committed(t->file));
}

static bool is_tracked(dev_t dev, ino_t ino, void *userdata) {
        Manager *m = userdata;

        for (Tracked *t = m->files; t; t = t->next)
                if (shipper_file_is(t->file, dev, ino))
                        return true;
        return false;
}

static void lost_rotated(
        Manager *m, const CheckpointEntry *e, const char *what, const char *where, uint64_t end) {
        m->stats.rotated_lost_files++;
        m->stats.rotated_lost_bytes += end - e->committed;
        log_error(
                "%s: %s%s before it was read to its end: bytes %" PRIu64 "-%" PRIu64 " (%" PRIu64
                " bytes) of it are lost",
                e->path,
                what,
                where,
                e->committed,
                end,
                end - e->committed);
}

/* Tracks e's file, found again at path (open as fd). */
static int track_found(Manager *m, CheckpointEntry *e, const char *path, int fd) {
        struct stat st;
        Tracked *t;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        t = new0(Tracked, 1);
        if (!t)
                return -ENOMEM;
        t->manager = m;
        r = shipper_file_open_found(&m->files_ctx, e, path, fd, &st, t, &t->file);
        if (r < 0) {
                free(t);
                return r;
        }
        track(m, t, path);
        (void) shipper_file_check_rotated(t->file);
        return 0;
}

/* A compressed file is read through an unnamed copy of what it holds from e's offset on, next to the
 * checkpoint file (on disk, not in memory). */
static int track_compressed(Manager *m, CheckpointEntry *e, const char *path) {
        _cleanup_free_ char *copy = strdup(m->config->checkpoint_file);
        int fd, r;

        if (!copy)
                return -ENOMEM;
        fd = identity_inflate(path, e->fp_len, e->committed, dirname(copy));
        if (fd < 0)
                return fd;
        r = track_found(m, e, path, fd);
        if (r < 0)
                safe_close(fd);
        return r;
}

/* After a restart: the files of the checkpoint that the globs no longer lead to, rotated while the shipper
 * was down, are looked for in their directory under any name and read to their end from where they were
 * left: renamed, the copy of a copytruncate, or compressed. One that was deleted (or cannot be read) before
 * it was read to its end is lost: that is logged and counted, never silent. */
static void find_rotated(Manager *m) {
        for (size_t i = 0; i < m->n_restored; i++) {
                CheckpointEntry *e = &m->restored[i];
                IdentityFound found;
                int r;

                if (e->used || !e->path)
                        continue;
                r = identity_find(e, is_tracked, m, &found);
                if (r < 0 && r != -ENOENT) {
                        log_warning_errno(r, "%s: cannot look for it in its directory: %m", e->path);
                        continue;
                }
                switch (r < 0 ? IDENTITY_NONE : found.match) {
                case IDENTITY_RENAMED:
                case IDENTITY_COPY:
                        r = track_found(m, e, found.path, found.fd);
                        if (r >= 0)
                                found.fd = -EBADF;
                        else {
                                log_error_errno(r, "%s: cannot read %s: %m", e->path, found.path);
                                lost_rotated(
                                        m,
                                        e,
                                        "unreadable as ",
                                        found.path,
                                        MAX(e->size, (uint64_t) found.st.st_size));
                        }
                        break;
                case IDENTITY_COMPRESSED:
                        if (found.size <= e->committed) {
                                log_info(
                                        "%s: compressed to %s, read to its end before", e->path, found.path);
                                break;
                        }
                        r = track_compressed(m, e, found.path);
                        if (r < 0) {
                                log_error_errno(r, "%s: cannot decompress %s: %m", e->path, found.path);
                                lost_rotated(m, e, "unreadable as ", found.path, found.size);
                        }
                        break;
                case IDENTITY_NONE:
                        if (e->size > e->committed)
                                lost_rotated(m, e, "deleted", "", e->size);
                        else
                                log_info("%s: gone (no unread bytes known)", e->path);
                        break;
                }
                identity_found_done(&found);
        }
}

/* identity_find_unrecorded()'s userdata is the file whose siblings are looked at. */
static bool is_tracked_sibling(dev_t dev, ino_t ino, void *userdata) {
        Tracked *current = userdata;
        return is_tracked(dev, ino, current->manager);
}

static void on_unrecorded(const char *path, int fd, const struct stat *st, void *userdata) {
        Tracked *current = userdata, *t;
        Manager *m = current->manager;
        const char *name = shipper_file_path(current->file);
        int r;

        t = new0(Tracked, 1);
        if (!t) {
                safe_close(fd);
                log_oom();
                return;
        }
        t->manager = m;
        r = shipper_file_open(&m->files_ctx, name, fd, st, NULL, 0, t, &t->file);
        if (r < 0) {
                free(t);
                safe_close(fd);
                log_error_errno(r, "%s: cannot track %s: %m", name, path);
                return;
        }
        log_info(
                "%s: %s was written while the shipper was down and never recorded: reading it from the start",
                name,
                path);
        track(m, t, path);
        (void) shipper_file_check_rotated(t->file);
}

/* After a restart: a generation that was created and rotated away while the shipper was down is in no
 * checkpoint. It is told by its name (the current file's, with a suffix), by being in no checkpoint line,
 * and by having been written after the checkpoint file (a file let go since was read to its end before that
 * write, and left the checkpoint with it). */
static void find_unrecorded(Manager *m) {
        _cleanup_free_ Tracked **current = NULL;
        size_t n = 0;

        if (m->restored_mtime.tv_sec == 0 && m->restored_mtime.tv_nsec == 0)
                return; /* a first start: rotated files from before are not ours */
        if (m->n_files == 0)
                return;
        /* The files the globs found, before any is added. */
        current = new0(Tracked *, m->n_files);
        if (!current) {
                log_oom();
                return;
        }
        for (Tracked *t = m->files; t && n < m->n_files; t = t->next)
                if (!shipper_file_rotated(t->file))
                        current[n++] = t;
        for (size_t i = 0; i < n; i++) {
                const char *path = shipper_file_path(current[i]->file);
                int r = identity_find_unrecorded(
                        path, &m->restored_mtime, is_tracked_sibling, on_unrecorded, current[i]);
                if (r < 0)
                        log_debug_errno(r, "%s: cannot look for its rotated files: %m", path);
        }
}

static void remove_file(Manager *m, Tracked *t) {
        Tracked **p = &m->files;

        while (*p && *p != t)
                p = &(*p)->next;
        if (!*p)
                return;
        *p = t->next;
        if (t->ready) {
                /* Rebuild the ready list without it. */
                Tracked *l = m->ready_head;
                m->ready_head = m->ready_tail = NULL;
                while (l) {
                        Tracked *n = l->ready_next;
                        l->ready = false;
                        if (l != t)
                                mark_ready(m, l);
                        l = n;
                }
        }
        m->n_files--;
        m->stats.files_closed++;
        log_info("Done with %s (rotated or deleted, read to its end)", shipper_file_path(t->file));
        tracked_free(t);
        schedule_commit(m);
}

static void rescan(Manager *m) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        for (Tracked *t = m->files; t; t = t->next)
                t->seen = false;
        discovery_scan(m->discovery, on_path_found, m);

        for (Tracked *t = m->files, *next; t; t = next) {
                next = t->next;
                if (!shipper_file_rotated(t->file))
                        (void) shipper_file_check(t->file);
                if (shipper_file_check_rotated(t->file))
                        mark_ready(m, t);
                /* A rotated file is let go once it was read to the end, all of it was acknowledged and
                 * nothing was written for rotate-wait. One last read first: a writer may still have
                 * appended. */
                shipper_file_end_parts(t->file, now, nsec_to_usec(m->config->rotate_wait_nsec));
                if (shipper_file_finished(t->file, now, nsec_to_usec(m->config->rotate_wait_nsec)) &&
                    shipper_file_read(t->file, SIZE_MAX) == 1 && shipper_file_finished(t->file, now, 0))
                        remove_file(m, t);
        }
}

static int on_rescan_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        rescan(m);
        for (Tracked *t = m->files; t; t = t->next)
                mark_ready(m, t); /* covers events inotify cannot see (e.g. NFS) */
        (void) sd_event_source_set_time_relative(s, nsec_to_usec(m->config->rescan_interval_nsec));
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int on_rescan_soon(sd_event_source *s, void *userdata) {
        rescan(userdata);
        return 0;
}

static void on_dirs_changed(void *userdata) {
        schedule_rescan(userdata);
}

/* --- stopping ----------------------------------------------------------------------------------------- */

static int on_exit_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        log_info("Batches still unacknowledged at exit; they are sent again after a restart");
        return sd_event_exit(m->event, m->exit_status);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        int r;

        if (m->stopping)
                return sd_event_exit(m->event, m->exit_status);
        log_info("Received %s, sending what was read and stopping", strsignal((int) si->ssi_signo));
        m->stopping = true;
        sampler_stop(m->sampler);
        for (Tracked *t = m->files; t; t = t->next)
                shipper_file_seal(t->file);
        schedule_commit(m);
        r = sd_event_add_time_relative(
                m->event, &m->exit_timer, CLOCK_MONOTONIC, 5 * USEC_PER_SEC, 0, on_exit_timer, m);
        if (r < 0)
                return sd_event_exit(m->event, m->exit_status);
        return 0;
}

/* --- /metrics and /health ----------------------------------------------------------------------------- */

/* What keeps the shipper from shipping and does not mend by retrying alone, one clause each, "; " between
 * them. Empty when there is nothing. */
static int health_problems(Manager *m, StrBuf *out) {
        const char *auth = sender_auth_refused(m->sender);
        int dl = sender_dead_letter_error(m->sender), r = 0;

        if (m->ckpt_error < 0)
                r = strbuf_printf(
                        out,
                        "checkpoint file %s cannot be written (%s), nothing is sent",
                        m->config->checkpoint_file,
                        strerror(-m->ckpt_error));
        if (r >= 0 && auth)
                r = strbuf_printf(out, "%s%s, rows are kept and retried", out->len > 0 ? "; " : "", auth);
        if (r >= 0 && dl < 0)
                r = strbuf_printf(
                        out,
                        "%sdead-letter file %s cannot be written (%s)",
                        out->len > 0 ? "; " : "",
                        m->config->dead_letter_file,
                        strerror(-dl));
        return r;
}

/* The readiness of the shipper: 200 "ok", or 503 "degraded: <why>" (the supervisor shows that line). */
static int on_health(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Manager *m = userdata;
        StrBuf why = STRBUF_INIT(4096);
        int r;

        r = health_problems(m, &why);
        if (r >= 0 && why.len == 0)
                r = http_response_set_text(resp, 200, "ok\n");
        else if (r >= 0) {
                StrBuf text = STRBUF_INIT(8192);
                r = strbuf_printf(&text, "degraded: %s\n", why.data);
                if (r >= 0)
                        r = http_response_set_text(resp, 503, text.data);
                strbuf_done(&text);
        }
        strbuf_done(&why);
        return r;
}

/* Liveness: the loop answers. A refused password or an unwritable checkpoint is not mended by a restart. */
static int on_live(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        return http_response_set_text(resp, 200, "ok\n");
}

static int on_metrics(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Manager *m = userdata;
        StrBuf out = STRBUF_INIT(1024 * 1024);
        ShipperGauges g = {
                .files_tracked = m->n_files,
                .requests_in_flight = sender_inflight(m->sender),
                .buffered_bytes = m->files_ctx.buffered_bytes,
                .clickhouse_up = sender_clickhouse_up(m->sender),
                .clickhouse_auth_refused = sender_auth_refused(m->sender) != NULL,
                .checkpoint_failing = m->ckpt_error < 0,
                .dead_letter_failing = sender_dead_letter_error(m->sender) < 0,
        };
        int r;

        g.healthy = !g.clickhouse_auth_refused && !g.checkpoint_failing && !g.dead_letter_failing;

        for (Tracked *t = m->files; t; t = t->next) {
                g.lag_bytes += shipper_file_lag(t->file);
                g.files_paused += shipper_file_paused(t->file);
                g.batches_queued += shipper_file_queue_length(t->file);
        }
        r = shipper_metrics_render(&out, &m->stats, &m->files_ctx.tstats, &g);
        if (r >= 0)
                r = sampler_metrics_render(m->sampler, &out);
        if (r < 0) {
                strbuf_done(&out);
                return r;
        }
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        resp->body = strbuf_steal(&out, &resp->size);
        return 0;
}

static const HttpRoute routes[] = {
        {"/health", HTTP_READ, on_health},
        {"/live", HTTP_READ, on_live},
        {"/metrics", HTTP_READ, on_metrics},
};

/* --- setting up --------------------------------------------------------------------------------------- */

static int setup_clickhouse(Manager *m) {
        const ShipperConfig *c = m->config;
        int r;

        if (strchr(c->database, '`') || strchr(c->table, '`'))
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "database and table names may not contain '`'");
        r = curl_glue_new(m->event, &m->curl);
        if (r < 0)
                return log_error_errno(r, "Failed to set up HTTP client: %m");
        r = clickhouse_client_new(
                m->curl,
                &(ClickHouseClientConfig){
                        .url = c->clickhouse_url,
                        .user = c->user,
                        .password = c->password,
                        .database = c->database,
                        .timeout_usec = nsec_to_usec(c->request_timeout_nsec),
                        .retry_initial_usec = nsec_to_usec(c->retry_initial_nsec),
                        .retry_max_usec = nsec_to_usec(c->retry_max_nsec),
                },
                &m->clickhouse);
        if (r == -EINVAL)
                return log_error_errno(
                        r,
                        "clickhouse-url may not be empty, user and password may not contain control characters");
        if (r < 0)
                return log_error_errno(r, "Failed to set up the ClickHouse client: %m");
        return sender_new(
                &(SenderConfig){
                        .event = m->event,
                        .clickhouse = m->clickhouse,
                        .table = c->table,
                        .user = c->user,
                        .compression = c->compression,
                        .compression_level = (int) c->compression_level,
                        .max_inflight = (unsigned) c->max_inflight,
                        .dead_letter_file = c->dead_letter_file,
                        .sync = c->checkpoint_sync,
                        .stats = &m->stats,
                        .done = on_batch_done,
                        .rebuild = on_batch_rebuild,
                        .progress = on_sender_progress,
                        .on_auth_refused = on_auth_refused,
                        .userdata = m,
                },
                &m->sender);
}

static int setup_sources(Manager *m) {
        const ShipperConfig *c = m->config;
        int r;

        r = sd_event_add_signal(m->event, &m->sigterm_source, SIGTERM, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sigint_source, SIGINT, on_signal, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");

        /* Priorities: acknowledgements (curl IO, default 0) before commits, commits before reading more. */
        r = sd_event_add_defer(m->event, &m->commit_source, on_commit, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add commit source: %m");
        (void) sd_event_source_set_priority(m->commit_source, 10);
        (void) sd_event_source_set_enabled(m->commit_source, SD_EVENT_OFF);
        (void) sd_event_source_set_description(m->commit_source, "commit");

        r = checkpoint_writer_new(c->checkpoint_file, c->checkpoint_sync, &m->ckpt_writer);
        if (r < 0)
                return log_error_errno(r, "Failed to start the checkpoint writer: %m");
        r = sd_event_add_io(
                m->event,
                &m->ckpt_source,
                checkpoint_writer_fd(m->ckpt_writer),
                EPOLLIN,
                on_ckpt_written,
                m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the checkpoint writer: %m");
        (void) sd_event_source_set_priority(m->ckpt_source, 10);
        (void) sd_event_source_set_description(m->ckpt_source, "checkpoint-written");

        r = sd_event_add_defer(m->event, &m->read_source, on_read, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add read source: %m");
        (void) sd_event_source_set_priority(m->read_source, 20);
        (void) sd_event_source_set_enabled(m->read_source, SD_EVENT_OFF);
        (void) sd_event_source_set_description(m->read_source, "read");

        r = sd_event_add_defer(m->event, &m->rescan_soon, on_rescan_soon, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add rescan source: %m");
        (void) sd_event_source_set_priority(m->rescan_soon, 5);
        (void) sd_event_source_set_enabled(m->rescan_soon, SD_EVENT_OFF);

        r = sd_event_add_time(m->event, &m->flush_timer, CLOCK_MONOTONIC, 0, 1000, on_flush, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add flush timer: %m");
        (void) sd_event_source_set_enabled(m->flush_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(m->flush_timer, "flush");

        r = sd_event_add_time_relative(
                m->event,
                &m->rescan_timer,
                CLOCK_MONOTONIC,
                nsec_to_usec(c->rescan_interval_nsec),
                10000,
                on_rescan_timer,
                m);
        if (r < 0)
                return log_error_errno(r, "Failed to add rescan timer: %m");
        (void) sd_event_source_set_description(m->rescan_timer, "rescan");
        return 0;
}

int manager_new(ShipperConfig *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_strv_free_ char **globs = NULL;
        sigset_t mask;
        int r;

        m = new0(Manager, 1);
        if (!m)
                return log_oom();
        m->config = config;

        struct stat st;
        if (stat(config->checkpoint_file, &st) >= 0)
                m->restored_mtime = st.st_mtim;
        r = checkpoint_load(config->checkpoint_file, &m->restored, &m->n_restored);
        if (r < 0)
                return r;
        r = batch_pool_new(
                &(BatchBodyConfig){
                        .format = config->insert_format,
                        .compression = config->compression,
                        .compression_level = (int) config->compression_level,
                        .seed_columns = config->seed_columns,
                        .max_line = (size_t) config->max_line_bytes,
                },
                &m->pool);
        if (r < 0)
                return log_oom();
        m->files_ctx = (ShipperFileContext){
                .config = config,
                .pool = m->pool,
                .topts.seed_columns = config->seed_columns,
                .stats = &m->stats,
                .notify = on_file_notify,
        };

        r = sd_event_new(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to create event loop: %m");
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = setup_clickhouse(m);
        if (r < 0)
                return r;
        r = setup_sources(m);
        if (r < 0)
                return r;
        globs = shipper_config_globs(config);
        if (!globs)
                return log_oom();
        r = discovery_new(m->event, globs, on_dirs_changed, m, &m->discovery);
        if (r < 0)
                return r;

        r = sampler_new(
                &config->sampler,
                &(SamplerContext){
                        .event = m->event,
                        .clickhouse = m->clickhouse,
                        .compression = config->compression,
                        .compression_level = (int) config->compression_level,
                        .discovery_interval_usec = nsec_to_usec(config->rescan_interval_nsec),
                },
                &m->sampler);
        if (r < 0)
                return r;

        HttpServerConfig hc = {
                .routes = routes,
                .n_routes = ELEMENTSOF(routes),
                .userdata = m,
                .server_header = "shipper",
        };
        r = http_server_new_tcp(
                m->event, config->listen_address, (uint16_t) config->listen_port, &hc, &m->http);
        if (r < 0)
                return log_error_errno(
                        r,
                        "Failed to listen on %s:%" PRIi64 ": %m",
                        config->listen_address,
                        config->listen_port);
        log_info("Serving /metrics and /health on %s:%u", config->listen_address, http_server_port(m->http));

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* The sender first: it cancels the requests that point into the files' batches. */
        sender_free(m->sender);
        while (m->files) {
                Tracked *t = m->files;
                m->files = t->next;
                tracked_free(t);
        }
        discovery_free(m->discovery);
        sampler_free(m->sampler);
        http_server_free(m->http);
        clickhouse_client_free(m->clickhouse);
        curl_glue_free(m->curl);
        sd_event_source_disable_unref(m->read_source);
        sd_event_source_disable_unref(m->commit_source);
        sd_event_source_disable_unref(m->ckpt_source);
        sd_event_source_disable_unref(m->ckpt_retry);
        /* Joins the thread; a write in progress completes. */
        checkpoint_writer_free(m->ckpt_writer);
        sd_event_source_disable_unref(m->flush_timer);
        sd_event_source_disable_unref(m->rescan_timer);
        sd_event_source_disable_unref(m->rescan_soon);
        sd_event_source_disable_unref(m->sigterm_source);
        sd_event_source_disable_unref(m->sigint_source);
        sd_event_source_disable_unref(m->exit_timer);
        sd_event_unref(m->event);
        checkpoint_entries_free(m->restored, m->n_restored);
        batch_pool_free(m->pool);
        free(m);
        return NULL;
}

int manager_start(Manager *m) {
        rescan(m);
        find_rotated(m);
        find_unrecorded(m);
        /* Files from the checkpoint that are gone are dropped with the next write. */
        checkpoint_entries_free(m->restored, m->n_restored);
        m->restored = NULL;
        m->n_restored = 0;
        return sampler_start(m->sampler);
}

int manager_run(Manager *m) {
        int r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return m->exit_status;
}
