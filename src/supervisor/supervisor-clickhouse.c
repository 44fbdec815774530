/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cleanup-libs.h"
#include "duration.h"
#include "log.h"
#include "parse-util.h"
#include "strbuf.h"
#include "supervisor-clickhouse.h"
#include "util.h"

#define CLICKHOUSE_REPLY_MAX (4 * 1024 * 1024)
#define CLICKHOUSE_SETTLE_MS_DEFAULT 10000L
#define CLICKHOUSE_CODE_AUTHENTICATION_FAILED 516
/* A check that takes longer than two poll intervals (and at least this) means ClickHouse does not answer. */
#define CLICKHOUSE_SILENCE_MIN_USEC (2 * USEC_PER_SEC)

typedef enum CheckStep {
        STEP_IDLE,
        STEP_PING,
        STEP_TOTALS,
        STEP_STREAMS,
        STEP_DETAILS,
} CheckStep;

struct ClickHouseChecker {
        ClickHouseClient *client;
        char *url, *user; /* for messages */
        char *totals_sql, *streams_sql, *details_sql;
        ClickHouseRequest *request; /* the request under way */
        CheckStep step;
        uint64_t started_usec;
        ClickHouseHealth health;  /* last completed check */
        ClickHouseHealth pending; /* the check under way */
        ClickHouseCheckDone done;
        void *userdata;
};

void clickhouse_health_done(ClickHouseHealth *h) {
        for (size_t i = 0; i < h->n_streams; i++) {
                free(h->streams[i].pod);
                free(h->streams[i].container);
        }
        free(h->streams);
        free(h->error);
        *h = (ClickHouseHealth){};
}

static bool valid_identifier(const char *s) {
        if (isempty(s))
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '_'))
                        return false;
        return true;
}

/* Splits one TSV line into at most n fields, in place. Returns the number of fields. */
static size_t split_tsv(char *line, char **fields, size_t n) {
        size_t k = 0;

        while (k < n) {
                fields[k++] = line;
                line = strchr(line, '\t');
                if (!line)
                        break;
                *line++ = 0;
        }
        return k;
}

int clickhouse_parse_totals(const char *tsv, ClickHouseHealth *h) {
        _cleanup_free_ char *copy = strdup(tsv);
        char *f[2], *nl;
        int64_t newest;

        if (!copy)
                return -ENOMEM;
        nl = strchr(copy, '\n');
        if (!nl || nl[1] != 0)
                return -EBADMSG;
        *nl = 0;
        if (split_tsv(copy, f, 2) != 2 || safe_atou64(f[0], &h->rows) < 0 || safe_atoi64(f[1], &newest) < 0)
                return -EBADMSG;
        h->newest_nsec = newest;
        return 0;
}

int clickhouse_parse_streams(const char *tsv, ClickHouseHealth *h) {
        _cleanup_free_ char *copy = strdup(tsv);
        char *line, *next;

        if (!copy)
                return -ENOMEM;
        for (line = copy; *line; line = next) {
                ClickHouseStream s = {}, *a;
                uint64_t settled_distinct, settled_max;
                char *f[7];

                next = strchr(line, '\n');
                if (!next)
                        return -EBADMSG;
                *next++ = 0;
                if (split_tsv(line, f, 7) != 7 || safe_atou64(f[2], &s.rows) < 0 ||
                    safe_atou64(f[3], &s.distinct) < 0 || safe_atou64(f[4], &s.max_count) < 0 ||
                    safe_atou64(f[5], &settled_distinct) < 0 || safe_atou64(f[6], &settled_max) < 0 ||
                    s.distinct > s.rows || s.distinct > s.max_count || settled_distinct > settled_max ||
                    settled_distinct > s.distinct || settled_max > s.max_count)
                        return -EBADMSG;
                a = reallocarray(h->streams, h->n_streams + 1, sizeof(*a));
                if (!a)
                        return -ENOMEM;
                h->streams = a;
                s.pod = strdup(f[0]);
                s.container = strdup(f[1]);
                if (!s.pod || !s.container) {
                        free(s.pod);
                        free(s.container);
                        return -ENOMEM;
                }
                /* Whatever is below the highest settled value and absent was lost; rows beyond the distinct
                 * values are copies. */
                s.lost = settled_max - settled_distinct;
                s.duplicated = s.rows - s.distinct;
                h->lost += s.lost;
                h->duplicated += s.duplicated;
                h->streams[h->n_streams++] = s;
        }
        return 0;
}

static ClickHouseStream *find_stream(ClickHouseHealth *h, const char *pod, const char *container) {
        for (size_t i = 0; i < h->n_streams; i++)
                if (streq(h->streams[i].pod, pod) && streq(h->streams[i].container, container))
                        return h->streams + i;
        return NULL;
}

static int range_compare(const void *a, const void *b) {
        const ClickHouseRange *x = a, *y = b;
        return x->from < y->from ? -1 : x->from > y->from;
}

/* Lines "pod \t container \t lost \t from \t to" (a gap) and "pod \t container \t duplicated \t value \t
 * copies", in any order, at most CLICKHOUSE_STREAM_DETAILS_MAX of each kind per stream. */
int clickhouse_parse_details(const char *tsv, ClickHouseHealth *h) {
        _cleanup_free_ char *copy = strdup(tsv);
        char *line, *next;

        if (!copy)
                return -ENOMEM;
        for (line = copy; *line; line = next) {
                ClickHouseStream *s;
                ClickHouseRange r;
                char *f[5];

                next = strchr(line, '\n');
                if (!next)
                        return -EBADMSG;
                *next++ = 0;
                if (split_tsv(line, f, 5) != 5 || safe_atou64(f[3], &r.from) < 0 ||
                    safe_atou64(f[4], &r.to) < 0)
                        return -EBADMSG;
                s = find_stream(h, f[0], f[1]);
                if (!s)
                        continue; /* a stream that appeared between the two queries */
                if (streq(f[2], "lost")) {
                        if (r.from == 0 || r.from > r.to || s->n_gaps >= CLICKHOUSE_STREAM_DETAILS_MAX)
                                return -EBADMSG;
                        s->gaps[s->n_gaps++] = r;
                } else if (streq(f[2], "duplicated")) {
                        if (r.to < 2 || s->n_copies >= CLICKHOUSE_STREAM_DETAILS_MAX)
                                return -EBADMSG;
                        s->copies[s->n_copies++] = r;
                } else
                        return -EBADMSG;
        }
        /* Sorted, for stable messages: the query's UNION ALL returns its parts in any order. */
        for (size_t i = 0; i < h->n_streams; i++) {
                qsort(h->streams[i].gaps, h->streams[i].n_gaps, sizeof(ClickHouseRange), range_compare);
                qsort(h->streams[i].copies, h->streams[i].n_copies, sizeof(ClickHouseRange), range_compare);
        }
        return 0;
}

static int start_step(ClickHouseChecker *c);

static void finish(ClickHouseChecker *c, const char *error) {
        if (error) {
                free(c->pending.error);
                c->pending.error = strdup(error);
        }
        c->pending.checked = true;
        c->pending.checked_usec = now_usec(CLOCK_REALTIME);
        clickhouse_health_done(&c->health);
        c->health = c->pending;
        c->pending = (ClickHouseHealth){};
        c->step = STEP_IDLE;
        if (c->done)
                c->done(c, &c->health, c->userdata);
}

static void on_done(ClickHouseRequest *req, const ClickHouseReply *reply, void *userdata) {
        ClickHouseChecker *c = userdata;
        char msg[512];
        int r;

        c->request = NULL;
        if (reply->curl_code != CURLE_OK) {
                /* No answer to this request: unreachable, even when the /ping of this check answered (a
                 * server stopped between two requests). */
                c->pending.reachable = false;
                (void) snprintf(msg, sizeof(msg), "%s: %s", c->url, curl_easy_strerror(reply->curl_code));
                finish(c, msg);
                return;
        }
        if (reply->http_status != 200) {
                if (reply->exception_code == CLICKHOUSE_CODE_AUTHENTICATION_FAILED ||
                    reply->http_status == 401 || reply->http_status == 403) {
                        /* The one failure a retry cannot fix: say it in words, not as a code. */
                        c->pending.auth_failed = true;
                        c->pending.reachable = true; /* it answered */
                        (void) snprintf(
                                msg,
                                sizeof(msg),
                                "authentication failed for user %s (HTTP %ld, code %ld): check the password",
                                c->user,
                                reply->http_status,
                                reply->exception_code);
                        finish(c, msg);
                        return;
                }
                if (c->step == STEP_DETAILS) {
                        /* The gap details are an extra: the figures stand without them. */
                        log_debug(
                                "The gap query failed: HTTP %ld: %.*s",
                                reply->http_status,
                                (int) strcspn(reply->body, "\n"),
                                reply->body);
                        finish(c, NULL);
                        return;
                }
                /* ClickHouse puts its own message in the body; its first line is enough. */
                (void) snprintf(
                        msg,
                        sizeof(msg),
                        "HTTP %ld: %.*s",
                        reply->http_status,
                        (int) strcspn(reply->body, "\n"),
                        reply->body);
                finish(c, msg);
                return;
        }

        switch (c->step) {
        case STEP_PING:
                if (!streq(reply->body, "Ok.\n")) {
                        finish(c, "/ping did not answer \"Ok.\"");
                        return;
                }
                c->pending.reachable = true;
                c->step = STEP_TOTALS;
                break;
        case STEP_TOTALS:
                r = clickhouse_parse_totals(reply->body, &c->pending);
                if (r < 0) {
                        finish(c, "unexpected answer to the row count query");
                        return;
                }
                c->step = STEP_STREAMS;
                break;
        case STEP_STREAMS:
                r = clickhouse_parse_streams(reply->body, &c->pending);
                if (r < 0) {
                        finish(c, "unexpected answer to the integrity query");
                        return;
                }
                if (c->pending.lost == 0 && c->pending.duplicated == 0) {
                        finish(c, NULL);
                        return;
                }
                c->step = STEP_DETAILS;
                break;
        case STEP_DETAILS:
                r = clickhouse_parse_details(reply->body, &c->pending);
                if (r < 0)
                        log_debug_errno(r, "Unexpected answer to the gap query, ignoring: %m");
                finish(c, NULL);
                return;
        default:
                return;
        }
        r = start_step(c);
        if (r < 0) {
                (void) snprintf(msg, sizeof(msg), "failed to start a request: %s", strerror(-r));
                finish(c, msg);
        }
}

static int start_step(ClickHouseChecker *c) {
        ClickHouseQuery q = {
                .sql = c->step == STEP_TOTALS    ? c->totals_sql
                       : c->step == STEP_STREAMS ? c->streams_sql
                                                 : c->details_sql,
                .reply_max = CLICKHOUSE_REPLY_MAX,
        };

        if (c->step == STEP_PING)
                return clickhouse_ping(c->client, on_done, c, &c->request);
        return clickhouse_query(c->client, &q, on_done, c, &c->request);
}

int clickhouse_checker_run(ClickHouseChecker *c, ClickHouseCheckDone done, void *userdata) {
        int r;

        if (c->step != STEP_IDLE)
                return -EBUSY;
        c->done = done;
        c->userdata = userdata;
        c->pending = (ClickHouseHealth){};
        c->step = STEP_PING;
        c->started_usec = now_usec(CLOCK_MONOTONIC);
        r = start_step(c);
        if (r < 0) {
                c->step = STEP_IDLE;
                return r;
        }
        return 0;
}

uint64_t clickhouse_checker_busy_since(const ClickHouseChecker *c) {
        return c->step == STEP_IDLE ? 0 : c->started_usec;
}

/* A stopped server does not refuse connections, it just never answers: the check that hangs says more than
 * the last one that completed. */
double clickhouse_checker_silence(const ClickHouseChecker *c, uint64_t poll_interval_usec) {
        uint64_t busy = clickhouse_checker_busy_since(c), now = now_usec(CLOCK_MONOTONIC);
        uint64_t limit = MAX(2 * poll_interval_usec, CLICKHOUSE_SILENCE_MIN_USEC);

        return busy > 0 && now - busy > limit ? (double) (now - busy) / 1e6 : 0;
}

const ClickHouseHealth *clickhouse_checker_health(const ClickHouseChecker *c) {
        return &c->health;
}

int clickhouse_checker_new(
        ClickHouseClient *client, const ClickHouseCheckerConfig *config, ClickHouseChecker **ret) {
        _cleanup_(clickhouse_checker_freep) ClickHouseChecker *c = NULL;
        StrBuf svc = STRBUF_INIT(1024);
        char settled[64];
        int r;

        if (!valid_identifier(config->database) || !valid_identifier(config->table))
                return -EINVAL;

        c = new0(ClickHouseChecker, 1);
        if (!c)
                return -ENOMEM;
        c->client = client;
        c->url = strdup(config->url);
        c->user = strdup(strempty(config->user));
        if (!c->url || !c->user)
                return -ENOMEM;
        /* "http://host:8123/" and "http://host:8123" mean the same. */
        if (*c->url && c->url[strlen(c->url) - 1] == '/')
                c->url[strlen(c->url) - 1] = 0;

        if (asprintf(
                    &c->totals_sql,
                    "SELECT count(), toUnixTimestamp64Nano(max(Timestamp)) FROM %s.%s FORMAT TabSeparated",
                    config->database,
                    config->table) < 0)
                return -ENOMEM;

        /* The service name is a value, quoted as a ClickHouse string literal. */
        for (const char *p = strempty(config->integrity_service); *p; p++) {
                r = *p == '\'' || *p == '\\' ? strbuf_append(&svc, "\\", 1) : 0;
                if (r >= 0)
                        r = strbuf_append(&svc, p, 1);
                if (r < 0) {
                        strbuf_done(&svc);
                        return r;
                }
        }
        (void) snprintf(
                settled,
                sizeof(settled),
                "now64(9) - toIntervalMillisecond(%ld)",
                config->settle_ms > 0 ? config->settle_ms : CLICKHOUSE_SETTLE_MS_DEFAULT);
        /* Timestamp and Count rise together in a stream: the values of rows older than the settle time are
         * those up to the highest settled one. */
        r = asprintf(
                &c->streams_sql,
                "SELECT ResourceAttributes['k8s.pod.name'], ResourceAttributes['k8s.container.id'], count(), "
                "uniqExact(Count), max(Count), uniqExactIf(Count, Timestamp < %s), maxIf(Count, Timestamp < %s) "
                "FROM %s.%s WHERE ServiceName = '%s' AND Count > 0 GROUP BY 1, 2 ORDER BY 1, 2 "
                "FORMAT TabSeparated",
                settled,
                settled,
                config->database,
                config->table,
                strempty(svc.data));
        /* The first gaps (a value, and the one before it, more than one apart; the first value of a stream
         * is compared with 0) among settled values, and the first duplicated values, per stream. */
        if (r >= 0)
                r = asprintf(
                        &c->details_sql,
                        "(SELECT pod, container, 'lost', prev + 1, Count - 1 FROM (SELECT pod, container, Count, "
                        "lagInFrame(Count, 1, 0) OVER (PARTITION BY pod, container ORDER BY Count ROWS BETWEEN 1 "
                        "PRECEDING AND CURRENT ROW) AS prev FROM (SELECT DISTINCT ResourceAttributes['k8s.pod.name'] "
                        "AS pod, ResourceAttributes['k8s.container.id'] AS container, Count FROM %s.%s WHERE "
                        "ServiceName = '%s' AND Count > 0 AND Timestamp < %s)) WHERE Count > prev + 1 ORDER BY pod, "
                        "container, Count LIMIT %d BY pod, container) UNION ALL (SELECT "
                        "ResourceAttributes['k8s.pod.name'] AS pod, ResourceAttributes['k8s.container.id'] AS "
                        "container, 'duplicated', Count, count() AS n FROM %s.%s WHERE ServiceName = '%s' AND Count "
                        "> 0 GROUP BY pod, container, Count HAVING n > 1 ORDER BY pod, container, Count LIMIT %d BY "
                        "pod, container) FORMAT TabSeparated",
                        config->database,
                        config->table,
                        strempty(svc.data),
                        settled,
                        CLICKHOUSE_STREAM_DETAILS_MAX,
                        config->database,
                        config->table,
                        strempty(svc.data),
                        CLICKHOUSE_STREAM_DETAILS_MAX);
        strbuf_done(&svc);
        if (r < 0)
                return -ENOMEM;

        *ret = TAKE_PTR(c);
        return 0;
}

ClickHouseChecker *clickhouse_checker_free(ClickHouseChecker *c) {
        if (!c)
                return NULL;
        clickhouse_request_cancel(c->request);
        clickhouse_health_done(&c->health);
        clickhouse_health_done(&c->pending);
        free(c->url);
        free(c->user);
        free(c->totals_sql);
        free(c->streams_sql);
        free(c->details_sql);
        free(c);
        return NULL;
}

static void add_reason(StrBuf *b, const char *format, ...) _printf_(2, 3);
static void add_reason(StrBuf *b, const char *format, ...) {
        char buf[512];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);
        if (b->len > 0)
                (void) strbuf_puts(b, "; ");
        (void) strbuf_puts(b, buf);
}

/* Streams with lost or duplicated rows named one by one in the reason; the rest are counted. */
#define PIPELINE_STREAMS_SHOWN 3

static void health_problems(
        const ClickHouseChecker *c, uint64_t poll_interval_usec, int64_t max_log_age, StrBuf *reasons) {
        const ClickHouseHealth *h = clickhouse_checker_health(c);
        uint64_t now = now_usec(CLOCK_REALTIME);
        double silence = clickhouse_checker_silence(c, poll_interval_usec);

        if (silence > 0)
                add_reason(reasons, "ClickHouse unreachable (no answer for %.0f s)", silence);
        else if (!h->checked)
                add_reason(reasons, "waiting for the first ClickHouse check");
        else if (!h->reachable && !h->auth_failed)
                add_reason(reasons, "ClickHouse unreachable (%s)", strempty(h->error));
        else if (h->error)
                add_reason(reasons, "ClickHouse: %s", h->error);
        else if (h->rows == 0)
                add_reason(reasons, "no logs in ClickHouse yet");
        else {
                int64_t age = usec_to_nsec(now) - h->newest_nsec;
                if (age > max_log_age) {
                        char d[DURATION_STRING_MAX];
                        add_reason(
                                reasons,
                                "logs stopped arriving: the newest is %s old",
                                format_duration(age / NSEC_PER_SEC * NSEC_PER_SEC, d, sizeof(d)));
                }
        }
}

/* "pod P (container C): N rows lost (count 101-120, 200); M duplicated (count 7 ×2)" for each stream with
 * lost or duplicated rows: they never come back by themselves, so the state stays degraded while ClickHouse
 * holds the stream (its rows expire with the table's TTL). */
static void pipeline_problems(const ClickHouseChecker *c, StrBuf *reasons) {
        const ClickHouseHealth *h = clickhouse_checker_health(c);
        size_t shown = 0, bad = 0;

        if (!h->checked || h->error)
                return;
        for (size_t i = 0; i < h->n_streams; i++) {
                const ClickHouseStream *s = h->streams + i;
                char text[400];
                size_t n = 0;

                if (s->lost == 0 && s->duplicated == 0)
                        continue;
                if (++bad > PIPELINE_STREAMS_SHOWN)
                        continue;
                shown++;
#define APPEND(...)                                                                                         \
        n += (size_t) MAX(snprintf(text + n, n < sizeof(text) ? sizeof(text) - n : 0, __VA_ARGS__), 0)
                APPEND("pipeline: pod %s (container %.12s):", s->pod, s->container);
                if (s->lost > 0) {
                        APPEND(" %" PRIu64 " rows lost", s->lost);
                        for (size_t k = 0; k < s->n_gaps; k++) {
                                APPEND("%s%" PRIu64, k == 0 ? " (count " : ", ", s->gaps[k].from);
                                if (s->gaps[k].to > s->gaps[k].from)
                                        APPEND("-%" PRIu64, s->gaps[k].to);
                        }
                        if (s->n_gaps > 0) {
                                uint64_t named = 0;
                                for (size_t k = 0; k < s->n_gaps; k++)
                                        named += s->gaps[k].to - s->gaps[k].from + 1;
                                APPEND("%s)", named < s->lost ? ", …" : "");
                        }
                }
                if (s->duplicated > 0) {
                        APPEND("%s %" PRIu64 " duplicated", s->lost > 0 ? ";" : "", s->duplicated);
                        for (size_t k = 0; k < s->n_copies; k++)
                                APPEND("%s%" PRIu64 " ×%" PRIu64,
                                       k == 0 ? " (count " : ", ",
                                       s->copies[k].from,
                                       s->copies[k].to);
                        if (s->n_copies > 0) {
                                uint64_t named = 0;
                                for (size_t k = 0; k < s->n_copies; k++)
                                        named += s->copies[k].to - 1;
                                APPEND("%s)", named < s->duplicated ? ", …" : "");
                        }
                }
#undef APPEND
                add_reason(reasons, "%s", text);
        }
        if (bad > shown)
                add_reason(reasons, "pipeline: %zu more streams with lost or duplicated rows", bad - shown);
}

void clickhouse_checker_problems(
        const ClickHouseChecker *c, uint64_t poll_interval_usec, int64_t max_log_age, StrBuf *reasons) {
        health_problems(c, poll_interval_usec, max_log_age, reasons);
        pipeline_problems(c, reasons);
}
