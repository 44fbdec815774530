/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "macro.h"
#include "shipper-sender.h"
#include "strbuf.h"
#include "util.h"

typedef struct SendJob SendJob;
struct SendJob {
        Sender *sender;
        SendJob *prev, *next; /* all jobs */
        SendJob *queue_next;  /* waiting for a request slot */
        bool queued;
        Batch *batch;
        const char *label;
        void *cookie;
        ClickHouseRequest *req;
        sd_event_source *retry_timer;
        unsigned attempts;
};

struct Sender {
        sd_event *event;
        ClickHouseClient *clickhouse;
        char *table;
        Compression compression;
        int compression_level;
        unsigned max_inflight;
        int dead_letter_fd;
        char *dead_letter_file;
        bool sync;
        ShipperStats *stats;
        SenderDone done;
        int (*rebuild)(Batch *b, void *cookie, void *userdata);
        void (*progress)(void *userdata);
        void (*on_auth_refused)(void *userdata);
        void *userdata;
        SendJob *jobs;
        SendJob *queue_head, *queue_tail;
        unsigned inflight;
        bool clickhouse_up;
        char *user;
        char auth_reason[160]; /* why, while ClickHouse refuses the credentials; empty otherwise */
        int dead_letter_error; /* of the last write to the dead-letter file, 0 when it succeeded */
};

static void job_free(SendJob *j) {
        Sender *s = j->sender;

        clickhouse_request_cancel(j->req);
        sd_event_source_disable_unref(j->retry_timer);
        if (j->prev)
                j->prev->next = j->next;
        else
                s->jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        free(j);
}

static void queue_push(Sender *s, SendJob *j) {
        if (j->queued)
                return;
        j->queued = true;
        j->queue_next = NULL;
        if (s->queue_tail)
                s->queue_tail->queue_next = j;
        else
                s->queue_head = j;
        s->queue_tail = j;
}

static SendJob *queue_pop(Sender *s) {
        SendJob *j = s->queue_head;
        if (!j)
                return NULL;
        s->queue_head = j->queue_next;
        if (!s->queue_head)
                s->queue_tail = NULL;
        j->queued = false;
        return j;
}

/* Every row of the batch was stored or dead-lettered. */
static void job_complete(SendJob *j) {
        Sender *s = j->sender;
        Batch *b = j->batch;
        void *cookie = j->cookie;

        job_free(j);
        s->done(b, cookie, s->userdata);
}

static void request_done(SendJob *j, ClickHouseResult result, uint64_t retry_after_usec, const char *error);

/* ClickHouse's AUTHENTICATION_FAILED and REQUIRED_PASSWORD, or a bare 401/403 (a proxy in front of it). */
static bool reply_is_auth_refusal(const ClickHouseReply *reply) {
        if (reply->exception_code == 516 || reply->exception_code == 194)
                return true;
        return reply->exception_code == 0 && (reply->http_status == 401 || reply->http_status == 403);
}

/* A refused password is retried like any failure (the rows are kept), but it does not go away by itself:
 * it is remembered until ClickHouse answers otherwise, for /health and the metrics. */
static void note_auth(Sender *s, const ClickHouseReply *reply) {
        if (reply_is_auth_refusal(reply)) {
                s->stats->clickhouse_auth_failures++;
                if (isempty(s->auth_reason))
                        log_error(
                                "ClickHouse refused the password of user %s (HTTP %ld, code %ld); keeping the rows "
                                "and retrying",
                                s->user,
                                reply->http_status,
                                reply->exception_code);
                (void) snprintf(
                        s->auth_reason,
                        sizeof(s->auth_reason),
                        "ClickHouse refused the password of user %.64s (HTTP %ld, code %ld)",
                        s->user,
                        reply->http_status,
                        reply->exception_code);
                if (s->on_auth_refused)
                        s->on_auth_refused(s->userdata);
        } else if (reply->http_status != 0 && !isempty(s->auth_reason)) {
                log_info("ClickHouse accepts the password of user %s again", s->user);
                s->auth_reason[0] = 0;
        }
}

static void on_insert_done(ClickHouseRequest *req, const ClickHouseReply *reply, void *userdata) {
        SendJob *j = userdata;

        j->req = NULL; /* freed by the client after this returns */
        j->sender->stats->bytes_sent += reply->sent_bytes;
        note_auth(j->sender, reply);
        request_done(j, reply->result, reply->retry_after_usec, strempty(reply->error));
}

static int start_request(Sender *s, SendJob *j) {
        char token[BATCH_TOKEN_MAX];
        ClickHouseSetting settings[] = {{"insert_deduplication_token", token}};
        ClickHouseInsert ins = {
                .table = s->table,
                .settings = settings,
                .n_settings = ELEMENTSOF(settings),
        };
        int r;

        if (batch_bisecting(j->batch)) {
                /* A part of a refused batch: JSONEachRow lines, compressed by the client. */
                ins.format = "JSONEachRow";
                ins.content_type = "application/x-ndjson";
                ins.compression = s->compression;
                ins.compression_level = s->compression_level;
                batch_part_bytes(j->batch, (const char **) &ins.data, &ins.size);
        } else {
                /* The body the batch built, compressed as its rows came. */
                ins.format = insert_format_to_string(batch_format(j->batch));
                ins.content_type = batch_format(j->batch) == INSERT_FORMAT_JSON_EACH_ROW
                                           ? "application/x-ndjson"
                                           : NULL;
                ins.compression = batch_compression(j->batch);
                ins.precompressed = true;
                batch_body(j->batch, &ins.data, &ins.size);
        }
        batch_token(j->batch, token, sizeof(token));
        /* The body points into the batch's rows, which outlive the request (a job is freed first). */
        r = clickhouse_insert(s->clickhouse, &ins, on_insert_done, j, &j->req);
        if (r < 0)
                return log_error_errno(r, "Failed to start an INSERT request: %m");
        s->inflight++;
        return 0;
}

static void pump(Sender *s) {
        SendJob *j;

        while (s->inflight < s->max_inflight && (j = queue_pop(s))) {
                if (batch_n_rows(j->batch) == 0) {
                        job_complete(j); /* only empty lines: nothing to insert, just move the offset */
                        continue;
                }
                if (start_request(s, j) < 0) {
                        s->inflight++; /* balanced by request_done() */
                        request_done(j, CLICKHOUSE_RETRY, 0, "request could not be started");
                }
        }
}

int sender_submit(Sender *s, Batch *b, const char *label, void *cookie) {
        SendJob *j = new0(SendJob, 1);

        if (!j)
                return -ENOMEM;
        *j = (SendJob){.sender = s, .batch = b, .label = label, .cookie = cookie, .next = s->jobs};
        if (s->jobs)
                s->jobs->prev = j;
        s->jobs = j;
        queue_push(s, j);
        pump(s);
        return 0;
}

static int on_retry(sd_event_source *src, uint64_t usec, void *userdata) {
        SendJob *j = userdata;

        j->retry_timer = sd_event_source_disable_unref(j->retry_timer);
        queue_push(j->sender, j);
        pump(j->sender);
        return 0;
}

static void schedule_retry(SendJob *j, uint64_t retry_after_usec) {
        Sender *s = j->sender;
        uint64_t delay = clickhouse_client_retry_delay(s->clickhouse, j->attempts, retry_after_usec);
        int r;

        j->attempts++;
        s->stats->batches_retried++;
        r = sd_event_add_time_relative(s->event, &j->retry_timer, CLOCK_MONOTONIC, delay, 1000, on_retry, j);
        if (r < 0) {
                log_error_errno(r, "Failed to arm retry timer, retrying now: %m");
                queue_push(s, j);
                return;
        }
        (void) sd_event_source_set_description(j->retry_timer, "retry");
}

static int dead_letter(Sender *s, SendJob *j, uint32_t row, const char *error) {
        const char *p;
        size_t len;
        char token[BATCH_TOKEN_MAX];
        StrBuf out;
        int r;

        batch_row_bytes(j->batch, row, &p, &len);
        out = STRBUF_INIT(len + 8192);
        batch_token(j->batch, token, sizeof(token));
        r = strbuf_puts(&out, "{\"file\":\"");
        if (r >= 0)
                r = strbuf_append_json_escaped(&out, j->label, strlen(j->label));
        if (r >= 0)
                r = strbuf_printf(&out, "\",\"token\":\"%s\",\"error\":\"", token);
        if (r >= 0)
                r = strbuf_append_json_escaped(&out, error, strlen(error));
        if (r >= 0)
                r = strbuf_puts(&out, "\",\"row\":");
        if (r >= 0)
                r = strbuf_append(&out, p, len);
        if (r >= 0)
                r = strbuf_puts(&out, "}\n");
        if (r >= 0)
                r = loop_write(s->dead_letter_fd, out.data, out.len);
        strbuf_done(&out);
        if (r < 0) {
                s->stats->dead_letter_write_failures++;
                s->dead_letter_error = r;
                return log_error_errno(
                        r, "Failed to write to dead-letter file %s, retrying: %m", s->dead_letter_file);
        }
        if (s->dead_letter_error < 0)
                log_info("Dead-letter file %s written again", s->dead_letter_file);
        s->dead_letter_error = 0;
        s->stats->rows_dead_lettered++;
        return 0;
}

/* The current part was stored (or dead-lettered): on to the next one, or the batch is done. */
static void bisect_next(SendJob *j) {
        Sender *s = j->sender;

        if (batch_part_next(j->batch)) {
                queue_push(s, j);
                return;
        }
        if (s->sync && fsync(s->dead_letter_fd) < 0)
                log_warning_errno(errno, "Failed to sync the dead-letter file, ignoring: %m");
        job_complete(j);
}

static void request_done(SendJob *j, ClickHouseResult result, uint64_t retry_after_usec, const char *error) {
        Sender *s = j->sender;
        Batch *b = j->batch;
        RowRange part = batch_part(b);
        int r;

        assert(s->inflight > 0);
        s->inflight--;

        switch (result) {
        case CLICKHOUSE_OK:
                if (!s->clickhouse_up)
                        log_info("ClickHouse accepts rows again");
                s->clickhouse_up = true;
                s->stats->rows_sent += part.hi - part.lo;
                s->stats->batches_sent++;
                j->attempts = 0;
                if (batch_bisecting(b))
                        bisect_next(j);
                else
                        job_complete(j);
                break;

        case CLICKHOUSE_MALFORMED:
                s->clickhouse_up = true;
                s->stats->requests_failed++;
                j->attempts = 0;
                if (!batch_bisecting(b)) {
                        log_warning(
                                "%s: ClickHouse refused %" PRIu32
                                " rows as malformed (%s); finding the bad rows",
                                j->label,
                                batch_n_rows(b),
                                error);
                        r = batch_rows(b)->len > 0 ? 0 : s->rebuild(b, j->cookie, s->userdata);
                        if (r < 0) {
                                /* The file no longer has them (truncated away): nothing to send again. */
                                log_error_errno(
                                        r,
                                        "%s: the rows of [%" PRIu64 ", %" PRIu64
                                        ") cannot be read again, giving them up: %m",
                                        j->label,
                                        batch_start(b),
                                        batch_end(b));
                                s->stats->rows_lost += batch_n_rows(b);
                                job_complete(j);
                                break;
                        }
                        r = batch_bisect_start(b);
                        if (r < 0) {
                                log_error_errno(r, "Failed to split a refused batch: %m");
                                schedule_retry(j, 0);
                                break;
                        }
                }
                if (part.hi - part.lo == 1) {
                        r = dead_letter(s, j, part.lo, error);
                        if (r < 0) {
                                schedule_retry(j, 0);
                                break;
                        }
                        bisect_next(j);
                } else {
                        r = batch_part_split(b);
                        if (r < 0) {
                                log_oom();
                                schedule_retry(j, 0);
                                break;
                        }
                        queue_push(s, j);
                }
                break;

        default:
                s->stats->requests_failed++;
                if (s->clickhouse_up || j->attempts == 0)
                        log_warning(
                                "INSERT of %s [%" PRIu64 ", %" PRIu64 ") failed, will retry: %s",
                                j->label,
                                batch_start(b),
                                batch_end(b),
                                error);
                else
                        log_debug("INSERT retry failed: %s", error);
                s->clickhouse_up = false;
                schedule_retry(j, retry_after_usec);
                break;
        }
        pump(s);
        if (s->progress)
                s->progress(s->userdata);
}

bool sender_idle(const Sender *s) {
        return s->inflight == 0 && !s->queue_head;
}

unsigned sender_inflight(const Sender *s) {
        return s->inflight;
}

bool sender_clickhouse_up(const Sender *s) {
        return s->clickhouse_up;
}

const char *sender_auth_refused(const Sender *s) {
        return isempty(s->auth_reason) ? NULL : s->auth_reason;
}

int sender_dead_letter_error(const Sender *s) {
        return s->dead_letter_error;
}

int sender_new(const SenderConfig *c, Sender **ret) {
        Sender *s;

        s = new0(Sender, 1);
        if (!s)
                return -ENOMEM;
        *s = (Sender){
                .event = sd_event_ref(c->event),
                .clickhouse = c->clickhouse,
                .compression = c->compression,
                .compression_level = c->compression_level,
                .max_inflight = MAX(c->max_inflight, 1u),
                .sync = c->sync,
                .stats = c->stats,
                .done = c->done,
                .rebuild = c->rebuild,
                .progress = c->progress,
                .on_auth_refused = c->on_auth_refused,
                .userdata = c->userdata,
                .clickhouse_up = true,
                .dead_letter_fd = -EBADF,
        };
        s->table = strdup(c->table);
        s->dead_letter_file = strdup(c->dead_letter_file);
        s->user = strdup(strempty(c->user));
        if (!s->table || !s->dead_letter_file || !s->user) {
                sender_free(s);
                return log_oom();
        }
        s->dead_letter_fd = open(c->dead_letter_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (s->dead_letter_fd < 0) {
                int r = log_error_errno(
                        errno, "Failed to open dead-letter file %s: %m", c->dead_letter_file);
                sender_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

Sender *sender_free(Sender *s) {
        if (!s)
                return NULL;
        while (s->jobs)
                job_free(s->jobs);
        safe_close(s->dead_letter_fd);
        sd_event_unref(s->event);
        free(s->table);
        free(s->dead_letter_file);
        free(s->user);
        free(s);
        return NULL;
}
