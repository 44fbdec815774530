/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "clickhouse-endpoint-request.h"
#include "clickhouse-endpoint.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "strbuf.h"
#include "util.h"

/* The answers: ClickHouse's headers and exceptions, results as the engine wrote them (Native converted to
 * the client's revision), compress=1 framing and Content-Encoding, CORS. */

#define CORS_ALLOW_HEADERS                                                                                  \
        "origin, x-requested-with, x-clickhouse-format, x-clickhouse-user, x-clickhouse-key, Authorization"
#define CORS_EXPOSE_HEADERS                                                                                    \
        "X-ClickHouse-Query-Id, X-ClickHouse-Summary, X-ClickHouse-Server-Display-Name, X-ClickHouse-Format, " \
        "X-ClickHouse-Timezone, X-ClickHouse-Exception-Code, X-ClickHouse-Progress"

static void add_cors_headers(struct MHD_Connection *c, struct MHD_Response *resp);

enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status, const char *text) {
        struct MHD_Response *resp;
        enum MHD_Result ret;

        resp = MHD_create_response_from_buffer(strlen(text), (void *) text, MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return MHD_NO;
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_TEXT);
        add_cors_headers(c, resp);
        ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static void add_common_headers(HttpFrontend *f, struct MHD_Response *resp, const char *query_id) {
        (void) MHD_add_response_header(resp, "X-ClickHouse-Server-Display-Name", f->display_name);
        if (query_id)
                (void) MHD_add_response_header(resp, "X-ClickHouse-Query-Id", query_id);
        (void) MHD_add_response_header(resp, "X-ClickHouse-Timezone", "UTC");
}

/* CORS: every answer to a browser's request (one with an Origin) allows any origin and exposes the
 * X-ClickHouse-* headers, as the server does when configured with the http_options_response block of its
 * documentation (it then adds those headers to every answer to a request with an Origin, before
 * authentication, and add_http_cors_header changes nothing). Access still needs the password. */
static void add_cors_headers(struct MHD_Connection *c, struct MHD_Response *resp) {
        if (isempty(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin")))
                return;
        (void) MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
        (void) MHD_add_response_header(resp, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
}

/* The answer's body on its way out: compress=1 framing, then the HTTP Content-Encoding. Returns the data to
 * send in *ret (data itself when nothing applies, else a malloc()ed buffer in *ret_owned). */
static int encode_body(
        const Request *r,
        const char *data,
        size_t size,
        const char **ret,
        size_t *ret_size,
        char **ret_owned) {
        _cleanup_free_ char *framed = NULL, *encoded = NULL;
        size_t n;
        int k;

        *ret_owned = NULL;
        if (r && r->compress && parse_boolean(r->compress) > 0) {
                /* The server frames its answers with its default codec, LZ4, whatever the client sent. */
                k = frame_encode(FRAME_METHOD_LZ4, data, size, &framed, &n);
                if (k < 0)
                        return k;
                data = framed;
                size = n;
        }
        if (r && r->http_compression && r->resp_enc != BODY_IDENTITY) {
                k = body_encode(r->resp_enc, r->zlib_level, data, size, &encoded, &n);
                if (k < 0)
                        return k;
                data = encoded;
                size = n;
                free(framed);
                framed = NULL;
        }
        *ret = data;
        *ret_size = size;
        *ret_owned = encoded ? TAKE_PTR(encoded) : TAKE_PTR(framed);
        return 0;
}

static enum MHD_Result queue_owned(
        Request *r,
        struct MHD_Connection *c,
        unsigned status,
        const char *data,
        size_t size,
        char *owned,
        struct MHD_Response **ret) {
        struct MHD_Response *resp;

        if (owned)
                resp = MHD_create_response_from_buffer_with_free_callback(size, owned, free);
        else
                resp = MHD_create_response_from_buffer(size, (void *) data, MHD_RESPMEM_MUST_COPY);
        if (!resp) {
                free(owned);
                return MHD_NO;
        }
        if (r && r->http_compression && r->resp_enc != BODY_IDENTITY)
                (void) MHD_add_response_header(
                        resp, MHD_HTTP_HEADER_CONTENT_ENCODING, body_encoding_to_compression(r->resp_enc));
        add_cors_headers(c, resp);
        *ret = resp;
        return MHD_YES;
}

/* Answers with a ClickHouse exception: the status ClickHouse would use, the code in
 * X-ClickHouse-Exception-Code, and the message, followed by the server version as the server does. Once the
 * request's parameters are read (r set), the body is encoded as a result would be, as the server writes
 * exceptions into the same (compressed) stream. */
enum MHD_Result queue_exception(
        HttpFrontend *f, struct MHD_Connection *c, Request *r, const char *query_id, const char *message) {
        _cleanup_free_ char *text = NULL, *body = NULL;
        char name[96], code_buf[16];
        struct MHD_Response *resp;
        enum MHD_Result ret;
        const char *data;
        char *owned;
        size_t size;
        int code;

        code = clickhouse_error_parse(message, &text);
        if (code < 0)
                return MHD_NO;
        clickhouse_error_name(text, name, sizeof(name));
        if (asprintf(&body, "%s (version %s)\n", text, engine_version(f->engine)) < 0)
                return MHD_NO;
        (void) snprintf(code_buf, sizeof(code_buf), "%d", code);

        if (encode_body(r, body, strlen(body), &data, &size, &owned) < 0)
                return MHD_NO;
        if (queue_owned(r, c, 0, data, size, owned, &resp) != MHD_YES)
                return MHD_NO;
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_TEXT);
        (void) MHD_add_response_header(resp, "X-ClickHouse-Exception-Code", code_buf);
        add_common_headers(f, resp, query_id);
        ret = MHD_queue_response(c, clickhouse_error_http_status(name), resp);
        MHD_destroy_response(resp);
        log_debug("Query %s failed: %s", strempty(query_id), text);
        return ret;
}

_printf_(5, 6) enum MHD_Result queue_exceptionf(
        HttpFrontend *f,
        struct MHD_Connection *c,
        Request *r,
        const char *query_id,
        const char *format,
        ...) {
        _cleanup_free_ char *m = NULL;
        va_list ap;
        int k;

        va_start(ap, format);
        k = vasprintf(&m, format, ap);
        va_end(ap);
        if (k < 0)
                return MHD_NO;
        return queue_exception(f, c, r, query_id, m);
}

typedef struct ResultRef {
        Engine *engine;
        EngineResult result;
} ResultRef;

static void result_ref_free(void *p) {
        ResultRef *ref = p;
        engine_result_done(ref->engine, &ref->result);
        free(ref);
}

static const char *content_type_for(const char *format) {
        if (!format)
                return CONTENT_TYPE_TEXT;
        if (startswith(format, "TabSeparated") || startswith(format, "TSV"))
                return "text/tab-separated-values; charset=UTF-8";
        if (startswith(format, "CSV"))
                return "text/csv; charset=UTF-8; header=absent";
        if (streq(format, "JSONEachRow") || streq(format, "JSONLines") || streq(format, "NDJSON") ||
            streq(format, "JSONCompactEachRow") || streq(format, "JSONStringsEachRow"))
                return "application/x-ndjson; charset=UTF-8";
        if (startswith(format, "JSON"))
                return "application/json; charset=UTF-8";
        return "application/octet-stream";
}

static int strbuf_write(void *userdata, const void *data, size_t size) {
        int k = strbuf_append(userdata, data, size);
        return k == -ENOBUFS ? -E2BIG : k;
}

/* Sends the engine's result; without conversions, without copying it: the response owns it and frees it
 * once sent. */
enum MHD_Result queue_result(
        Request *r, struct MHD_Connection *c, const char *query_id, const char *format, EngineResult *res) {
        HttpFrontend *f = r->f;
        _cleanup_free_ ResultRef *ref = NULL;
        _cleanup_free_ char *native_error = NULL;
        struct MHD_Response *resp;
        enum MHD_Result ret;
        char summary[512];
        StrBuf native = STRBUF_INIT(SIZE_MAX / 2);
        const char *data;
        char *owned = NULL;
        size_t size;
        int k;

        ref = new0(ResultRef, 1);
        if (!ref)
                return MHD_NO;
        ref->engine = f->engine;
        ref->result = *res;
        *res = (EngineResult){};

        (void) snprintf(
                summary,
                sizeof(summary),
                "{\"read_rows\":\"%" PRIu64 "\",\"read_bytes\":\"%" PRIu64 "\",\"written_rows\":\"%" PRIu64
                "\",\"written_bytes\":\"%" PRIu64 "\",\"total_rows_to_read\":\"%" PRIu64
                "\",\"result_rows\":\"%" PRIu64 "\",\"result_bytes\":\"%" PRIu64
                "\",\"elapsed_ns\":\"%" PRIu64 "\"}",
                ref->result.read_rows,
                ref->result.read_bytes,
                ref->result.written_rows,
                ref->result.written_bytes,
                ref->result.read_rows,
                ref->result.result_rows,
                ref->result.result_bytes,
                ref->result.elapsed_ns);

        data = ref->result.data ?: "";
        size = ref->result.size;
        /* Native for a client that gave its protocol revision: block info and the per-column byte. */
        if (r->client_revision > 0 && streq(format, "Native")) {
                k = native_convert(data, size, 0, r->client_revision, strbuf_write, &native, &native_error);
                if (k < 0) {
                        strbuf_done(&native);
                        engine_result_done(f->engine, &ref->result);
                        if (k == -ENOMEM)
                                return MHD_NO;
                        return queue_exceptionf(
                                f,
                                c,
                                r,
                                query_id,
                                "Code: 48. DB::Exception: Cannot write the result as Native of protocol revision %" PRIu64
                                ": %s. (NOT_IMPLEMENTED)",
                                r->client_revision,
                                native_error);
                }
                data = native.data ?: "";
                size = native.len;
        }
        k = encode_body(r, data, size, &data, &size, &owned);
        if (k < 0) {
                strbuf_done(&native);
                engine_result_done(f->engine, &ref->result);
                return MHD_NO;
        }
        if (!owned && native.data) {
                owned = strbuf_steal(&native, &size);
                data = owned;
        }
        strbuf_done(&native);

        if (owned) {
                engine_result_done(f->engine, &ref->result);
                resp = MHD_create_response_from_buffer_with_free_callback(size, owned, free);
                if (!resp) {
                        free(owned);
                        return MHD_NO;
                }
        } else {
                resp = MHD_create_response_from_buffer_with_free_callback_cls(
                        size, (void *) data, result_ref_free, ref);
                if (!resp) {
                        engine_result_done(f->engine, &ref->result);
                        return MHD_NO;
                }
                TAKE_PTR(ref);
        }
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type_for(format));
        (void) MHD_add_response_header(resp, "X-ClickHouse-Format", format);
        /* The whole result is computed before anything is sent (as with the server's wait_end_of_query=1),
         * so the progress the server would report while the query runs is reported once, complete. */
        if (r->send_progress)
                (void) MHD_add_response_header(resp, "X-ClickHouse-Progress", summary);
        (void) MHD_add_response_header(resp, "X-ClickHouse-Summary", summary);
        add_common_headers(f, resp, query_id);
        if (r->http_compression && r->resp_enc != BODY_IDENTITY)
                (void) MHD_add_response_header(
                        resp, MHD_HTTP_HEADER_CONTENT_ENCODING, body_encoding_to_compression(r->resp_enc));
        add_cors_headers(c, resp);
        if (r->response_headers)
                (void) http_apply_response_headers(r->response_headers, resp);
        ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

enum MHD_Result queue_bad_framing(struct MHD_Connection *c) {
        return queue_bad_request(c, "Bad Request: conflicting or invalid Content-Length header fields.\n");
}

enum MHD_Result queue_bad_request(struct MHD_Connection *c, const char *text) {
        struct MHD_Response *resp;
        enum MHD_Result ret;

        resp = MHD_create_response_from_buffer(strlen(text), (void *) text, MHD_RESPMEM_PERSISTENT);
        if (!resp)
                return MHD_NO;
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_TEXT);
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
        ret = MHD_queue_response(c, MHD_HTTP_BAD_REQUEST, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* A CORS preflight: answered as the server does when configured with the http_options_response block of
 * its documentation (204 and the Access-Control-* headers), without authentication (browsers send none).
 * The headers the browser asks for are allowed too, so that clients adding their own (HyperDX's
 * x-hyperdx-connection-id) pass. */
enum MHD_Result queue_options(struct MHD_Connection *c) {
        const char *asked =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Access-Control-Request-Headers");
        _cleanup_free_ char *allow = NULL;
        struct MHD_Response *resp;
        enum MHD_Result ret;

        if (asprintf(&allow, "%s%s%s", CORS_ALLOW_HEADERS, isempty(asked) ? "" : ", ", strempty(asked)) < 0)
                return MHD_NO;
        /* Header values come from the request: keep them on one line. */
        for (char *p = allow; *p; p++)
                if (*p == '\r' || *p == '\n')
                        *p = ' ';
        resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
        if (!resp)
                return MHD_NO;
        (void) MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
        (void) MHD_add_response_header(resp, "Access-Control-Allow-Headers", allow);
        (void) MHD_add_response_header(resp, "Access-Control-Allow-Methods", "POST, GET, OPTIONS");
        (void) MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
        ret = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, resp);
        MHD_destroy_response(resp);
        return ret;
}
