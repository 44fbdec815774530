/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "clickhouse-client.h"
#include "curl-glue.h"
#include "duration.h"
#include "http-server.h"
#include "macro.h"
#include "util.h"

/* The client against a real HTTP peer on the same sd-event loop (libmicrohttpd through HttpServer): what
 * goes over the wire (URL, headers, the body after decompression, chunked uploads) and how answers are
 * classified. The client against the real engine is test-clickhouse-client-endpoint.c. */

typedef struct Peer {
        /* The answer to give. */
        unsigned status;
        const char *exception_code;
        const char *retry_after;
        const char *reply;
        /* What came. */
        unsigned calls;
        char *method, *path, *query, *token, *max_threads, *database, *user, *key, *encoding, *content_type,
                *transfer_encoding, *body;
        size_t body_size;
} Peer;

static void peer_clear(Peer *p) {
        char **fields[] = {
                &p->method,
                &p->path,
                &p->query,
                &p->token,
                &p->max_threads,
                &p->database,
                &p->user,
                &p->key,
                &p->encoding,
                &p->content_type,
                &p->transfer_encoding,
                &p->body,
        };
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                free(*fields[i]);
                *fields[i] = NULL;
        }
}

typedef struct Outcome {
        bool done;
        ClickHouseReply reply;       /* its pointers are not valid after done(): see body and error */
        char body[8192], error[700]; /* error: "" when none */
} Outcome;

static sd_event *event;
static CurlGlue *glue;
static HttpServer *http;
static ClickHouseClient *client;
static Peer peer;
static char url[64];

static char *dup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

static int handle(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        const char *b;
        size_t n;

        peer.calls++;
        peer_clear(&peer);
        peer.method = dup_or_null(http_request_method(req));
        peer.path = dup_or_null(http_request_path(req));
        peer.query = dup_or_null(http_request_query(req, "query"));
        peer.token = dup_or_null(http_request_query(req, "insert_deduplication_token"));
        peer.max_threads = dup_or_null(http_request_query(req, "max_threads"));
        peer.database = dup_or_null(http_request_query(req, "database"));
        peer.user = dup_or_null(http_request_header(req, "X-ClickHouse-User"));
        peer.key = dup_or_null(http_request_header(req, "X-ClickHouse-Key"));
        peer.encoding = dup_or_null(http_request_header(req, "Content-Encoding"));
        peer.content_type = dup_or_null(http_request_header(req, "Content-Type"));
        peer.transfer_encoding = dup_or_null(http_request_header(req, "Transfer-Encoding"));
        b = http_request_body(req, &n);
        peer.body = malloc(n + 1);
        memcpy(peer.body, b ?: "", n);
        peer.body[n] = 0;
        peer.body_size = n;
        if (peer.exception_code)
                (void) http_response_add_header(resp, "X-ClickHouse-Exception-Code", peer.exception_code);
        if (peer.retry_after)
                (void) http_response_add_header(resp, "Retry-After", peer.retry_after);
        return http_response_set_text(resp, peer.status ?: 200, peer.reply ?: "");
}

static const HttpRoute routes[] = {
        {"/", HTTP_POST | HTTP_GET, handle},
        {"/ping", HTTP_GET, handle},
};

static void setup_with(const ClickHouseClientConfig *over) {
        HttpServerConfig hc = {
                .routes = routes,
                .n_routes = ELEMENTSOF(routes),
                .max_body = 64 * 1024 * 1024,
        };
        ClickHouseClientConfig cc = {
                .user = "otel_ingest",
                .password = "pw",
                .database = "otel",
        };

        if (over)
                cc = *over;
        cr_assert_eq(sd_event_new(&event), 0);
        cr_assert_eq(curl_glue_new(event, &glue), 0);
        cr_assert_eq(http_server_new_tcp(event, "127.0.0.1", 0, &hc, &http), 0);
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/", http_server_port(http));
        if (!cc.url)
                cc.url = url;
        cr_assert_eq(clickhouse_client_new(glue, &cc, &client), 0);
}

static void setup(void) {
        setup_with(NULL);
}

static void teardown(void) {
        clickhouse_client_free(client);
        http_server_free(http);
        curl_glue_free(glue);
        sd_event_unref(event);
        peer_clear(&peer);
}

static void on_done(ClickHouseRequest *req, const ClickHouseReply *reply, void *userdata) {
        Outcome *o = userdata;
        o->done = true;
        o->reply = *reply;
        snprintf(o->body, sizeof(o->body), "%s", reply->body);
        snprintf(o->error, sizeof(o->error), "%s", strempty(reply->error));
}

static void run_until_done(Outcome *o) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + 20 * USEC_PER_SEC;
        while (!o->done) {
                cr_assert_lt(now_usec(CLOCK_MONOTONIC), deadline, "no completion within 20 s");
                cr_assert_geq(sd_event_run(event, 100000), 0);
        }
}

/* Decodes a gzip or zstd body (zstd frames of streamed bodies carry no content size). */
static char *decode(const char *encoding, const char *data, size_t size, size_t *ret_size) {
        size_t cap = 1 << 20, len = 0;
        char *out = malloc(cap);

        if (!encoding) {
                out = realloc(out, size + 1);
                memcpy(out, data, size);
                *ret_size = size;
                return out;
        }
        if (streq(encoding, "gzip")) {
                z_stream z = {};
                int k;
                cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK);
                z.next_in = (Bytef *) data;
                z.avail_in = (uInt) size;
                do {
                        if (len == cap)
                                out = realloc(out, cap *= 2);
                        z.next_out = (Bytef *) out + len;
                        z.avail_out = (uInt) (cap - len);
                        k = inflate(&z, Z_NO_FLUSH);
                        len = cap - z.avail_out;
                        cr_assert(k == Z_OK || k == Z_STREAM_END, "inflate: %d", k);
                } while (k != Z_STREAM_END);
                cr_assert_eq(z.avail_in, 0, "bytes after the gzip stream");
                inflateEnd(&z);
        } else {
                ZSTD_DStream *d = ZSTD_createDStream();
                ZSTD_inBuffer in = {.src = data, .size = size};
                size_t k = 1;
                while (in.pos < in.size || k != 0) {
                        ZSTD_outBuffer ob;
                        if (len == cap)
                                out = realloc(out, cap *= 2);
                        ob = (ZSTD_outBuffer){.dst = out + len, .size = cap - len};
                        k = ZSTD_decompressStream(d, &ob, &in);
                        cr_assert(!ZSTD_isError(k), "zstd: %s", ZSTD_getErrorName(k));
                        len += ob.pos;
                        if (k != 0 && in.pos == in.size && ob.pos < ob.size)
                                cr_assert_fail("truncated zstd frame");
                }
                ZSTD_freeDStream(d);
        }
        *ret_size = len;
        return out;
}

/* --- INSERTs ------------------------------------------------------------------------------------------- */

static const char rows[] = "{\"a\":1,\"s\":\"x\"}\n{\"a\":2,\"s\":\"y\"}\n";

static void insert_whole(Compression comp) {
        const ClickHouseSetting settings[] = {
                {"insert_deduplication_token", "f01-9-0-31"},
                {"max_threads", "1 & 2"},
        };
        ClickHouseInsert ins = {
                .table = "otel_logs",
                .format = "JSONEachRow",
                .content_type = "application/x-ndjson",
                .settings = settings,
                .n_settings = ELEMENTSOF(settings),
                .compression = comp,
                .compression_level = 3,
                .data = rows,
                .size = sizeof(rows) - 1,
        };
        Outcome o = {};
        char *plain;
        size_t n;

        cr_assert_eq(clickhouse_insert(client, &ins, on_done, &o, NULL), 0);
        cr_assert_eq(clickhouse_client_active(client), 1);
        run_until_done(&o);
        cr_assert_eq(clickhouse_client_active(client), 0);
        cr_assert_eq(o.reply.result, CLICKHOUSE_OK, "%s", o.error);
        cr_assert_str_empty(o.error);
        cr_assert_eq(o.reply.http_status, 200);
        cr_assert_str_eq(peer.method, "POST");
        cr_assert_str_eq(peer.path, "/");
        cr_assert_str_eq(peer.query, "INSERT INTO `otel`.`otel_logs` FORMAT JSONEachRow");
        cr_assert_str_eq(peer.token, "f01-9-0-31");
        cr_assert_str_eq(peer.max_threads, "1 & 2", "values are URL-escaped");
        cr_assert_null(peer.database, "INSERTs name their database in the query");
        cr_assert_str_eq(peer.user, "otel_ingest");
        cr_assert_str_eq(peer.key, "pw");
        cr_assert_str_eq(peer.content_type, "application/x-ndjson");
        if (comp == COMPRESSION_NONE)
                cr_assert_null(peer.encoding);
        else
                cr_assert_str_eq(peer.encoding, compression_to_string(comp));
        cr_assert_eq(o.reply.sent_bytes, peer.body_size, "sent_bytes counts the bytes on the wire");
        plain = decode(peer.encoding, peer.body, peer.body_size, &n);
        cr_assert_eq(n, sizeof(rows) - 1);
        cr_assert_eq(memcmp(plain, rows, n), 0);
        free(plain);
}

Test(insert, whole_none, .init = setup, .fini = teardown) {
        insert_whole(COMPRESSION_NONE);
}
Test(insert, whole_gzip, .init = setup, .fini = teardown) {
        insert_whole(COMPRESSION_GZIP);
}
Test(insert, whole_zstd, .init = setup, .fini = teardown) {
        insert_whole(COMPRESSION_ZSTD);
}

Test(insert, precompressed_is_sent_as_it_is, .init = setup, .fini = teardown) {
        size_t bound = ZSTD_compressBound(sizeof(rows) - 1);
        char *z = malloc(bound);
        size_t zn = ZSTD_compress(z, bound, rows, sizeof(rows) - 1, 1);
        ClickHouseInsert ins = {
                .table = "metrics_raw",
                .format = "JSONEachRow",
                .compression = COMPRESSION_ZSTD,
                .precompressed = true,
                .data = z,
                .size = zn,
        };
        Outcome o = {};
        char *plain;
        size_t n;

        cr_assert_eq(clickhouse_insert(client, &ins, on_done, &o, NULL), 0);
        run_until_done(&o);
        cr_assert_eq(o.reply.result, CLICKHOUSE_OK);
        cr_assert_eq(peer.body_size, zn);
        cr_assert_eq(memcmp(peer.body, z, zn), 0);
        cr_assert_str_eq(peer.content_type, "application/octet-stream");
        plain = decode(peer.encoding, peer.body, peer.body_size, &n);
        cr_assert_eq(n, sizeof(rows) - 1);
        free(plain);
        free(z);
}

/* A producer of n rows "{"i":k}\n", in pieces of odd sizes. */
typedef struct Producer {
        unsigned next, n;
        char pending[64];
        size_t pending_len, pending_pos;
        int fail_after; /* calls; 0: never */
        int calls;
} Producer;

static ssize_t produce(void *buf, size_t size, void *userdata) {
        Producer *p = userdata;
        size_t w = 0;

        if (p->fail_after && ++p->calls > p->fail_after)
                return -EPROTO;
        size = MIN(size, (size_t) 7777); /* never what curl offers: pieces cross row boundaries */
        while (w < size) {
                if (p->pending_pos == p->pending_len) {
                        if (p->next == p->n)
                                break;
                        p->pending_len =
                                (size_t) snprintf(p->pending, sizeof(p->pending), "{\"i\":%u}\n", p->next++);
                        p->pending_pos = 0;
                }
                size_t k = MIN(size - w, p->pending_len - p->pending_pos);
                memcpy((char *) buf + w, p->pending + p->pending_pos, k);
                p->pending_pos += k;
                w += k;
        }
        return (ssize_t) w;
}

static void insert_streamed(Compression comp) {
        Producer p = {.n = 100000};
        ClickHouseInsert ins = {
                .table = "t",
                .format = "JSONEachRow",
                .compression = comp,
                .compression_level = 1,
                .produce = produce,
                .produce_userdata = &p,
        };
        Outcome o = {};
        char *plain, line[64];
        size_t n, at = 0;

        cr_assert_eq(clickhouse_insert(client, &ins, on_done, &o, NULL), 0);
        run_until_done(&o);
        cr_assert_eq(o.reply.result, CLICKHOUSE_OK, "%s", o.error);
        cr_assert_str_eq(peer.transfer_encoding, "chunked");
        cr_assert_eq(o.reply.sent_bytes, peer.body_size);
        plain = decode(peer.encoding, peer.body, peer.body_size, &n);
        for (unsigned i = 0; i < p.n; i++) {
                size_t l = (size_t) snprintf(line, sizeof(line), "{\"i\":%u}\n", i);
                cr_assert_leq(at + l, n, "row %u missing", i);
                cr_assert_eq(memcmp(plain + at, line, l), 0, "row %u differs", i);
                at += l;
        }
        cr_assert_eq(at, n, "bytes after the last row");
        if (comp != COMPRESSION_NONE)
                cr_assert_lt(peer.body_size, n / 2, "the stream was compressed");
        free(plain);
}

Test(insert, streamed_none, .init = setup, .fini = teardown) {
        insert_streamed(COMPRESSION_NONE);
}
Test(insert, streamed_gzip, .init = setup, .fini = teardown) {
        insert_streamed(COMPRESSION_GZIP);
}
Test(insert, streamed_zstd, .init = setup, .fini = teardown) {
        insert_streamed(COMPRESSION_ZSTD);
}

Test(insert, producer_error_fails_the_request, .init = setup, .fini = teardown) {
        Producer p = {.n = 1000000, .fail_after = 3};
        ClickHouseInsert ins = {
                .table = "t",
                .format = "Native",
                .compression = COMPRESSION_ZSTD,
                .produce = produce,
                .produce_userdata = &p,
        };
        Outcome o = {};

        cr_assert_eq(clickhouse_insert(client, &ins, on_done, &o, NULL), 0);
        run_until_done(&o);
        cr_assert_eq(o.reply.result, CLICKHOUSE_RETRY);
        cr_assert_not_null(strstr(o.error, "request body"), "%s", o.error);
        cr_assert_eq(peer.calls, 0, "the peer never got a complete request");
}

Test(insert, bad_arguments, .init = setup, .fini = teardown) {
        const ClickHouseSetting bad_setting[] = {{"max threads", "1"}};
        ClickHouseInsert ok = {.table = "t", .format = "JSONEachRow", .data = "x", .size = 1};
        ClickHouseInsert ins;
        Outcome o = {};

        ins = ok;
        ins.table = "t`; DROP TABLE x; `";
        cr_assert_eq(clickhouse_insert(client, &ins, on_done, &o, NULL), -EINVAL);
        ins = ok;
        ins.format = "JSONEachRow SETTINGS x=1";
        cr_assert_eq(clickhouse_insert(client, &ins, on_done, &o, NULL), -EINVAL);
        ins = ok;
        ins.settings = bad_setting;
        ins.n_settings = 1;
        cr_assert_eq(clickhouse_insert(client, &ins, on_done, &o, NULL), -EINVAL);
        ins = ok;
        ins.data = NULL;
        cr_assert_eq(clickhouse_insert(client, &ins, on_done, &o, NULL), -EINVAL);
        cr_assert_eq(clickhouse_client_active(client), 0);
        cr_assert_eq(peer.calls, 0);
}

/* --- answers ------------------------------------------------------------------------------------------- */

static Outcome insert_answered(
        unsigned status, const char *code, const char *retry_after, const char *reply) {
        ClickHouseInsert ins = {
                .table = "t", .format = "JSONEachRow", .data = rows, .size = sizeof(rows) - 1};
        Outcome o = {};

        peer.status = status;
        peer.exception_code = code;
        peer.retry_after = retry_after;
        peer.reply = reply;
        cr_assert_eq(clickhouse_insert(client, &ins, on_done, &o, NULL), 0);
        run_until_done(&o);
        return o;
}

Test(answer, malformed_data, .init = setup, .fini = teardown) {
        Outcome o = insert_answered(
                500, "27", NULL, "Code: 27. DB::Exception: Cannot parse input: expected '{' before: 'x'\n");
        cr_assert_eq(o.reply.result, CLICKHOUSE_MALFORMED);
        cr_assert_eq(o.reply.http_status, 500);
        cr_assert_eq(o.reply.exception_code, 27);
        cr_assert_str_eq(
                o.error,
                "HTTP 500, code 27: Code: 27. DB::Exception: Cannot parse input: expected '{' before: 'x'");
}

Test(answer, overload_with_retry_after, .init = setup, .fini = teardown) {
        Outcome o = insert_answered(503, NULL, "7", "busy\n");
        cr_assert_eq(o.reply.result, CLICKHOUSE_RETRY);
        cr_assert_eq(o.reply.retry_after_usec, 7 * USEC_PER_SEC);
        cr_assert_geq(clickhouse_client_retry_delay(client, 0, o.reply.retry_after_usec), 7 * USEC_PER_SEC);
}

Test(answer, missing_table_is_retried, .init = setup, .fini = teardown) {
        Outcome o =
                insert_answered(404, "60", NULL, "Code: 60. DB::Exception: Table otel.t does not exist.");
        cr_assert_eq(o.reply.result, CLICKHOUSE_RETRY);
        cr_assert_eq(o.reply.exception_code, 60);
}

Test(answer, long_insert_reply_is_cut, .init = setup, .fini = teardown) {
        static char big[20000];
        memset(big, 'e', sizeof(big) - 1);
        Outcome o = insert_answered(500, "1000", NULL, big);
        cr_assert_eq(o.reply.result, CLICKHOUSE_RETRY);
        cr_assert(o.reply.body_truncated);
        cr_assert_eq(o.reply.body_size, 4096);
        cr_assert_lt(strlen(o.error), 500, "the error line stays short");
}

Test(answer, connection_refused, .init = setup, .fini = teardown) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t l = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        ClickHouseClient *c;
        char u[64];
        Outcome o = {};
        ClickHouseInsert ins = {
                .table = "t", .format = "JSONEachRow", .data = rows, .size = sizeof(rows) - 1};

        /* A port just released: nobody listens there. */
        cr_assert_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        cr_assert_eq(getsockname(fd, (struct sockaddr *) &sa, &l), 0);
        close(fd);
        snprintf(u, sizeof(u), "http://127.0.0.1:%u", ntohs(sa.sin_port));
        cr_assert_eq(clickhouse_client_new(glue, &(ClickHouseClientConfig){.url = u}, &c), 0);
        cr_assert_eq(clickhouse_insert(c, &ins, on_done, &o, NULL), 0);
        run_until_done(&o);
        cr_assert_eq(o.reply.result, CLICKHOUSE_RETRY);
        cr_assert_eq(o.reply.curl_code, CURLE_COULDNT_CONNECT);
        cr_assert_eq(o.reply.http_status, 0);
        cr_assert_str_not_empty(o.error);
        clickhouse_client_free(c);
}

/* A peer that accepts connections (the kernel does) but never answers. */
static int silent_listener(char *u, size_t size) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t l = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        cr_assert_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        cr_assert_eq(listen(fd, 8), 0);
        cr_assert_eq(getsockname(fd, (struct sockaddr *) &sa, &l), 0);
        snprintf(u, size, "http://127.0.0.1:%u", ntohs(sa.sin_port));
        return fd;
}

Test(answer, timeout, .init = setup, .fini = teardown) {
        char u[64];
        int fd = silent_listener(u, sizeof(u));
        ClickHouseClient *c;
        Outcome o = {};
        ClickHouseInsert ins = {
                .table = "t", .format = "JSONEachRow", .data = rows, .size = sizeof(rows) - 1};

        cr_assert_eq(
                clickhouse_client_new(glue, &(ClickHouseClientConfig){.url = u, .timeout_usec = 300000}, &c),
                0);
        cr_assert_eq(clickhouse_insert(c, &ins, on_done, &o, NULL), 0);
        run_until_done(&o);
        cr_assert_eq(o.reply.result, CLICKHOUSE_RETRY);
        cr_assert_eq(o.reply.curl_code, CURLE_OPERATION_TIMEDOUT);
        clickhouse_client_free(c);
        close(fd);
}

Test(answer, cancel_and_free_in_flight, .init = setup, .fini = teardown) {
        char u[64];
        int fd = silent_listener(u, sizeof(u));
        ClickHouseClient *c;
        ClickHouseRequest *r1, *r2;
        Outcome o1 = {}, o2 = {};
        ClickHouseInsert ins = {
                .table = "t", .format = "JSONEachRow", .data = rows, .size = sizeof(rows) - 1};

        cr_assert_eq(clickhouse_client_new(glue, &(ClickHouseClientConfig){.url = u}, &c), 0);
        cr_assert_eq(clickhouse_insert(c, &ins, on_done, &o1, &r1), 0);
        cr_assert_eq(clickhouse_insert(c, &ins, on_done, &o2, &r2), 0);
        for (int i = 0; i < 20; i++)
                cr_assert_geq(sd_event_run(event, 10000), 0);
        cr_assert_eq(clickhouse_client_active(c), 2);
        cr_assert_null(clickhouse_request_cancel(r1));
        cr_assert_eq(clickhouse_client_active(c), 1);
        clickhouse_client_free(c); /* cancels r2 */
        for (int i = 0; i < 20; i++)
                cr_assert_geq(sd_event_run(event, 10000), 0);
        cr_assert_not(o1.done);
        cr_assert_not(o2.done);
        cr_assert_eq(curl_glue_active(glue), 0);
        close(fd);
}

/* --- queries and /ping -----------------------------------------------------------------------------------
 */

Test(query, reply_is_read, .init = setup, .fini = teardown) {
        const ClickHouseSetting settings[] = {{"max_threads", "2"}};
        ClickHouseQuery q = {
                .sql = "SELECT count(), max(Timestamp) FROM otel.otel_logs FORMAT TabSeparated",
                .settings = settings,
                .n_settings = 1,
        };
        Outcome o = {};

        peer.reply = "42\t1700000000000000000\n";
        cr_assert_eq(clickhouse_query(client, &q, on_done, &o, NULL), 0);
        run_until_done(&o);
        cr_assert_eq(o.reply.result, CLICKHOUSE_OK);
        cr_assert_str_eq(o.body, "42\t1700000000000000000\n");
        cr_assert_str_eq(peer.body, q.sql);
        cr_assert_str_eq(peer.database, "otel");
        cr_assert_str_eq(peer.max_threads, "2");
        cr_assert_null(peer.query, "the SQL is the body, not a URL parameter");
        cr_assert_str_eq(peer.user, "otel_ingest");
}

Test(query, reply_over_the_limit_fails, .init = setup, .fini = teardown) {
        static char big[10000];
        ClickHouseQuery q = {.sql = "SELECT 1", .reply_max = 1000};
        Outcome o = {};

        memset(big, '1', sizeof(big) - 1);
        peer.reply = big;
        cr_assert_eq(clickhouse_query(client, &q, on_done, &o, NULL), 0);
        run_until_done(&o);
        cr_assert_eq(o.reply.result, CLICKHOUSE_RETRY);
        cr_assert_str_eq(o.error, "reply larger than 1000 bytes");
}

Test(query, no_credentials_no_headers) {
        ClickHouseClientConfig cc = {};
        Outcome o = {};

        setup_with(&cc);
        cr_assert_eq(clickhouse_query(client, &(ClickHouseQuery){.sql = "SELECT 1"}, on_done, &o, NULL), 0);
        run_until_done(&o);
        cr_assert_eq(o.reply.result, CLICKHOUSE_OK);
        cr_assert_null(peer.user);
        cr_assert_null(peer.key);
        cr_assert_null(peer.database);
        teardown();
}

Test(query, password_changed_for_the_next_requests, .init = setup, .fini = teardown) {
        Outcome o1 = {}, o2 = {}, o3 = {};

        cr_assert_eq(clickhouse_client_set_password(client, "new-password"), 0);
        cr_assert_eq(clickhouse_query(client, &(ClickHouseQuery){.sql = "SELECT 1"}, on_done, &o1, NULL), 0);
        run_until_done(&o1);
        cr_assert_str_eq(peer.key, "new-password");
        cr_assert_eq(clickhouse_client_set_password(client, "pw\r\nX-Evil: 1"), -EINVAL);
        cr_assert_eq(clickhouse_query(client, &(ClickHouseQuery){.sql = "SELECT 1"}, on_done, &o2, NULL), 0);
        run_until_done(&o2);
        cr_assert_str_eq(peer.key, "new-password", "a refused value leaves the password as it was");
        cr_assert_eq(clickhouse_client_set_password(client, ""), 0);
        cr_assert_eq(clickhouse_query(client, &(ClickHouseQuery){.sql = "SELECT 1"}, on_done, &o3, NULL), 0);
        run_until_done(&o3);
        cr_assert_null(peer.key, "no password: no header");
}

Test(query, ping, .init = setup, .fini = teardown) {
        Outcome o = {};

        peer.reply = "Ok.\n";
        cr_assert_eq(clickhouse_ping(client, on_done, &o, NULL), 0);
        run_until_done(&o);
        cr_assert_eq(o.reply.result, CLICKHOUSE_OK);
        cr_assert_str_eq(o.body, "Ok.\n");
        cr_assert_str_eq(peer.method, "GET");
        cr_assert_str_eq(peer.path, "/ping");
}

Test(client, header_injection_refused) {
        ClickHouseClient *c = NULL;
        sd_event *e;
        CurlGlue *g;

        cr_assert_eq(sd_event_new(&e), 0);
        cr_assert_eq(curl_glue_new(e, &g), 0);
        cr_assert_eq(
                clickhouse_client_new(
                        g, &(ClickHouseClientConfig){.url = "http://x", .password = "pw\r\nX-Evil: 1"}, &c),
                -EINVAL);
        cr_assert_eq(
                clickhouse_client_new(
                        g, &(ClickHouseClientConfig){.url = "http://x", .database = "a`b"}, &c),
                -EINVAL);
        cr_assert_eq(clickhouse_client_new(g, &(ClickHouseClientConfig){.url = ""}, &c), -EINVAL);
        cr_assert_null(c);
        curl_glue_free(g);
        sd_event_unref(e);
}

/* --- classification and retry arithmetic ------------------------------------------------------------------
 */

Test(classify, outcomes) {
        cr_assert_eq(clickhouse_classify(CURLE_COULDNT_CONNECT, 0, 0), CLICKHOUSE_RETRY);
        cr_assert_eq(clickhouse_classify(CURLE_OPERATION_TIMEDOUT, 0, 0), CLICKHOUSE_RETRY);
        cr_assert_eq(clickhouse_classify(0, 200, 0), CLICKHOUSE_OK);
        cr_assert_eq(clickhouse_classify(0, 204, 0), CLICKHOUSE_OK);
        cr_assert_eq(clickhouse_classify(0, 400, 25), CLICKHOUSE_MALFORMED);
        cr_assert_eq(clickhouse_classify(0, 500, 27), CLICKHOUSE_MALFORMED);
        cr_assert_eq(clickhouse_classify(0, 500, 469), CLICKHOUSE_MALFORMED);
        cr_assert_eq(
                clickhouse_classify(0, 404, 60), CLICKHOUSE_RETRY, "a missing table may be created later");
        cr_assert_eq(
                clickhouse_classify(0, 403, 516), CLICKHOUSE_RETRY, "wrong password: keep the data, retry");
        cr_assert_eq(clickhouse_classify(0, 503, 0), CLICKHOUSE_RETRY);
        cr_assert_eq(clickhouse_classify(0, 429, 0), CLICKHOUSE_RETRY);
        cr_assert_eq(
                clickhouse_classify(0, 500, 241), CLICKHOUSE_RETRY, "memory limit: not the data's fault");
}

Test(classify, retry_after) {
        cr_assert_eq(clickhouse_parse_retry_after(" 5", 0), 5000000);
        cr_assert_eq(clickhouse_parse_retry_after("x", 0), 0);
        cr_assert_eq(clickhouse_parse_retry_after("-3", 0), 0);
        cr_assert_eq(clickhouse_parse_retry_after("99999", 0), UINT64_C(3600000000), "capped at an hour");
        /* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
        cr_assert_eq(
                clickhouse_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", UINT64_C(784111770000000)),
                7000000);
        cr_assert_eq(
                clickhouse_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", UINT64_C(784111790000000)),
                0,
                "a date in the past means now");
}

Test(classify, backoff) {
        for (unsigned a = 0; a < 20; a++)
                for (uint64_t rnd = 0; rnd < 1000; rnd += 97) {
                        uint64_t d = clickhouse_backoff_usec(250000, 30000000, a, rnd * 7919);
                        uint64_t full = 250000;
                        for (unsigned i = 0; i < a && full < 30000000; i++)
                                full *= 2;
                        if (full > 30000000)
                                full = 30000000;
                        cr_assert(
                                d >= full / 2 && d < full,
                                "attempt %u: %llu not in [%llu, %llu)",
                                a,
                                (unsigned long long) d,
                                (unsigned long long) full / 2,
                                (unsigned long long) full);
                }
}

Test(classify, retry_delay_is_jittered, .init = setup, .fini = teardown) {
        uint64_t seen[64];
        size_t distinct = 0;

        /* The default policy: 250 ms doubling to 30 s, spread over [d/2, d) by getrandom(). */
        for (size_t i = 0; i < ELEMENTSOF(seen); i++) {
                uint64_t d = clickhouse_client_retry_delay(client, 3, 0);
                bool dup = false;
                cr_assert(d >= 1000000 && d < 2000000, "%llu", (unsigned long long) d);
                for (size_t j = 0; j < i; j++)
                        dup = dup || seen[j] == d;
                distinct += !dup;
                seen[i] = d;
        }
        cr_assert_gt(distinct, 32, "jitter: %zu distinct delays of 64", distinct);
        cr_assert_eq(clickhouse_client_retry_delay(client, 30, 0) < 30000000, true);
        cr_assert_eq(clickhouse_client_retry_delay(client, 0, 60000000), 60000000, "Retry-After wins");
}
