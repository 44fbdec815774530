/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clickhouse-client.h"
#include "http-server.h"

/* GET /v1/logs: recent rows of otel_logs for `otelctl logs`, asked of ClickHouse by the supervisor, which
 * holds the credentials (the client never sees them). Every value the client sends is checked here (length,
 * shape, range) and reaches ClickHouse only as a bound query parameter ({name:Type}, escaped as ClickHouse
 * reads parameter values): the SQL text is constant.
 *
 * Without `after`, the answer is the newest `limit` rows since `since`, oldest first, and a cursor: the
 * position (_block_number, _block_offset: the insert that wrote a row and its place in it, which the schema
 * keeps in every row) of the last row inserted when the query ran. With `after=<cursor>`, the rows inserted
 * after it, in insert order, and the next cursor — what `otelctl logs --follow` asks every second: a row
 * shows once, whatever its timestamp, as long as it is at most LOGS_FOLLOW_WINDOW old when it arrives.
 * Answers are bounded: at most LOGS_LIMIT_MAX rows, bodies cut at LOGS_BODY_MAX characters (and marked),
 * at most LOGS_REPLY_MAX bytes from ClickHouse. */

#define LOGS_LIMIT_DEFAULT 100
#define LOGS_LIMIT_MAX 1000
#define LOGS_BODY_MAX 16384
#define LOGS_TEXT_MAX 1024 /* service, pod, match */
#define LOGS_REPLY_MAX (24 * 1024 * 1024)
#define LOGS_FOLLOW_WINDOW_SEC 600
#define LOGS_JOBS_MAX 8

typedef struct LogsService LogsService;

typedef struct LogsParams {
        const char *service; /* "" for any */
        const char *pod;     /* prefix of k8s.pod.name, "" for any */
        const char *match;   /* case-insensitive substring of Body, "" for any */
        unsigned severity;   /* lowest SeverityNumber shown, 0 for any */
        int64_t since_nsec;  /* rows whose Timestamp is at most this old */
        unsigned limit;
        bool follow;
        uint64_t after_block, after_offset; /* with follow: the cursor */
} LogsParams;

/* Reads and checks the request's parameters; on error, *ret_error says which and why (for a 400). */
int logs_params_parse(const HttpRequest *req, LogsParams *ret, char *ret_error, size_t error_size);
/* A severity name (trace, debug, info, warn, error, fatal, as OpenTelemetry numbers them) or a number from 0
 * to 24, as the lowest SeverityNumber shown. */
int logs_parse_severity(const char *s, unsigned *ret);
/* Escapes a parameter value as ClickHouse reads it (backslash, tab, newline, carriage return, NUL). */
char *logs_escape_param(const char *s);

int logs_service_new(
        CurlGlue *glue,
        const ClickHouseClientConfig *client,
        const char *database,
        const char *table,
        LogsService **ret);
LogsService *logs_service_free(LogsService *l);
static inline void logs_service_freep(LogsService **l) {
        if (*l)
                logs_service_free(*l);
}

/* The route's handler body: answers 400/503 at once, or defers the request until ClickHouse answered. */
int logs_service_handle(LogsService *l, const HttpRequest *req, HttpResponse *resp);
