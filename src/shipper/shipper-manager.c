/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zstd.h>

#include "cleanup.h"
#include "duration.h"
#include "log.h"
#include "macro.h"
#include "shipper-manager.h"
#include "strbuf.h"
#include "util.h"

/* Bytes read from one file before the loop looks at other work (acks, other files). */
#define READ_BUDGET (1024 * 1024)

void manager_mark_ready(Manager *m, ShipperFile *f) {
        if (f->ready || f->paused || m->stopping)
                return;
        f->ready = true;
        f->ready_next = NULL;
        if (m->ready_tail)
                m->ready_tail->ready_next = f;
        else
                m->ready_head = f;
        m->ready_tail = f;
        (void) sd_event_source_set_enabled(m->read_source, SD_EVENT_ONESHOT);
}

static ShipperFile *ready_pop(Manager *m) {
        ShipperFile *f = m->ready_head;
        if (!f)
                return NULL;
        m->ready_head = f->ready_next;
        if (!m->ready_head)
                m->ready_tail = NULL;
        f->ready = false;
        f->ready_next = NULL;
        return f;
}

static int on_read(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        ShipperFile *tail = m->ready_tail, *f;
        int r;

        /* One pass over the files that were ready when we started; files that
         * still have data go to the back of the list. */
        while ((f = ready_pop(m))) {
                bool last = f == tail;
                if (!f->paused) {
                        r = shipper_file_check(f);
                        if (r < 0)
                                log_warning_errno(r, "%s: cannot stat: %m", f->path);
                        r = shipper_file_read(f, READ_BUDGET);
                        if (r == 0 && !f->paused)
                                manager_mark_ready(m, f);
                }
                if (last)
                        break;
        }
        if (m->ready_head)
                (void) sd_event_source_set_enabled(m->read_source, SD_EVENT_ONESHOT);
        return 0;
}

void manager_arm_flush(Manager *m, uint64_t deadline_usec) {
        if (m->flush_deadline_usec && m->flush_deadline_usec <= deadline_usec)
                return;
        m->flush_deadline_usec = deadline_usec;
        (void) sd_event_source_set_time(m->flush_timer, deadline_usec);
        (void) sd_event_source_set_enabled(m->flush_timer, SD_EVENT_ONESHOT);
}

static int on_flush(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC), next = 0,
                 interval = (uint64_t) m->config->flush_interval_nsec / 1000;

        m->flush_deadline_usec = 0;
        for (ShipperFile *f = m->files; f; f = f->next) {
                Batch *b = f->filling;
                if (!b || shipper_file_forced(f))
                        continue;
                if (b->n_rows == 0) {
                        if (b->end > b->start)
                                manager_seal(m, f); /* only empty lines: just move the offset */
                        continue;
                }
                if (b->first_row_usec + interval <= now)
                        manager_seal(m, f);
                else if (!next || b->first_row_usec + interval < next)
                        next = b->first_row_usec + interval;
        }
        if (next)
                manager_arm_flush(m, next);
        return 0;
}

void manager_schedule_commit(Manager *m) {
        m->checkpoint_dirty = true;
        (void) sd_event_source_set_enabled(m->commit_source, SD_EVENT_ONESHOT);
}

static void send_queue_push(Manager *m, Batch *b) {
        if (b->in_send_queue)
                return;
        b->in_send_queue = true;
        b->send_next = NULL;
        if (m->send_tail)
                m->send_tail->send_next = b;
        else
                m->send_head = b;
        m->send_tail = b;
}

static void batch_complete(Manager *m, Batch *b);

static int batch_start_request(Manager *m, Batch *b) {
        RowRange range = b->bisecting ? b->cur : (RowRange){0, b->n_rows};
        Buf body = {.max = b->rows.len + b->rows.len / 8 + 64 * 1024};
        char token[256];
        bool borrowed;
        int r;

        r = batch_encode(m, b, range, &body, &borrowed);
        if (r >= 0) {
                batch_token(b, token, sizeof(token));
                r = ch_request_start(m, b, &body, borrowed, token);
                if (r >= 0) {
                        m->inflight++;
                        m->stats.bytes_sent += body.len;
                        return 0;
                }
        } else
                buf_done(&body);
        return log_error_errno(r, "Failed to start an INSERT request: %m");
}

static void send_pump(Manager *m) {
        while (m->send_head && m->inflight < (unsigned) m->config->max_inflight) {
                Batch *b = m->send_head;
                m->send_head = b->send_next;
                if (!m->send_head)
                        m->send_tail = NULL;
                b->in_send_queue = false;
                if (b->n_rows == 0) {
                        batch_complete(m, b);
                        continue;
                }
                if (batch_start_request(m, b) < 0) {
                        m->inflight++; /* balanced by manager_request_done() */
                        manager_request_done(m, b, CH_RESULT_RETRY, 0, "request could not be started");
                }
        }
}

/* Starts (queues) a file's batches whose range is on disk, up to
 * max-inflight-per-file at a time. Acknowledgements may come back in any
 * order; the offset only moves over the acknowledged prefix. */
static void maybe_send_head(Manager *m, ShipperFile *f) {
        for (Batch *b = f->queue_head; b; b = b->next) {
                if (f->inflight >= (unsigned) m->config->max_inflight_per_file)
                        return;
                if (b->acked || b->started)
                        continue;
                if (!b->intent_saved)
                        return;
                b->started = true;
                f->inflight++;
                send_queue_push(m, b);
        }
}

static bool may_exit(Manager *m) {
        return m->stopping && m->inflight == 0 && !m->send_head && !m->ckpt_busy && !m->checkpoint_dirty;
}

/* Starts writing the checkpoint file: committed offsets and the ranges of all
 * batches not yet acknowledged (so that after a restart they are rebuilt with
 * the same boundaries and tokens). */
static int checkpoint_start_write(Manager *m) {
        char *text = NULL;
        size_t len = 0, alloc = 4096;
        uint64_t seq = m->ckpt_seq + 1;
        int r;

        text = malloc(alloc);
        if (!text)
                return log_oom();
        memcpy(text, CHECKPOINT_HEADER, strlen(CHECKPOINT_HEADER));
        len = strlen(CHECKPOINT_HEADER);
        for (ShipperFile *f = m->files; f; f = f->next) {
                CheckpointEntry e = {
                        .dev = (uint64_t) f->dev,
                        .ino = (uint64_t) f->ino,
                        .fp_hash = f->fp_hash,
                        .fp_len = f->fp_len,
                        .committed = f->committed,
                        .path = f->path,
                };
                uint64_t at = f->committed;
                bool contiguous = true;

                for (Batch *b = f->queue_head; b; b = b->next) {
                        if (b->generation != f->generation) {
                                /* Rows of content that was truncated away cannot be
                                 * rebuilt after a restart: nothing to record. */
                                if (!b->intent_seq)
                                        b->intent_seq = seq;
                                continue;
                        }
                        if (contiguous && b->start == at && e.n_pending < CHECKPOINT_MAX_PENDING) {
                                e.pending[e.n_pending++] = b->end;
                                at = b->end;
                                if (!b->intent_seq)
                                        b->intent_seq = seq;
                        } else
                                contiguous = false;
                }
                if (f->fp_len == 0)
                        continue; /* nothing read yet */
                memcpy(e.token_id, f->token_id, sizeof(e.token_id));
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
        send_pump(m);
        if (may_exit(m))
                (void) sd_event_exit(m->event, m->exit_status);
        return 0;
}

static int on_ckpt_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        m->ckpt_retry = sd_event_source_disable_unref(m->ckpt_retry);
        manager_schedule_commit(m);
        return 0;
}

static int on_ckpt_written(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        uint64_t seq;
        int result;

        if (checkpoint_writer_collect(m->ckpt_writer, &seq, &result) < 0)
                return 0;
        m->ckpt_busy = false;
        if (result < 0) {
                log_error_errno(
                        result,
                        "Failed to write checkpoint file %s, retrying: %m",
                        m->config->checkpoint_file);
                /* Nothing may be sent before its range is on disk; retry in a second. */
                for (ShipperFile *f = m->files; f; f = f->next)
                        for (Batch *b = f->queue_head; b; b = b->next)
                                if (b->intent_seq == seq && !b->intent_saved)
                                        b->intent_seq = 0;
                m->checkpoint_dirty = true;
                if (!m->ckpt_retry)
                        (void) sd_event_add_time_relative(
                                m->event, &m->ckpt_retry, CLOCK_MONOTONIC, 1000000, 0, on_ckpt_retry, m);
                return 0;
        }
        m->stats.checkpoint_writes++;
        for (ShipperFile *f = m->files; f; f = f->next) {
                for (Batch *b = f->queue_head; b; b = b->next)
                        if (b->intent_seq && b->intent_seq <= seq)
                                b->intent_saved = true;
                maybe_send_head(m, f);
        }
        if (m->checkpoint_dirty)
                manager_schedule_commit(m);
        send_pump(m);
        if (may_exit(m))
                (void) sd_event_exit(m->event, m->exit_status);
        return 0;
}

void manager_seal(Manager *m, ShipperFile *f) {
        Batch *b = f->filling;

        if (!b)
                return;
        f->filling = NULL;
        b->sealed = true;
        f->next_start = b->end;
        if (b->n_rows == 0 && !f->queue_head) {
                if (b->generation == f->generation && b->end > f->committed) {
                        f->committed = b->end;
                        manager_schedule_commit(m);
                }
                m->buffered_bytes -= b->rows.len;
                batch_free(b);
                return;
        }
        if (f->queue_tail)
                f->queue_tail->next = b;
        else
                f->queue_head = b;
        f->queue_tail = b;
        f->queue_len++;
        manager_schedule_commit(m);
}

static void maybe_resume(Manager *m, ShipperFile *f) {
        if (!f->paused || shipper_file_queue_full(f) ||
            m->buffered_bytes >= (uint64_t) m->config->buffer_bytes)
                return;
        f->paused = false;
        manager_mark_ready(m, f);
}

static void batch_complete(Manager *m, Batch *b) {
        ShipperFile *f = b->file;

        assert(b->started && !b->acked);
        b->acked = true;
        f->inflight--;
        /* The offset moves over the acknowledged prefix of the queue only. */
        while ((b = f->queue_head) && b->acked) {
                f->queue_head = b->next;
                if (!f->queue_head)
                        f->queue_tail = NULL;
                f->queue_len--;
                m->buffered_bytes -= b->rows.len;
                if (b->generation == f->generation && b->end > f->committed)
                        f->committed = b->end;
                batch_free(b);
        }
        manager_schedule_commit(m);
        maybe_send_head(m, f);
        for (ShipperFile *i = m->files; i; i = i->next)
                maybe_resume(m, i);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Batch *b = userdata;
        Manager *m = b->file->manager;

        b->retry_timer = sd_event_source_disable_unref(b->retry_timer);
        send_queue_push(m, b);
        send_pump(m);
        return 0;
}

static int dead_letter(Manager *m, Batch *b, uint32_t row, const char *error) {
        StrBuf s = STRBUF_INIT(b->rows.len + 8192);
        const char *p = b->rows.data + b->row_off[row];
        size_t len = b->row_off[row + 1] - b->row_off[row];
        char token[256];
        int r;

        if (len > 0 && p[len - 1] == '\n')
                len--;
        batch_token(b, token, sizeof(token));
        r = strbuf_puts(&s, "{\"file\":\"");
        if (r >= 0)
                r = strbuf_append_json_escaped(&s, b->file->path, strlen(b->file->path));
        if (r >= 0)
                r = strbuf_printf(&s, "\",\"token\":\"%s\",\"error\":\"", token);
        if (r >= 0)
                r = strbuf_append_json_escaped(&s, error, strlen(error));
        if (r >= 0)
                r = strbuf_puts(&s, "\",\"row\":");
        if (r >= 0)
                r = strbuf_append(&s, p, len);
        if (r >= 0)
                r = strbuf_puts(&s, "}\n");
        if (r >= 0)
                r = loop_write(m->dead_letter_fd, s.data, s.len);
        strbuf_done(&s);
        if (r < 0)
                return log_error_errno(
                        r, "Failed to write to dead-letter file %s: %m", m->config->dead_letter_file);
        m->stats.rows_dead_lettered++;
        return 0;
}

static bool range_pop(Batch *b, RowRange *ret) {
        if (b->n_ranges == 0)
                return false;
        *ret = b->ranges[--b->n_ranges];
        return true;
}

static int range_push(Batch *b, RowRange r) {
        if (b->n_ranges == b->alloc_ranges) {
                size_t n = MAX(b->alloc_ranges * 2, (size_t) 16);
                RowRange *a = reallocarray(b->ranges, n, sizeof(RowRange));
                if (!a)
                        return -ENOMEM;
                b->ranges = a;
                b->alloc_ranges = n;
        }
        b->ranges[b->n_ranges++] = r;
        return 0;
}

/* The part [cur] was stored: move to the next part, or finish the batch. */
static void bisect_next(Manager *m, Batch *b) {
        if (range_pop(b, &b->cur)) {
                send_queue_push(m, b);
                return;
        }
        if (m->config->checkpoint_sync && fsync(m->dead_letter_fd) < 0)
                log_warning_errno(errno, "Failed to sync the dead-letter file, ignoring: %m");
        batch_complete(m, b);
}

static void schedule_retry(Manager *m, Batch *b, uint64_t retry_after_usec) {
        uint64_t delay = retry_delay_usec(
                (uint64_t) m->config->retry_initial_nsec / 1000,
                (uint64_t) m->config->retry_max_nsec / 1000,
                b->attempts,
                random_u64());
        int r;

        delay = MAX(delay, retry_after_usec);
        b->attempts++;
        m->stats.batches_retried++;
        r = sd_event_add_time_relative(m->event, &b->retry_timer, CLOCK_MONOTONIC, delay, 1000, on_retry, b);
        if (r < 0) {
                log_error_errno(r, "Failed to arm retry timer, retrying now: %m");
                send_queue_push(m, b);
                return;
        }
        (void) sd_event_source_set_description(b->retry_timer, "retry");
}

void manager_request_done(Manager *m, Batch *b, int result, uint64_t retry_after_usec, const char *error) {
        RowRange range = b->bisecting ? b->cur : (RowRange){0, b->n_rows};
        int r;

        assert(m->inflight > 0);
        m->inflight--;

        switch (result) {
        case CH_RESULT_OK:
                if (!m->clickhouse_up)
                        log_info("ClickHouse accepts rows again");
                m->clickhouse_up = true;
                m->stats.rows_sent += range.hi - range.lo;
                m->stats.batches_sent++;
                b->attempts = 0;
                if (b->bisecting)
                        bisect_next(m, b);
                else
                        batch_complete(m, b);
                break;

        case CH_RESULT_MALFORMED:
                m->clickhouse_up = true;
                m->stats.requests_failed++;
                b->attempts = 0;
                if (!b->bisecting) {
                        log_warning(
                                "%s: ClickHouse refused %" PRIu32
                                " rows as malformed (%s); finding the bad rows",
                                b->file->path,
                                b->n_rows,
                                error);
                        r = batch_build_row_offsets(b);
                        if (r < 0) {
                                log_error_errno(r, "Failed to split a refused batch: %m");
                                schedule_retry(m, b, 0);
                                break;
                        }
                        b->bisecting = true;
                }
                if (range.hi - range.lo == 1) {
                        r = dead_letter(m, b, range.lo, error);
                        if (r < 0) {
                                schedule_retry(m, b, 0);
                                break;
                        }
                        bisect_next(m, b);
                } else {
                        uint32_t mid = range.lo + (range.hi - range.lo) / 2;
                        if (range_push(b, (RowRange){mid, range.hi}) < 0 ||
                            range_push(b, (RowRange){range.lo, mid}) < 0) {
                                log_oom();
                                schedule_retry(m, b, 0);
                                break;
                        }
                        bisect_next(m, b);
                }
                break;

        default:
                m->stats.requests_failed++;
                if (m->clickhouse_up || b->attempts == 0)
                        log_warning(
                                "INSERT of %s [%" PRIu64 ", %" PRIu64 ") failed, will retry: %s",
                                b->file->path,
                                b->start,
                                b->end,
                                error);
                else
                        log_debug("INSERT retry failed: %s", error);
                m->clickhouse_up = false;
                schedule_retry(m, b, retry_after_usec);
                break;
        }
        send_pump(m);
        if (may_exit(m))
                (void) sd_event_exit(m->event, m->exit_status);
}

static int on_rescan_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        (void) manager_rescan(m);
        for (ShipperFile *f = m->files; f; f = f->next)
                manager_mark_ready(m, f); /* covers events inotify cannot see (e.g. NFS) */
        (void) sd_event_source_set_time_relative(s, (uint64_t) m->config->rescan_interval_nsec / 1000);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int on_rescan_soon(sd_event_source *s, void *userdata) {
        (void) manager_rescan(userdata);
        return 0;
}

void manager_schedule_rescan(Manager *m) {
        (void) sd_event_source_set_enabled(m->rescan_soon, SD_EVENT_ONESHOT);
}

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
        for (ShipperFile *f = m->files; f; f = f->next)
                if (!shipper_file_forced(f))
                        manager_seal(m, f);
        manager_schedule_commit(m);
        r = sd_event_add_time_relative(
                m->event, &m->exit_timer, CLOCK_MONOTONIC, 5 * 1000000, 0, on_exit_timer, m);
        if (r < 0)
                return sd_event_exit(m->event, m->exit_status);
        return 0;
}

static int on_health(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        return http_response_set_text(resp, 200, "ok\n");
}

static int on_metrics(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Manager *m = userdata;
        char *text;
        size_t size;
        int r;

        r = shipper_metrics_render(m, &text, &size);
        if (r < 0)
                return r;
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        resp->body = text;
        resp->size = size;
        return 0;
}

static const HttpRoute routes[] = {
        {"/health", HTTP_READ, on_health},
        {"/metrics", HTTP_READ, on_metrics},
};

static int build_insert_url(Manager *m) {
        _cleanup_free_ char *query = NULL;
        const char *base = m->config->clickhouse_url;
        size_t l = strlen(base);
        char *esc;

        if (strchr(m->config->database, '`') || strchr(m->config->table, '`'))
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "database and table names may not contain '`'");
        if (asprintf(
                    &query,
                    "INSERT INTO `%s`.`%s` FORMAT JSONEachRow",
                    m->config->database,
                    m->config->table) < 0)
                return log_oom();
        esc = curl_easy_escape(NULL, query, 0);
        if (!esc)
                return log_oom();
        if (asprintf(
                    &m->insert_url,
                    "%.*s/?query=%s",
                    (int) (l > 0 && base[l - 1] == '/' ? l - 1 : l),
                    base,
                    esc) < 0) {
                curl_free(esc);
                return log_oom();
        }
        curl_free(esc);
        return 0;
}

int manager_new(ShipperConfig *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        sigset_t mask;
        int r;

        m = calloc(1, sizeof(Manager));
        if (!m)
                return log_oom();
        m->config = config;
        m->dead_letter_fd = -EBADF;
        m->clickhouse_up = true;
        m->topts.seed_columns = config->seed_columns;

        r = build_insert_url(m);
        if (r < 0)
                return r;
        m->globs = shipper_config_globs(config);
        if (!m->globs)
                return log_oom();
        r = checkpoint_load(config->checkpoint_file, &m->restored, &m->n_restored);
        if (r < 0)
                return r;
        m->dead_letter_fd = open(config->dead_letter_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (m->dead_letter_fd < 0)
                return log_error_errno(
                        errno, "Failed to open dead-letter file %s: %m", config->dead_letter_file);

        r = sd_event_new(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to create event loop: %m");
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        r = sd_event_add_signal(m->event, &m->sigterm_source, SIGTERM, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sigint_source, SIGINT, on_signal, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");

        r = curl_glue_new(m->event, &m->curl);
        if (r < 0)
                return log_error_errno(r, "Failed to set up HTTP client: %m");

        /* Priorities: acknowledgements (curl IO, default 0) before commits,
         * commits before reading more. */
        r = sd_event_add_defer(m->event, &m->commit_source, on_commit, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add commit source: %m");
        (void) sd_event_source_set_priority(m->commit_source, 10);
        (void) sd_event_source_set_enabled(m->commit_source, SD_EVENT_OFF);
        (void) sd_event_source_set_description(m->commit_source, "commit");

        r = checkpoint_writer_new(config->checkpoint_file, config->checkpoint_sync, &m->ckpt_writer);
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
                (uint64_t) config->rescan_interval_nsec / 1000,
                10000,
                on_rescan_timer,
                m);
        if (r < 0)
                return log_error_errno(r, "Failed to add rescan timer: %m");
        (void) sd_event_source_set_description(m->rescan_timer, "rescan");

        r = sampler_new(m, &config->sampler, &m->sampler);
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
        while (m->files) {
                ShipperFile *f = m->files;
                m->files = f->next;
                shipper_file_free(f);
        }
        for (size_t i = 0; i < m->n_watched_dirs; i++) {
                sd_event_source_disable_unref(m->dir_watches[i]);
                free(m->watched_dirs[i]);
        }
        free(m->dir_watches);
        free(m->watched_dirs);
        sampler_free(m->sampler);
        http_server_free(m->http);
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
        strv_free(m->globs);
        free(m->insert_url);
        ZSTD_freeCCtx(m->zstd_cctx);
        for (unsigned i = 0; i < m->n_spare_rows; i++)
                buf_done(&m->spare_rows[i]);
        safe_close(m->dead_letter_fd);
        free(m);
        return NULL;
}

int manager_start(Manager *m) {
        int r;

        r = manager_watch_dirs(m);
        if (r < 0)
                return r;
        r = manager_rescan(m);
        if (r < 0)
                return r;
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
