/* SPDX-License-Identifier: MIT */
#pragma once

/* The one ClickHouse HTTP client of every program: INSERTs whose body the caller hands over (whole, or
 * produced while it is sent), queries whose reply the caller reads, and /ping. Requests run on the caller's
 * sd-event loop through CurlGlue and complete by callback; nothing blocks.
 *
 * What each request gets:
 *   - auth headers X-ClickHouse-User / X-ClickHouse-Key (none when empty),
 *   - for INSERTs, the query `INSERT INTO `db`.`table` FORMAT <format>` in the URL, the caller's settings
 *     (insert_deduplication_token and any other URL parameter), and the body compressed as asked
 *     (Content-Encoding gzip/zstd) or sent as it is,
 *   - a reply classified as OK (2xx), MALFORMED (ClickHouse refused the data itself: parse errors, type
 *     mismatches, constraint violations — resending it cannot help) or RETRY (everything else: connection
 *     errors, timeouts, 5xx, a missing table, a wrong password — the data is kept and sent again later),
 *     with the HTTP status, X-ClickHouse-Exception-Code, Retry-After and the first bytes of the reply body.
 * Retries stay with the caller (it knows what it may resend and when): clickhouse_client_retry_delay()
 * gives the wait, exponential with jitter from getrandom() and never shorter than the server's Retry-After.
 *
 * Ownership: the client owns its requests. The caller may keep the request pointer to cancel it; it must
 * drop it when done() runs, after which the request is freed. Data handed to a request (body, producer
 * state) must stay valid until done() ran or the request was cancelled. Freeing the client cancels what is
 * still in flight (no done() calls); it must not be called from inside a done(). */

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "compress.h"
#include "curl-glue.h"

typedef struct ClickHouseClient ClickHouseClient;
typedef struct ClickHouseRequest ClickHouseRequest;

typedef enum ClickHouseResult {
        CLICKHOUSE_OK,
        CLICKHOUSE_RETRY,
        CLICKHOUSE_MALFORMED,
        _CLICKHOUSE_RESULT_MAX,
        _CLICKHOUSE_RESULT_INVALID = -EINVAL,
} ClickHouseResult;

typedef struct ClickHouseClientConfig {
        const char *url;      /* http://host:port, a trailing '/' is ignored */
        const char *user;     /* X-ClickHouse-User; NULL or "": not sent */
        const char *password; /* X-ClickHouse-Key; NULL or "": not sent */
        const char
                *database; /* qualifies INSERT tables, `database` parameter of queries; NULL: the server's */
        uint64_t timeout_usec;         /* limit on one request; 0: 30 s */
        uint64_t connect_timeout_usec; /* 0: 5 s */
        uint64_t retry_initial_usec;   /* first retry delay (doubles per attempt); 0: 250 ms */
        uint64_t retry_max_usec;       /* longest retry delay; 0: 30 s */
} ClickHouseClientConfig;

/* A URL parameter: a setting (max_threads=1, insert_deduplication_token=…) or query parameter. The value
 * is URL-escaped by the client; the name must be [A-Za-z0-9_]. */
typedef struct ClickHouseSetting {
        const char *name;
        const char *value;
} ClickHouseSetting;

/* What done() learns. Pointers are valid during the call only. */
typedef struct ClickHouseReply {
        ClickHouseResult result;
        CURLcode curl_code;        /* CURLE_OK when an HTTP answer came */
        long http_status;          /* 0 without an answer */
        long exception_code;       /* X-ClickHouse-Exception-Code, 0 when absent */
        uint64_t retry_after_usec; /* Retry-After (seconds or HTTP date, at most an hour), 0 when absent */
        const char *body;          /* the reply body as far as kept (NUL-terminated, never NULL) */
        size_t body_size;
        bool body_truncated; /* an INSERT's reply was longer than reply_max: the rest was dropped */
        uint64_t sent_bytes; /* request body bytes on the wire (compressed) */
        const char *error;   /* one line when result is not OK: curl's error, or "HTTP 500, code 27: …"
                              * with the start of ClickHouse's message; NULL when OK */
} ClickHouseReply;

typedef void (*ClickHouseDone)(ClickHouseRequest *req, const ClickHouseReply *reply, void *userdata);

/* A body producer writes the next bytes of the (uncompressed) body into buf, at most size, and returns how
 * many, 0 once the body is complete, or a negative errno to abort the request (done() then gets RETRY). It
 * is called on the loop while curl sends; it must not block. The client compresses what it produces as
 * the insert asks and sends it with chunked transfer encoding. */
typedef ssize_t (*ClickHouseBodyProducer)(void *buf, size_t size, void *userdata);

typedef struct ClickHouseInsert {
        const char *table;        /* no '`' */
        const char *format;       /* FORMAT name: JSONEachRow, Native, …; [A-Za-z0-9_] */
        const char *content_type; /* NULL: application/octet-stream */
        const ClickHouseSetting
                *settings; /* URL parameters before `query` (e.g. insert_deduplication_token) */
        size_t n_settings;
        Compression compression; /* Content-Encoding of the body */
        int compression_level;   /* as compressor_new() takes it */
        bool precompressed;      /* data is already compressed with `compression` (a spooled body) */
        /* The body: either all of it… */
        const void *data;
        size_t size;
        /* …or a producer (then data must be NULL). */
        ClickHouseBodyProducer produce;
        void *produce_userdata;
        size_t reply_max; /* reply bytes kept for done() (the rest is dropped); 0: 4096 */
} ClickHouseInsert;

typedef struct ClickHouseQuery {
        const char *sql; /* sent as the POST body; end it with FORMAT … to choose the reply's format */
        const ClickHouseSetting *settings;
        size_t n_settings;
        size_t reply_max; /* a longer reply fails the request (RETRY, "reply larger than …"); 0: 4 MiB */
} ClickHouseQuery;

int clickhouse_client_new(CurlGlue *glue, const ClickHouseClientConfig *config, ClickHouseClient **ret);
/* Requests started from now on send this password (NULL or "": none). -EINVAL for control characters. */
int clickhouse_client_set_password(ClickHouseClient *c, const char *password);
ClickHouseClient *clickhouse_client_free(ClickHouseClient *c);
static inline void clickhouse_client_freep(ClickHouseClient **c) {
        if (*c)
                clickhouse_client_free(*c);
}

/* Starts a request. On success *ret (may be NULL) is the request until done() runs. Returns 0 or a
 * negative errno (-EINVAL for a bad table/format/setting name, -ENOMEM, -EIO when curl refused), in which
 * case done() is never called. */
int clickhouse_insert(
        ClickHouseClient *c,
        const ClickHouseInsert *insert,
        ClickHouseDone done,
        void *userdata,
        ClickHouseRequest **ret);
int clickhouse_query(
        ClickHouseClient *c,
        const ClickHouseQuery *query,
        ClickHouseDone done,
        void *userdata,
        ClickHouseRequest **ret);
/* GET /ping: OK when ClickHouse answers 200 (its body is "Ok.\n"). */
int clickhouse_ping(ClickHouseClient *c, ClickHouseDone done, void *userdata, ClickHouseRequest **ret);

/* Aborts a request whose done() has not run (done() is then never called). NULL is fine; returns NULL. */
ClickHouseRequest *clickhouse_request_cancel(ClickHouseRequest *r);

/* Requests started and not yet completed or cancelled. */
unsigned clickhouse_client_active(const ClickHouseClient *c);

/* The wait before the next attempt after `attempt` failed ones (0 for the first retry): the client's
 * backoff with getrandom() jitter, and at least retry_after_usec. */
uint64_t clickhouse_client_retry_delay(
        const ClickHouseClient *c, unsigned attempt, uint64_t retry_after_usec);

/* The pieces, exposed for tests. */
/* The classification of an outcome (curl_code 0 is CURLE_OK). */
ClickHouseResult clickhouse_classify(long curl_code, long http_status, long exception_code);
/* Retry-After as seconds or an HTTP date (relative to now_realtime_usec); 0 when absent or invalid; at
 * most an hour. */
uint64_t clickhouse_parse_retry_after(const char *value, uint64_t now_realtime_usec);
/* initial * 2^attempt capped at max (= d), then spread over [d/2, d) by rnd: many clients retrying after
 * one outage do not come back in step. */
uint64_t clickhouse_backoff_usec(uint64_t initial, uint64_t max, unsigned attempt, uint64_t rnd);
