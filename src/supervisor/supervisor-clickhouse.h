/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "clickhouse-client.h"
#include "strbuf.h"

/* ClickHouse health as the supervisor reports it: reachability (/ping), the number of rows in otel_logs, the
 * age of the newest log, and the integrity of each loggen container's `count` sequence. Counts start at 1 in
 * every container instance and rise by one per line: a value missing below a value that arrived more than
 * settle_ms ago is lost (a missing value above that may still be on its way: the shipper may be reading a
 * rotated file behind the current one); rows beyond one per value are duplicated. When a stream has lost or
 * duplicated rows, a further query names the first gaps and duplicated values. One check runs at a time,
 * without blocking the loop. */

#define CLICKHOUSE_STREAM_DETAILS_MAX 3

typedef struct ClickHouseRange {
        uint64_t from, to; /* a gap (lost: from..to) or a duplicated value (from, with `to` copies) */
} ClickHouseRange;

typedef struct ClickHouseStream {
        char *pod;
        char *container;
        uint64_t rows;
        uint64_t distinct;
        uint64_t max_count;
        uint64_t lost;       /* values missing below the highest settled one */
        uint64_t duplicated; /* rows - distinct */
        /* The first gaps and duplicated values, when lost/duplicated (none when that query failed). */
        ClickHouseRange gaps[CLICKHOUSE_STREAM_DETAILS_MAX];
        size_t n_gaps;
        ClickHouseRange copies[CLICKHOUSE_STREAM_DETAILS_MAX];
        size_t n_copies;
} ClickHouseStream;

typedef struct ClickHouseHealth {
        bool checked;     /* at least one check completed */
        bool reachable;   /* /ping answered Ok. */
        char *error;      /* why the last check failed, or NULL */
        bool auth_failed; /* ClickHouse refused the credentials (code 516 or HTTP 401/403) */
        uint64_t rows;
        int64_t newest_nsec; /* Timestamp of the newest row (ns since the epoch), 0 when empty */
        ClickHouseStream *streams;
        size_t n_streams;
        uint64_t lost;
        uint64_t duplicated;
        uint64_t checked_usec; /* CLOCK_REALTIME of the last completed check */
} ClickHouseHealth;

typedef struct ClickHouseChecker ClickHouseChecker;
typedef void (*ClickHouseCheckDone)(ClickHouseChecker *c, const ClickHouseHealth *h, void *userdata);

typedef struct ClickHouseCheckerConfig {
        const char *url;  /* the client's, for messages */
        const char *user; /* the client's, for messages */
        const char *database;
        const char *table;
        const char *integrity_service;
        long settle_ms; /* a value missing below one at least this old is lost */
} ClickHouseCheckerConfig;

/* Asks through `client` (the common ClickHouse client, which must outlive the checker). -EINVAL when
 * database or table is not a plain identifier. */
int clickhouse_checker_new(
        ClickHouseClient *client, const ClickHouseCheckerConfig *config, ClickHouseChecker **ret);
ClickHouseChecker *clickhouse_checker_free(ClickHouseChecker *c);
static inline void clickhouse_checker_freep(ClickHouseChecker **c) {
        if (*c)
                clickhouse_checker_free(*c);
}
/* Starts a check unless one runs; done is called when it completes. */
int clickhouse_checker_run(ClickHouseChecker *c, ClickHouseCheckDone done, void *userdata);
const ClickHouseHealth *clickhouse_checker_health(const ClickHouseChecker *c);
/* CLOCK_MONOTONIC usec when the check under way started, 0 when none runs. */
uint64_t clickhouse_checker_busy_since(const ClickHouseChecker *c);
/* Seconds the check under way has waited for an answer, when that is longer than a healthy ClickHouse takes
 * (two poll intervals, at least 2 s); 0 otherwise. */
double clickhouse_checker_silence(const ClickHouseChecker *c, uint64_t poll_interval_usec);
/* What is wrong, for the status reason, appended to `reasons` ("; " between): ClickHouse unreachable or
 * refusing, no logs yet, logs stopped arriving (newest older than max_log_age, in ns), and per stream the
 * rows lost or duplicated. Appends nothing when all is well. */
void clickhouse_checker_problems(
        const ClickHouseChecker *c, uint64_t poll_interval_usec, int64_t max_log_age, StrBuf *reasons);

void clickhouse_health_done(ClickHouseHealth *h);
/* Parses the TSV answers of the queries into h (exposed for tests). */
int clickhouse_parse_totals(const char *tsv, ClickHouseHealth *h);
int clickhouse_parse_streams(const char *tsv, ClickHouseHealth *h);
int clickhouse_parse_details(const char *tsv, ClickHouseHealth *h);
