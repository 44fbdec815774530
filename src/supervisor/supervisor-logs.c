/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup-libs.h"
#include "duration.h"
#include "log.h"
#include "parse-util.h"
#include "strbuf.h"
#include "supervisor-logs.h"
#include "util.h"

#define LOGS_SINCE_DEFAULT NSEC_PER_HOUR
#define LOGS_SINCE_MAX (31 * 24 * NSEC_PER_HOUR)
/* A first page takes two queries (the cursor, then the rows), and both must be answered within the status
 * socket's 10 s per request for the answer to be sent. */
#define LOGS_QUERY_TIMEOUT_USEC (4500 * USEC_PER_MSEC)

/* The columns every answer has. Bodies are cut (in characters, not to split one) and marked. */
#define LOGS_COLUMNS                                                                                         \
        "toString(_block_number) AS b, toString(_block_offset) AS o, "                                       \
        "toString(toUnixTimestamp64Nano(Timestamp)) AS ts, ServiceName AS service, "                         \
        "ResourceAttributes['k8s.pod.name'] AS pod, ResourceAttributes['k8s.container.name'] AS container, " \
        "SeverityText AS severity, SeverityNumber AS severity_number, "                                      \
        "substringUTF8(Body, 1, {body_max:UInt32}) AS body, lengthUTF8(Body) > {body_max:UInt32} AS "        \
        "body_truncated, LogAttributes AS attributes"

/* Every value the client chose is a bound parameter; '' matches everything for the text filters. */
#define LOGS_FILTERS                                                                                        \
        "Timestamp >= fromUnixTimestamp64Nano({since:Int64}) "                                              \
        "AND ({service:String} = '' OR ServiceName = {service:String}) "                                    \
        "AND startsWith(ResourceAttributes['k8s.pod.name'], {pod:String}) "                                 \
        "AND SeverityNumber >= {severity:UInt8} "                                                           \
        "AND ({match:String} = '' OR positionCaseInsensitiveUTF8(Body, {match:String}) > 0) "

typedef enum JobStep {
        JOB_CURSOR, /* the position of the last row inserted, before the newest rows are read */
        JOB_RECENT, /* the newest rows up to that position */
        JOB_FOLLOW, /* the rows inserted after the client's cursor */
} JobStep;

typedef struct LogsJob LogsJob;
struct LogsJob {
        LogsService *service;
        LogsJob *prev, *next;
        HttpDeferred *deferred; /* NULL once the HTTP side is gone */
        ClickHouseRequest *request;
        JobStep step;
        LogsParams params;
        char *service_esc, *pod_esc, *match_esc;
        char since[32], severity[8], limit[16], body_max[16], window[16];
        char after_block[24], after_offset[24], upto_block[24], upto_offset[24];
        uint64_t upto_block_n, upto_offset_n;
};

struct LogsService {
        ClickHouseClient *client;
        char *cursor_sql, *recent_sql, *follow_sql;
        LogsJob *jobs;
        unsigned n_jobs;
};

static const struct {
        const char *name;
        unsigned number;
} severities[] = {
        /* OpenTelemetry's severity numbers: each name is the lowest of its range of four. */
        {"trace", 1},
        {"debug", 5},
        {"info", 9},
        {"warn", 13},
        {"warning", 13},
        {"error", 17},
        {"fatal", 21},
};

int logs_parse_severity(const char *s, unsigned *ret) {
        uint32_t n;

        for (size_t i = 0; i < ELEMENTSOF(severities); i++)
                if (strcasecmp(s, severities[i].name) == 0) {
                        *ret = severities[i].number;
                        return 0;
                }
        if (safe_atou32(s, &n) < 0 || n > 24)
                return -EINVAL;
        *ret = n;
        return 0;
}

/* ClickHouse reads a String parameter in its escaped text format, where a backslash starts an escape and a
 * raw tab or newline ends the value: everything else goes as it is. */
char *logs_escape_param(const char *s) {
        StrBuf b = STRBUF_INIT(4 * LOGS_TEXT_MAX + 16);
        int r = 0;

        for (const char *p = s; r >= 0 && *p; p++)
                switch (*p) {
                case '\\':
                        r = strbuf_puts(&b, "\\\\");
                        break;
                case '\t':
                        r = strbuf_puts(&b, "\\t");
                        break;
                case '\n':
                        r = strbuf_puts(&b, "\\n");
                        break;
                case '\r':
                        r = strbuf_puts(&b, "\\r");
                        break;
                default:
                        r = strbuf_append(&b, p, 1);
                }
        if (r < 0) {
                strbuf_done(&b);
                return NULL;
        }
        return b.data ? strbuf_steal(&b, NULL) : strdup("");
}

/* A cursor is "BLOCK.OFFSET", two decimal numbers. */
static int parse_cursor(const char *s, uint64_t *ret_block, uint64_t *ret_offset) {
        char block[24];
        const char *dot = strchr(s, '.');

        if (!dot || (size_t) (dot - s) >= sizeof(block))
                return -EINVAL;
        memcpy(block, s, (size_t) (dot - s));
        block[dot - s] = 0;
        if (safe_atou64(block, ret_block) < 0 || safe_atou64(dot + 1, ret_offset) < 0)
                return -EINVAL;
        return 0;
}

static bool text_ok(const char *s) {
        return strlen(s) <= LOGS_TEXT_MAX;
}

int logs_params_parse(const HttpRequest *req, LogsParams *ret, char *err, size_t err_size) {
        LogsParams p = {
                .service = "",
                .pod = "",
                .match = "",
                .since_nsec = LOGS_SINCE_DEFAULT,
                .limit = LOGS_LIMIT_DEFAULT,
        };
        const char *v;

#define FAIL(...)                                                                                           \
        do {                                                                                                \
                (void) snprintf(err, err_size, __VA_ARGS__);                                                \
                return -EINVAL;                                                                             \
        } while (0)

        if ((v = http_request_query(req, "service"))) {
                if (!text_ok(v))
                        FAIL("service: at most %d bytes", LOGS_TEXT_MAX);
                p.service = v;
        }
        if ((v = http_request_query(req, "pod"))) {
                if (!text_ok(v))
                        FAIL("pod: at most %d bytes", LOGS_TEXT_MAX);
                p.pod = v;
        }
        if ((v = http_request_query(req, "match"))) {
                if (!text_ok(v))
                        FAIL("match: at most %d bytes", LOGS_TEXT_MAX);
                p.match = v;
        }
        if ((v = http_request_query(req, "severity")) && logs_parse_severity(v, &p.severity) < 0)
                FAIL("severity: trace, debug, info, warn, error, fatal or a number from 0 to 24, not \"%.64s\"",
                     v);
        if ((v = http_request_query(req, "since")) &&
            (parse_duration(v, &p.since_nsec) < 0 || p.since_nsec < NSEC_PER_SEC ||
             p.since_nsec > LOGS_SINCE_MAX))
                FAIL("since: a duration from 1s to 744h (31 days), like 30s, 15m or 2h, not \"%.64s\"", v);
        if ((v = http_request_query(req, "limit"))) {
                uint32_t n;
                if (safe_atou32(v, &n) < 0 || n < 1 || n > LOGS_LIMIT_MAX)
                        FAIL("limit: a number from 1 to %d, not \"%.64s\"", LOGS_LIMIT_MAX, v);
                p.limit = n;
        }
        if ((v = http_request_query(req, "after"))) {
                if (parse_cursor(v, &p.after_block, &p.after_offset) < 0)
                        FAIL("after: a cursor of an earlier answer (BLOCK.OFFSET), not \"%.64s\"", v);
                p.follow = true;
        }
#undef FAIL
        *ret = p;
        return 0;
}

static void job_free(LogsJob *j) {
        LogsService *l;

        if (!j)
                return;
        l = j->service;
        if (j->prev)
                j->prev->next = j->next;
        else
                l->jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        l->n_jobs--;
        (void) clickhouse_request_cancel(j->request);
        free(j->service_esc);
        free(j->pod_esc);
        free(j->match_esc);
        free(j);
}

/* The HTTP server is going away: no answer is wanted any more. */
static void on_http_cancel(void *userdata) {
        LogsJob *j = userdata;

        j->deferred = NULL;
        job_free(j);
}

static void job_answer(LogsJob *j, HttpResponse *resp) {
        if (j->deferred)
                http_deferred_finish(j->deferred, resp);
        http_response_done(resp);
        job_free(j);
}

static void job_fail(LogsJob *j, unsigned status, const char *format, ...) _printf_(3, 4);
static void job_fail(LogsJob *j, unsigned status, const char *format, ...) {
        HttpResponse resp = {};
        char msg[1024];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);
        if (http_response_printf(&resp, status, "%s\n", msg) < 0)
                resp.status = 500;
        job_answer(j, &resp);
}

static void format_time_nsec(const char *ns, char *buf, size_t size) {
        int64_t v = 0;
        time_t t;
        struct tm tm;
        char base[32];

        (void) safe_atoi64(ns, &v);
        t = (time_t) (v / NSEC_PER_SEC);
        (void) gmtime_r(&t, &tm);
        (void) strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
        (void) snprintf(buf, size, "%s.%09" PRIi64 "Z", base, v % NSEC_PER_SEC);
}

/* One JSONEachRow line of ClickHouse's answer as a row of ours. NULL when it is not what the query returns.
 */
static cJSON *convert_row(const char *line, size_t n, char *ret_block, char *ret_offset) {
        _cleanup_json_ cJSON *in = cJSON_ParseWithLength(line, n);
        cJSON *out, *b, *o, *ts;
        static const char *const strings[] = {"service", "pod", "container", "severity", "body"};
        char t[48];

        b = cJSON_GetObjectItemCaseSensitive(in, "b");
        o = cJSON_GetObjectItemCaseSensitive(in, "o");
        ts = cJSON_GetObjectItemCaseSensitive(in, "ts");
        if (!cJSON_IsString(b) || !cJSON_IsString(o) || !cJSON_IsString(ts) ||
            strlen(b->valuestring) >= 24 || strlen(o->valuestring) >= 24)
                return NULL;
        out = cJSON_CreateObject();
        if (!out)
                return NULL;
        format_time_nsec(ts->valuestring, t, sizeof(t));
        char pos[64];
        (void) snprintf(pos, sizeof(pos), "%s.%s", b->valuestring, o->valuestring);
        cJSON_AddStringToObject(out, "position", pos); /* where the row was inserted: a follow's cursor */
        cJSON_AddStringToObject(out, "time", t);
        cJSON_AddStringToObject(out, "timestamp_ns", ts->valuestring);
        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                cJSON *v = cJSON_GetObjectItemCaseSensitive(in, strings[i]);
                cJSON_AddStringToObject(out, strings[i], cJSON_IsString(v) ? v->valuestring : "");
        }
        cJSON *sn = cJSON_GetObjectItemCaseSensitive(in, "severity_number");
        cJSON_AddNumberToObject(out, "severity_number", cJSON_IsNumber(sn) ? sn->valuedouble : 0);
        cJSON *bt = cJSON_GetObjectItemCaseSensitive(in, "body_truncated");
        cJSON_AddBoolToObject(
                out, "body_truncated", (cJSON_IsNumber(bt) && bt->valueint) || cJSON_IsTrue(bt));
        cJSON *attrs = cJSON_DetachItemFromObjectCaseSensitive(in, "attributes");
        if (cJSON_IsObject(attrs))
                cJSON_AddItemToObject(out, "attributes", attrs);
        else {
                cJSON_Delete(attrs);
                cJSON_AddObjectToObject(out, "attributes");
        }
        memcpy(ret_block, b->valuestring, strlen(b->valuestring) + 1);
        memcpy(ret_offset, o->valuestring, strlen(o->valuestring) + 1);
        return out;
}

static void job_rows(LogsJob *j, const char *body) {
        _cleanup_json_ cJSON *root = cJSON_CreateObject();
        cJSON *rows = cJSON_AddArrayToObject(root, "rows");
        char block[24], offset[24], cursor[64];
        HttpResponse resp = {};
        size_t n_rows = 0;

        /* The cursor of an answer: where the next one starts. Recent rows: the position read up to; follow:
         * the last row's, or the client's own when nothing came. */
        if (j->step == JOB_RECENT)
                (void) snprintf(cursor, sizeof(cursor), "%s.%s", j->upto_block, j->upto_offset);
        else
                (void) snprintf(cursor, sizeof(cursor), "%s.%s", j->after_block, j->after_offset);

        if (!rows) {
                job_fail(j, 500, "out of memory");
                return;
        }
        for (const char *p = body; *p;) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t) (nl - p) : strlen(p);
                cJSON *row;

                if (len > 0) {
                        row = convert_row(p, len, block, offset);
                        if (!row) {
                                job_fail(j, 502, "unexpected answer from ClickHouse");
                                return;
                        }
                        /* The newest rows come newest first: the client gets them oldest first. */
                        if (j->step == JOB_RECENT)
                                cJSON_InsertItemInArray(rows, 0, row);
                        else {
                                cJSON_AddItemToArray(rows, row);
                                (void) snprintf(cursor, sizeof(cursor), "%s.%s", block, offset);
                        }
                        n_rows++;
                }
                p += len + (nl ? 1 : 0);
        }
        cJSON_AddStringToObject(root, "cursor", cursor);
        /* A full page of followed rows: there may be more right away. */
        cJSON_AddBoolToObject(root, "more", j->step == JOB_FOLLOW && n_rows >= j->params.limit);

        resp.body = cJSON_PrintUnformatted(root);
        if (!resp.body) {
                job_fail(j, 500, "out of memory");
                return;
        }
        resp.size = strlen(resp.body);
        resp.status = 200;
        resp.content_type = "application/json";
        job_answer(j, &resp);
}

static int job_start(LogsJob *j);

/* "(334,5)": the largest (_block_number, _block_offset) as ClickHouse prints a tuple. */
static int parse_tuple(const char *s, uint64_t *ret_a, uint64_t *ret_b) {
        char a[24], b[24];
        size_t n;

        if (*s++ != '(')
                return -EBADMSG;
        n = strcspn(s, ",");
        if (n == 0 || n >= sizeof(a) || s[n] != ',')
                return -EBADMSG;
        memcpy(a, s, n);
        a[n] = 0;
        s += n + 1;
        n = strcspn(s, ")");
        if (n == 0 || n >= sizeof(b) || !streq(s + n, ")\n"))
                return -EBADMSG;
        memcpy(b, s, n);
        b[n] = 0;
        if (safe_atou64(a, ret_a) < 0 || safe_atou64(b, ret_b) < 0)
                return -EBADMSG;
        return 0;
}

static void on_query_done(ClickHouseRequest *creq, const ClickHouseReply *reply, void *userdata) {
        LogsJob *j = userdata;
        int r;

        j->request = NULL;
        if (reply->result != CLICKHOUSE_OK) {
                if (reply->exception_code == 516 || reply->http_status == 401 || reply->http_status == 403) {
                        job_fail(
                                j,
                                502,
                                "ClickHouse refused the supervisor's password: %s",
                                strempty(reply->error));
                        return;
                }
                job_fail(j, 502, "ClickHouse: %s", strempty(reply->error));
                return;
        }
        if (j->step != JOB_CURSOR) {
                job_rows(j, reply->body);
                return;
        }

        r = parse_tuple(reply->body, &j->upto_block_n, &j->upto_offset_n);
        if (r < 0) {
                job_fail(j, 502, "unexpected answer from ClickHouse to the cursor query");
                return;
        }
        (void) snprintf(j->upto_block, sizeof(j->upto_block), "%" PRIu64, j->upto_block_n);
        (void) snprintf(j->upto_offset, sizeof(j->upto_offset), "%" PRIu64, j->upto_offset_n);
        j->step = JOB_RECENT;
        r = job_start(j);
        if (r < 0)
                job_fail(j, 500, "cannot ask ClickHouse: %s", strerror(-r));
}

static int job_start(LogsJob *j) {
        LogsService *l = j->service;
        const ClickHouseSetting settings[] = {
                {"param_since", j->since},
                {"param_service", j->service_esc},
                {"param_pod", j->pod_esc},
                {"param_severity", j->severity},
                {"param_match", j->match_esc},
                {"param_limit", j->limit},
                {"param_body_max", j->body_max},
                {"param_window", j->window},
                {"param_after_block", j->after_block},
                {"param_after_offset", j->after_offset},
                {"param_upto_block", j->upto_block},
                {"param_upto_offset", j->upto_offset},
                /* Bounds on ClickHouse's side too: time, and a reply that would not fit is an error there.
                 */
                {"max_execution_time", "4"},
                {"max_result_bytes", "20000000"},
                {"result_overflow_mode", "throw"},
        };
        ClickHouseQuery q = {
                .sql = j->step == JOB_CURSOR   ? l->cursor_sql
                       : j->step == JOB_RECENT ? l->recent_sql
                                               : l->follow_sql,
                .settings = settings,
                .n_settings = ELEMENTSOF(settings),
                .reply_max = LOGS_REPLY_MAX,
        };

        return clickhouse_query(l->client, &q, on_query_done, j, &j->request);
}

int logs_service_handle(LogsService *l, const HttpRequest *req, HttpResponse *resp) {
        LogsJob *j;
        LogsParams p;
        char err[256];
        int64_t since;
        int r;

        r = logs_params_parse(req, &p, err, sizeof(err));
        if (r < 0)
                return http_response_printf(resp, 400, "%s\n", err);
        if (l->n_jobs >= LOGS_JOBS_MAX)
                return http_response_set_text(resp, 503, "too many log queries at once, try again\n");

        j = new0(LogsJob, 1);
        if (!j)
                return -ENOMEM;
        j->service = l;
        j->next = l->jobs;
        if (l->jobs)
                l->jobs->prev = j;
        l->jobs = j;
        l->n_jobs++;

        j->params = p;
        j->step = p.follow ? JOB_FOLLOW : JOB_CURSOR;
        j->service_esc = logs_escape_param(p.service);
        j->pod_esc = logs_escape_param(p.pod);
        j->match_esc = logs_escape_param(p.match);
        if (!j->service_esc || !j->pod_esc || !j->match_esc) {
                job_free(j);
                return -ENOMEM;
        }
        /* Followed rows: those at most LOGS_FOLLOW_WINDOW_SEC old when they arrive, which keeps each poll
         * to the newest parts of the table. */
        since = (int64_t) now_usec(CLOCK_REALTIME) * 1000 -
                (p.follow ? MIN(p.since_nsec, LOGS_FOLLOW_WINDOW_SEC * NSEC_PER_SEC) : p.since_nsec);
        (void) snprintf(j->since, sizeof(j->since), "%" PRIi64, since);
        (void) snprintf(j->severity, sizeof(j->severity), "%u", p.severity);
        (void) snprintf(j->limit, sizeof(j->limit), "%u", p.limit);
        (void) snprintf(j->body_max, sizeof(j->body_max), "%d", LOGS_BODY_MAX);
        (void) snprintf(j->window, sizeof(j->window), "%d", LOGS_FOLLOW_WINDOW_SEC);
        (void) snprintf(j->after_block, sizeof(j->after_block), "%" PRIu64, p.after_block);
        (void) snprintf(j->after_offset, sizeof(j->after_offset), "%" PRIu64, p.after_offset);
        (void) snprintf(j->upto_block, sizeof(j->upto_block), "%" PRIu64, UINT64_MAX);
        (void) snprintf(j->upto_offset, sizeof(j->upto_offset), "%" PRIu64, UINT64_MAX);

        /* Deferred first: whatever job_start() leads to finishes the deferred request, even at once. */
        j->deferred = http_request_defer(req, on_http_cancel, j);
        r = job_start(j);
        if (r < 0)
                job_fail(j, 500, "cannot ask ClickHouse: %s", strerror(-r));
        return 0;
}

int logs_service_new(
        CurlGlue *glue,
        const ClickHouseClientConfig *client,
        const char *database,
        const char *table,
        LogsService **ret) {
        _cleanup_(logs_service_freep) LogsService *l = NULL;
        ClickHouseClientConfig cc = *client;
        int r;

        l = new0(LogsService, 1);
        if (!l)
                return -ENOMEM;
        cc.timeout_usec = LOGS_QUERY_TIMEOUT_USEC;
        r = clickhouse_client_new(glue, &cc, &l->client);
        if (r < 0)
                return r;

        /* database and table are plain identifiers (checked with the configuration). The cursor covers the
         * rows since `since`: a follow shows only rows younger than that (the follow window is shorter). */
        if (asprintf(
                    &l->cursor_sql,
                    "SELECT max((_block_number, _block_offset)) FROM %s.%s WHERE Timestamp >= "
                    "fromUnixTimestamp64Nano({since:Int64}) FORMAT TabSeparated",
                    database,
                    table) < 0 ||
            asprintf(
                    &l->recent_sql,
                    "SELECT " LOGS_COLUMNS " FROM %s.%s WHERE " LOGS_FILTERS
                    "AND (_block_number, _block_offset) <= ({upto_block:UInt64}, {upto_offset:UInt64}) "
                    "ORDER BY Timestamp DESC, _block_number DESC, _block_offset DESC LIMIT {limit:UInt32} "
                    "FORMAT JSONEachRow",
                    database,
                    table) < 0 ||
            asprintf(
                    &l->follow_sql,
                    "SELECT " LOGS_COLUMNS " FROM %s.%s WHERE " LOGS_FILTERS
                    "AND (_block_number, _block_offset) > ({after_block:UInt64}, {after_offset:UInt64}) "
                    "ORDER BY _block_number, _block_offset LIMIT {limit:UInt32} FORMAT JSONEachRow",
                    database,
                    table) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

LogsService *logs_service_free(LogsService *l) {
        if (!l)
                return NULL;
        /* Jobs still here have lost their HTTP side already (the servers are freed first) or are answered
         * now with nothing more to say. */
        while (l->jobs) {
                LogsJob *j = l->jobs;
                if (j->deferred) {
                        HttpResponse resp = {};
                        (void) http_response_set_text(&resp, 503, "shutting down\n");
                        http_deferred_finish(j->deferred, &resp);
                        http_response_done(&resp);
                        j->deferred = NULL;
                }
                job_free(j);
        }
        clickhouse_client_free(l->client);
        free(l->cursor_sql);
        free(l->recent_sql);
        free(l->follow_sql);
        free(l);
        return NULL;
}
