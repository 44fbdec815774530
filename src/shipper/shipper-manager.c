/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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
#include "shipper-clickhouse.h"
#include "shipper-commit.h"
#include "shipper-discovery.h"
#include "shipper-file.h"
#include "shipper-manager.h"
#include "shipper-metrics.h"
#include "shipper-restart.h"
#include "shipper-sender.h"
#include "shipper-status.h"
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
        sd_event_source *flush_timer;
        sd_event_source *rescan_timer;
        sd_event_source *rescan_soon;
        uint64_t flush_deadline_usec;
        CheckpointEntry *restored;
        size_t n_restored;
        struct timespec restored_mtime; /* of the checkpoint file read at start; 0 when there was none */
        Committer *committer;
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
        committer_schedule(m->committer);
}

static bool may_exit(Manager *m) {
        return m->stopping && sender_idle(m->sender) && committer_idle(m->committer);
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

/* The checkpoint lines of all files, for write seq. */
static int format_checkpoint(uint64_t seq, char **text, size_t *len, size_t *alloc, void *userdata) {
        Manager *m = userdata;

        for (Tracked *t = m->files; t; t = t->next) {
                CheckpointEntry e;
                int r;

                if (!shipper_file_checkpoint_entry(t->file, seq, &e))
                        continue;
                r = checkpoint_format_entry(&e, text, len, alloc);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void on_checkpoint_written(uint64_t seq, int result, void *userdata) {
        Manager *m = userdata;

        for (Tracked *t = m->files; t; t = t->next)
                shipper_file_checkpoint_written(t->file, seq, result);
}

/* The ranges of the batches are on disk: they may go. */
static void on_checkpoint_stored(void *userdata) {
        Manager *m = userdata;

        for (Tracked *t = m->files; t; t = t->next)
                send_ready(m, t);
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

static void on_progress(void *userdata) {
        exit_if_done(userdata);
}

static void on_auth_refused(void *userdata) {
        Manager *m = userdata;
        shipper_clickhouse_reread_password(m->config, m->clickhouse);
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

/* A file found by the restart search (shipper-restart.c): e's file found again, or a generation never
 * recorded. */
static int adopt(
        CheckpointEntry *e,
        const char *name,
        const char *path,
        int fd,
        const struct stat *st,
        void *userdata) {
        Manager *m = userdata;
        Tracked *t;
        int r;

        t = new0(Tracked, 1);
        if (!t)
                return -ENOMEM;
        t->manager = m;
        if (e)
                r = shipper_file_open_found(&m->files_ctx, e, path, fd, st, t, &t->file);
        else
                r = shipper_file_open(&m->files_ctx, name, fd, st, NULL, 0, t, &t->file);
        if (r < 0) {
                free(t);
                return r;
        }
        track(m, t, path);
        (void) shipper_file_check_rotated(t->file);
        return 0;
}

/* After a restart: the files of the checkpoint the globs no longer lead to, then the generations never
 * recorded of the files the globs found (before any is added). */
static void find_restarted(Manager *m) {
        const RestartSearch s = {
                .restored = m->restored,
                .n_restored = m->n_restored,
                .restored_mtime = m->restored_mtime,
                .checkpoint_file = m->config->checkpoint_file,
                .stats = &m->stats,
                .is_tracked = is_tracked,
                .adopt = adopt,
                .userdata = m,
        };
        _cleanup_free_ const char **names = NULL;
        size_t n = 0;

        restart_find_rotated(&s);
        if (m->n_files == 0)
                return;
        names = new0(const char *, m->n_files);
        if (!names) {
                log_oom();
                return;
        }
        for (Tracked *t = m->files; t && n < m->n_files; t = t->next)
                if (!shipper_file_rotated(t->file))
                        names[n++] = shipper_file_path(t->file);
        restart_find_unrecorded(&s, names, n);
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

static ShipperStatus status(Manager *m) {
        ShipperStatus s = {
                .config = m->config,
                .sender = m->sender,
                .sampler = m->sampler,
                .stats = &m->stats,
                .tstats = &m->files_ctx.tstats,
                .ckpt_error = committer_error(m->committer),
                .gauges.files_tracked = m->n_files,
                .gauges.buffered_bytes = m->files_ctx.buffered_bytes,
        };

        for (Tracked *t = m->files; t; t = t->next) {
                s.gauges.lag_bytes += shipper_file_lag(t->file);
                s.gauges.files_paused += shipper_file_paused(t->file);
                s.gauges.batches_queued += shipper_file_queue_length(t->file);
        }
        return s;
}

static int on_health(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        ShipperStatus s = status(userdata);
        return shipper_status_health(&s, resp);
}

/* Liveness: the loop answers. A refused password or an unwritable checkpoint is not mended by a restart. */
static int on_live(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        return http_response_set_text(resp, 200, "ok\n");
}

static int on_metrics(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        ShipperStatus s = status(userdata);
        return shipper_status_metrics(&s, resp);
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

        r = shipper_clickhouse_new(m->event, c, &m->curl, &m->clickhouse);
        if (r < 0)
                return r;
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
                        .progress = on_progress,
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

        /* Commits (priority 10, shipper-commit.c) come before reading more (20). */
        r = committer_new(
                &(CommitterConfig){
                        .event = m->event,
                        .checkpoint_file = c->checkpoint_file,
                        .sync = c->checkpoint_sync,
                        .stats = &m->stats,
                        .format = format_checkpoint,
                        .written = on_checkpoint_written,
                        .stored = on_checkpoint_stored,
                        .progress = on_progress,
                        .userdata = m,
                },
                &m->committer);
        if (r < 0)
                return r;

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
        /* Joins the thread; a write in progress completes. */
        committer_free(m->committer);
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
        find_restarted(m);
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
