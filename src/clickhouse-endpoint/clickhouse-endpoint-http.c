/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clickhouse-endpoint.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "strbuf.h"
#include "util.h"

/* libmicrohttpd runs one thread per connection. Each request runs its statements on one of the engine's
 * sessions (connections), taken for the duration and waited for when all are busy.
 *
 * A request goes one of two ways:
 *  - streamed INSERT: "INSERT INTO t ... FORMAT F" in ?query= with the rows in the body. The body, still
 *    compressed, is written to an unnamed temporary file next to the data, and the engine runs
 *    "INSERT INTO t FROM INFILE '/proc/self/fd/N' COMPRESSION 'c' ... FORMAT F" over it: the process never
 *    holds the rows in memory, and the statement only starts once the whole body has arrived, so a client
 *    that disconnects half-way inserts nothing (as with ClickHouse's own server).
 *  - anything else: ?query= and the decoded body are joined with a newline, as the server does, bounded by
 *    --max-query-body. A multipart/form-data body is a form instead: its query and param_* fields count.
 *
 * The body passes through up to two decoders on its way (Content-Encoding, then ClickHouse's compressed
 * framing for decompress=1); a streamed INSERT keeps its Content-Encoding for the engine to undo unless
 * the framing or a Native revision (client_protocol_version) must be undone first. The answer passes the
 * other way: Native revision, compress=1 framing, then Content-Encoding (enable_http_compression). */

#define CONNECTION_MEMORY_LIMIT (1024 * 1024) /* URLs up to ClickHouse's http_max_uri_size */
#define MAX_SETTINGS 256
#define CONTENT_TYPE_TEXT "text/plain; charset=UTF-8"
/* The lowest revision whose Native blocks are converted: below it, the server also leaves out LowCardinality
 * and DateTime time zones, which is not done here. */
#define MIN_CLIENT_REVISION 54405
#define SESSION_TIMEOUT_DEFAULT 60
#define SESSION_TIMEOUT_MAX 3600
#define CORS_ALLOW_HEADERS                                                                                  \
        "origin, x-requested-with, x-clickhouse-format, x-clickhouse-user, x-clickhouse-key, Authorization"
#define CORS_EXPOSE_HEADERS                                                                                    \
        "X-ClickHouse-Query-Id, X-ClickHouse-Summary, X-ClickHouse-Server-Display-Name, X-ClickHouse-Format, " \
        "X-ClickHouse-Timezone, X-ClickHouse-Exception-Code, X-ClickHouse-Progress"

struct HttpFrontend {
        const EndpointConfig *config;
        Engine *engine;
        struct MHD_Daemon *daemon;
        char *tmp_dir;
        char display_name[256];
        uint16_t port;
        unsigned in_flight; /* requests between their first call and completion (atomic) */
};

typedef struct Request {
        HttpFrontend *f;
        bool is_get;
        char *query;
        char *database;
        char *default_format;
        char *query_id;
        char *setting_names[MAX_SETTINGS];
        char *setting_values[MAX_SETTINGS];
        size_t n_settings;
        char *bad_setting; /* first URL parameter that cannot be a setting name */
        bool too_many_settings;
        BodyEncoding enc;

        /* reserved parameters and the settings the HTTP layer itself acts on */
        char *session_id;
        char *session_timeout;
        bool session_check, close_session;
        char *role;
        char *compress, *decompress, *client_protocol_version;
        uint64_t client_revision;
        bool send_progress; /* send_progress_in_http_headers */
        bool http_compression;
        int zlib_level;
        bool verify_checksums;
        char *response_headers; /* http_response_headers */
        BodyEncoding resp_enc;

        bool multipart;
        char *boundary;
        bool streaming;
        size_t infile_at;
        int tmp_fd;
        bool decoded; /* the file holds the body decoded (no COMPRESSION for the engine) */

        BodyDecoder *decoder; /* Content-Encoding */
        FrameDecoder *frames; /* decompress=1 */
        StrBuf body;          /* the decoded body, when not streamed */
        int body_error;       /* first error while receiving the body */
} Request;

static Request *request_free(Request *r) {
        if (!r)
                return NULL;
        free(r->query);
        free(r->database);
        free(r->default_format);
        free(r->query_id);
        for (size_t i = 0; i < r->n_settings; i++) {
                free(r->setting_names[i]);
                free(r->setting_values[i]);
        }
        free(r->bad_setting);
        free(r->session_id);
        free(r->session_timeout);
        free(r->role);
        free(r->compress);
        free(r->decompress);
        free(r->client_protocol_version);
        free(r->response_headers);
        free(r->boundary);
        safe_close(r->tmp_fd);
        body_decoder_free(r->decoder);
        frame_decoder_free(r->frames);
        strbuf_done(&r->body);
        free(r);
        return NULL;
}

/* --- responses ----------------------------------------------------------------------------------------- */

static void add_cors_headers(struct MHD_Connection *c, struct MHD_Response *resp);

static enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status, const char *text) {
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
static enum MHD_Result queue_exception(
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

_printf_(5, 6) static enum MHD_Result queue_exceptionf(
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
static enum MHD_Result queue_result(
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

/* --- request parsing ----------------------------------------------------------------------------------- */

/* A parameter the server treats as a boolean (getParsed<bool>): 1/0, true/false. */
static bool param_true(const char *v) {
        return v && parse_boolean(v) > 0;
}

static bool is_ignored_parameter(const char *key) {
        /* URL parameters the server consumes without changing the answer (user/password are read by the
         * authentication; quota_key without quotas; buffer_size and wait_end_of_query are what the endpoint
         * does anyway: it computes the whole result before sending it; stacktrace is off as with the
         * server's enable_http_stacktrace=false). */
        static const char *const keys[] = {
                "user", "password", "quota_key", "buffer_size", "wait_end_of_query", "stacktrace"};
        FOREACH_ARRAY(k, keys, ELEMENTSOF(keys))
                if (streq(*k, key))
                        return true;
        return false;
}

static enum MHD_Result collect_argument(
        void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        Request *r = cls;

        if (isempty(key))
                return MHD_YES; /* "?&a=b": the server skips empty names */
        /* A repeated parameter: the last one counts, as on the server. */
        char **slot = streq(key, "query")                     ? &r->query
                      : streq(key, "database")                ? &r->database
                      : streq(key, "default_format")          ? &r->default_format
                      : streq(key, "query_id")                ? &r->query_id
                      : streq(key, "session_id")              ? &r->session_id
                      : streq(key, "session_timeout")         ? &r->session_timeout
                      : streq(key, "role")                    ? &r->role
                      : streq(key, "compress")                ? &r->compress
                      : streq(key, "decompress")              ? &r->decompress
                      : streq(key, "client_protocol_version") ? &r->client_protocol_version
                      : streq(key, "http_response_headers")   ? &r->response_headers
                                                              : NULL;
        if (slot) {
                free(*slot);
                *slot = strdup(strempty(value));
                if (!*slot)
                        return MHD_NO;
                if (slot != &r->response_headers)
                        return MHD_YES;
        }
        if (streq(key, "session_check")) {
                r->session_check = param_true(value);
                return MHD_YES;
        }
        if (streq(key, "close_session")) {
                r->close_session = param_true(value);
                return MHD_YES;
        }
        if (is_ignored_parameter(key))
                return MHD_YES;
        if (!sql_valid_setting_name(key)) {
                if (!r->bad_setting)
                        r->bad_setting = strdup(key);
                return MHD_YES;
        }
        /* Settings the HTTP layer acts on itself; they are passed to the engine too, which checks them. */
        if (streq(key, "send_progress_in_http_headers"))
                r->send_progress = param_true(value);
        else if (streq(key, "enable_http_compression"))
                r->http_compression = param_true(value);
        else if (streq(key, "http_native_compression_disable_checksumming_on_decompress"))
                r->verify_checksums = !param_true(value);
        else if (streq(key, "http_zlib_compression_level")) {
                uint32_t level;
                if (safe_atou32(strempty(value), &level) >= 0 && level >= 1 && level <= 9)
                        r->zlib_level = (int) level;
        }
        if (r->n_settings >= MAX_SETTINGS) {
                r->too_many_settings = true;
                return MHD_YES;
        }
        r->setting_names[r->n_settings] = strdup(key);
        r->setting_values[r->n_settings] = strdup(strempty(value));
        r->n_settings++;
        if (!r->setting_names[r->n_settings - 1] || !r->setting_values[r->n_settings - 1])
                return MHD_NO;
        return MHD_YES;
}

static int make_query_id(char **ret) {
        uint8_t b[16];

        if (getrandom(b, sizeof(b), 0) != (ssize_t) sizeof(b))
                return -EIO;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        if (asprintf(
                    ret,
                    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                    b[0],
                    b[1],
                    b[2],
                    b[3],
                    b[4],
                    b[5],
                    b[6],
                    b[7],
                    b[8],
                    b[9],
                    b[10],
                    b[11],
                    b[12],
                    b[13],
                    b[14],
                    b[15]) < 0)
                return -ENOMEM;
        return 0;
}

static int open_tmp_file(const char *dir) {
        int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0)
                return fd;
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                return -errno;
        /* File systems without O_TMPFILE: a named file, unlinked at once. */
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/insert-XXXXXX", dir) < 0)
                return -ENOMEM;
        fd = mkostemp(p, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        (void) unlink(p);
        return fd;
}

/* Appends s as a single-quoted SQL string literal. */
static int append_sql_string(StrBuf *b, const char *s) {
        int r = strbuf_puts(b, "'");
        for (const char *p = s; r >= 0 && *p; p++) {
                if (*p == '\'' || *p == '\\')
                        r = strbuf_append(b, "\\", 1);
                if (r >= 0)
                        r = strbuf_append(b, p, 1);
        }
        return r < 0 ? r : strbuf_puts(b, "'");
}

static int append_sql_identifier(StrBuf *b, const char *s) {
        int r = strbuf_puts(b, "`");
        for (const char *p = s; r >= 0 && *p; p++) {
                if (*p == '`' || *p == '\\')
                        r = strbuf_append(b, "\\", 1);
                if (r >= 0)
                        r = strbuf_append(b, p, 1);
        }
        return r < 0 ? r : strbuf_puts(b, "`");
}

/* --- running a request --------------------------------------------------------------------------------- */

static bool setting_resettable(const char *name) {
        return !startswith(name, "param_");
}

/* Session statements around the query: the URL's database and settings apply to this request only, so they
 * are set before it and reset after it, on the same engine session. */
static int build_session_sql(const Request *r, StrBuf *before, StrBuf *after) {
        int k = 0;

        if (r->n_settings > 0) {
                k = strbuf_puts(before, "SET ");
                for (size_t i = 0; k >= 0 && i < r->n_settings; i++) {
                        if (i > 0)
                                k = strbuf_puts(before, ", ");
                        if (k >= 0)
                                k = strbuf_printf(before, "%s = ", r->setting_names[i]);
                        if (k >= 0)
                                k = append_sql_string(before, r->setting_values[i]);
                }
                bool first = true;
                for (size_t i = 0; k >= 0 && i < r->n_settings; i++) {
                        if (!setting_resettable(r->setting_names[i]))
                                continue;
                        k = strbuf_printf(
                                after, "%s%s = DEFAULT", first ? "SET " : ", ", r->setting_names[i]);
                        first = false;
                }
        }
        return k;
}

/* --- body ---------------------------------------------------------------------------------------------- */

/* Where decoded body bytes end up: the INSERT's temporary file, or memory (bounded). */
static int sink_final(void *userdata, const void *data, size_t size) {
        Request *r = userdata;
        if (r->streaming)
                return loop_write(r->tmp_fd, data, size);
        int k = strbuf_append(&r->body, data, size);
        return k == -ENOBUFS ? -E2BIG : k;
}

/* After the Content-Encoding: into the framing decoder, or straight on. Framing errors get errnos of their
 * own so that the answer can tell them from a broken Content-Encoding. */
static int sink_decoded(void *userdata, const void *data, size_t size) {
        Request *r = userdata;
        if (!r->frames)
                return sink_final(r, data, size);
        int k = frame_decoder_feed(r->frames, data, size);
        return k == -EBADMSG ? -EPROTO : k;
}

static enum MHD_Result queue_body_error(Request *r, struct MHD_Connection *c) {
        HttpFrontend *f = r->f;
        switch (r->body_error) {
        case -E2BIG:
                return queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 202. DB::Exception: Request body is larger than %" PRIu64
                        " bytes (--max-query-body); only INSERT ... FORMAT bodies are streamed. (QUERY_IS_TOO_LARGE)",
                        f->config->max_query_body);
        case -EBADMSG:
                return queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 354. DB::Exception: inflate/decompress failed: the request body is not valid %s data. (ZLIB_INFLATE_FAILED)",
                        r->enc == BODY_ZSTD  ? "zstd"
                        : r->enc == BODY_LZ4 ? "lz4"
                                             : "gzip/deflate");
        case -EILSEQ:
                return queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 40. DB::Exception: Checksum doesn't match: corrupted data (decompress=1 body). (CHECKSUM_DOESNT_MATCH)");
        case -EPROTONOSUPPORT:
                return queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 89. DB::Exception: Unknown compression method in the decompress=1 body: supported are LZ4 (0x82), ZSTD (0x90) and none (0x02). (UNKNOWN_COMPRESSION_METHOD)");
        case -EFBIG:
                return queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 272. DB::Exception: Too large size_compressed in the decompress=1 body: more than 1 GiB. (TOO_LARGE_SIZE_COMPRESSED)");
        case -EPROTO:
                return queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 271. DB::Exception: Cannot decompress the decompress=1 body: a block is corrupt or cut short. (CANNOT_DECOMPRESS)");
        default:
                return queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 1001. DB::Exception: Failed to receive the request body: %s. (STD_EXCEPTION)",
                        strerror(-r->body_error));
        }
}

static int answered(enum MHD_Result *answer, enum MHD_Result v) {
        *answer = v;
        return 1;
}

/* A multipart/form-data body: the form's query fields after ?query=, its param_* fields as query
 * parameters (a parameter already in the URL wins, as on the server); other fields are not settings. */
static int take_form(Request *r, struct MHD_Connection *c, StrBuf *sql, enum MHD_Result *answer) {
        HttpFrontend *f = r->f;
        MultipartPart *parts = NULL;
        size_t n = 0;
        int k;

        k = multipart_parse(r->body.data ?: "", r->body.len, r->boundary, &parts, &n);
        if (k == -ENOMEM)
                return -ENOMEM;
        if (k < 0)
                return answered(
                        answer,
                        queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 36. DB::Exception: The multipart/form-data body is not well formed. (BAD_ARGUMENTS)"));
        k = strbuf_puts(sql, strempty(r->query));
        for (size_t i = 0; k >= 0 && i < n; i++) {
                if (parts[i].filename) {
                        _cleanup_free_ char *name = strdup(parts[i].name);
                        multipart_parts_free(parts, n);
                        return answered(
                                answer,
                                queue_exceptionf(
                                        f,
                                        c,
                                        r,
                                        r->query_id,
                                        "Code: 48. DB::Exception: External tables (the multipart file part '%s') are not supported by this server. (NOT_IMPLEMENTED)",
                                        strempty(name)));
                }
                if (streq(parts[i].name, "query"))
                        k = strbuf_append(sql, parts[i].value, parts[i].size);
                else if (startswith(parts[i].name, "param_") && sql_valid_setting_name(parts[i].name)) {
                        bool have = false;
                        for (size_t j = 0; j < r->n_settings; j++)
                                have = have || streq(r->setting_names[j], parts[i].name);
                        if (have)
                                continue;
                        if (r->n_settings >= MAX_SETTINGS) {
                                multipart_parts_free(parts, n);
                                return answered(
                                        answer,
                                        queue_exceptionf(
                                                f,
                                                c,
                                                r,
                                                r->query_id,
                                                "Code: 36. DB::Exception: Too many parameters (at most %d). (BAD_ARGUMENTS)",
                                                MAX_SETTINGS));
                        }
                        r->setting_names[r->n_settings] = TAKE_PTR(parts[i].name);
                        r->setting_values[r->n_settings] = TAKE_PTR(parts[i].value);
                        r->n_settings++;
                }
        }
        multipart_parts_free(parts, n);
        return k < 0 ? -ENOMEM : 0;
}

static enum MHD_Result request_run(Request *r, struct MHD_Connection *c) {
        HttpFrontend *f = r->f;
        StrBuf sql = STRBUF_INIT(SIZE_MAX / 2), before = STRBUF_INIT(1024 * 1024),
               after = STRBUF_INIT(1024 * 1024);
        EngineResult res = {};
        EngineSession *session = NULL;
        char format_buf[128];
        const char *format;
        enum MHD_Result ret;
        int k = 0;

        if (r->body_error == 0 && r->decoder)
                r->body_error = body_decoder_finish(r->decoder, NULL, NULL);
        if (r->body_error == 0 && r->frames) {
                k = frame_decoder_finish(r->frames);
                r->body_error = k == -EBADMSG ? -EPROTO : k;
        }
        if (r->body_error < 0)
                return queue_body_error(r, c);

        if (r->streaming) {
                const char *comp = r->decoded ? NULL : body_encoding_to_compression(r->enc);
                k = strbuf_append(&sql, r->query, r->infile_at);
                if (k >= 0)
                        k = strbuf_printf(
                                &sql,
                                " FROM INFILE '/proc/self/fd/%d' COMPRESSION '%s' ",
                                r->tmp_fd,
                                comp ?: "none");
                if (k >= 0)
                        k = strbuf_puts(&sql, r->query + r->infile_at);
        } else if (r->multipart) {
                k = take_form(r, c, &sql, &ret);
                if (k != 0) {
                        strbuf_done(&sql);
                        return k < 0 ? MHD_NO : ret;
                }
        } else {
                k = strbuf_puts(&sql, strempty(r->query));
                if (k >= 0 && !isempty(r->query) && r->body.len > 0)
                        k = strbuf_append(&sql, "\n", 1);
                if (k >= 0)
                        k = strbuf_append(&sql, r->body.data ?: "", r->body.len);
                /* The body is in sql now; drop the other copy before running. */
                strbuf_done(&r->body);
                /* A whole INSERT with its rows in the text (clickhouse-connect sends its inserts so): the
                 * engine reads inline data only up to max_query_size, so the rows go through a file as for
                 * a streamed INSERT. */
                size_t at, end, data;
                if (k >= 0 && sql.data && sql_insert_inline_data(sql.data, sql.len, &at, &end, &data)) {
                        StrBuf stmt = STRBUF_INIT(SIZE_MAX / 2);
                        r->tmp_fd = open_tmp_file(f->tmp_dir);
                        if (r->tmp_fd < 0) {
                                strbuf_done(&sql);
                                return queue_exceptionf(
                                        f,
                                        c,
                                        r,
                                        r->query_id,
                                        "Code: 76. DB::Exception: Cannot create a temporary file for the INSERT body: %s. (CANNOT_OPEN_FILE)",
                                        strerror(-r->tmp_fd));
                        }
                        k = loop_write(r->tmp_fd, sql.data + data, sql.len - data);
                        if (k >= 0)
                                k = strbuf_append(&stmt, sql.data, at);
                        if (k >= 0)
                                k = strbuf_printf(
                                        &stmt,
                                        " FROM INFILE '/proc/self/fd/%d' COMPRESSION 'none' ",
                                        r->tmp_fd);
                        if (k >= 0)
                                k = strbuf_append(&stmt, sql.data + at, end - at);
                        strbuf_done(&sql);
                        sql = stmt;
                        r->streaming =
                                true; /* for the format of the answer: the statement's FORMAT is input */
                }
        }
        if (k >= 0)
                k = build_session_sql(r, &before, &after);
        if (k < 0) {
                strbuf_done(&sql);
                strbuf_done(&before);
                strbuf_done(&after);
                return MHD_NO;
        }

        /* The format the answer is in: the query's FORMAT clause, else default_format, else TabSeparated. */
        if (!r->streaming && sql.data &&
            sql_format_clause(sql.data, sql.len, format_buf, sizeof(format_buf)))
                format = format_buf;
        else
                format = r->default_format ?: "TabSeparated";

        size_t skip = 0;
        while (skip < sql.len && strchr(" \t\r\n", sql.data[skip]))
                skip++;
        if (skip == sql.len) {
                ret = queue_exceptionf(
                        f, c, r, r->query_id, "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)");
                goto finish;
        }
        if (r->is_get && !sql_is_read_only(sql.data, sql.len)) {
                ret = queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 164. DB::Exception: Cannot execute query in readonly mode. For queries over HTTP, method GET "
                        "implies readonly. You should use method POST for modifying queries. (READONLY)");
                goto finish;
        }

        if (r->session_id) {
                uint32_t timeout = SESSION_TIMEOUT_DEFAULT;
                if (r->session_timeout)
                        (void) safe_atou32(r->session_timeout, &timeout);
                k = engine_acquire_named(
                        f->engine, r->session_id, timeout, r->session_check, r->close_session, &session);
                if (k == -EBUSY)
                        ret = queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 373. DB::Exception: Session %s is locked by a concurrent client. (SESSION_IS_LOCKED)",
                                r->session_id);
                else if (k == -ENOENT)
                        ret = queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 372. DB::Exception: Session %s not found. (SESSION_NOT_FOUND)",
                                r->session_id);
                else if (k == -EUSERS)
                        ret = queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 202. DB::Exception: Too many open sessions (at most 32); close one with close_session=1 or wait for one to time out. (TOO_MANY_SIMULTANEOUS_QUERIES)");
                else if (k < 0)
                        ret = queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 1001. DB::Exception: Cannot open an engine session: %s. (STD_EXCEPTION)",
                                strerror(-k));
                if (k < 0)
                        goto finish;
        } else
                session = engine_acquire(f->engine);

        k = 0;
        if (r->database) {
                StrBuf use = STRBUF_INIT(4096);
                k = strbuf_puts(&use, "USE ");
                if (k >= 0)
                        k = append_sql_identifier(&use, r->database);
                if (k >= 0)
                        k = engine_session_query(
                                f->engine, session, use.data, use.len, "TabSeparated", &res);
                strbuf_done(&use);
        }
        if (k >= 0 && !res.error && before.len > 0) {
                engine_result_done(f->engine, &res);
                k = engine_session_query(f->engine, session, before.data, before.len, "TabSeparated", &res);
        }
        if (k >= 0 && !res.error) {
                engine_result_done(f->engine, &res);
                k = engine_session_query(f->engine, session, sql.data, sql.len, format, &res);
        }
        /* Back to the session's defaults whatever happened, so the next request starts clean. */
        if (after.len > 0 || (r->database && !r->session_id)) {
                EngineResult reset = {};
                if (after.len > 0 &&
                    engine_session_query(
                            f->engine, session, after.data, after.len, "TabSeparated", &reset) == 0 &&
                    reset.error)
                        log_warning("Failed to reset session settings: %s", reset.error);
                engine_result_done(f->engine, &reset);
                if (r->database && !r->session_id &&
                    engine_session_query(
                            f->engine,
                            session,
                            "USE default",
                            strlen("USE default"),
                            "TabSeparated",
                            &reset) == 0 &&
                    reset.error)
                        log_warning("Failed to reset the session's database: %s", reset.error);
                engine_result_done(f->engine, &reset);
        }
        engine_release(f->engine, session);

        if (k < 0) {
                log_error_errno(k, "Engine call failed: %m");
                ret = queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 1001. DB::Exception: engine call failed. (STD_EXCEPTION)");
        } else if (res.error)
                ret = queue_exception(f, c, r, r->query_id, res.error);
        else
                ret = queue_result(r, c, r->query_id, format, &res);
        engine_result_done(f->engine, &res);

finish:
        strbuf_done(&sql);
        strbuf_done(&before);
        strbuf_done(&after);
        return ret;
}

static enum MHD_Result queue_bad_framing(struct MHD_Connection *c) {
        static const char text[] = "Bad Request: conflicting or invalid Content-Length header fields.\n";
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
static enum MHD_Result queue_options(struct MHD_Connection *c) {
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

/* Checks the reserved parameters; returns 1 with an answer queued when one is wrong. */
static int request_check_parameters(Request *r, struct MHD_Connection *c, enum MHD_Result *answer) {
        HttpFrontend *f = r->f;

        if (r->bad_setting)
                return answered(
                        answer,
                        queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 115. DB::Exception: Unknown setting '%s'. (UNKNOWN_SETTING)",
                                r->bad_setting));
        if (r->too_many_settings)
                return answered(
                        answer,
                        queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 36. DB::Exception: Too many settings in the URL (at most %d). (BAD_ARGUMENTS)",
                                MAX_SETTINGS));
        if (r->default_format && !sql_valid_setting_name(r->default_format))
                return answered(
                        answer,
                        queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 73. DB::Exception: Unknown format %s. (UNKNOWN_FORMAT)",
                                r->default_format));
        if (r->client_protocol_version) {
                if (safe_atou64(r->client_protocol_version, &r->client_revision) < 0)
                        return answered(
                                answer,
                                queue_exceptionf(
                                        f,
                                        c,
                                        r,
                                        r->query_id,
                                        "Code: 72. DB::Exception: Cannot parse client_protocol_version '%s' as a number. (CANNOT_PARSE_NUMBER)",
                                        r->client_protocol_version));
                if (r->client_revision > 0 && r->client_revision < MIN_CLIENT_REVISION)
                        return answered(
                                answer,
                                queue_exceptionf(
                                        f,
                                        c,
                                        r,
                                        r->query_id,
                                        "Code: 48. DB::Exception: client_protocol_version %" PRIu64
                                        " is older than this server supports (%d or newer, or 0). (NOT_IMPLEMENTED)",
                                        r->client_revision,
                                        MIN_CLIENT_REVISION));
        }
        const struct {
                const char *name, *value;
        } booleans[] = {
                {"compress", r->compress},
                {"decompress", r->decompress},
        };
        FOREACH_ARRAY(b, booleans, ELEMENTSOF(booleans))
                if (b->value && parse_boolean(b->value) < 0)
                        return answered(
                                answer,
                                queue_exceptionf(
                                        f,
                                        c,
                                        r,
                                        r->query_id,
                                        "Code: 467. DB::Exception: Cannot parse %s=%s as a boolean. (CANNOT_PARSE_BOOL)",
                                        b->name,
                                        b->value));
        if (r->session_timeout) {
                uint32_t t;
                if (safe_atou32(r->session_timeout, &t) < 0 || t > SESSION_TIMEOUT_MAX)
                        return answered(
                                answer,
                                queue_exceptionf(
                                        f,
                                        c,
                                        r,
                                        r->query_id,
                                        "Code: 374. DB::Exception: Invalid session timeout: '%s' (at most %d seconds). (INVALID_SESSION_TIMEOUT)",
                                        r->session_timeout,
                                        SESSION_TIMEOUT_MAX));
        }
        if (r->session_id && (isempty(r->session_id) || strlen(r->session_id) > 256))
                return answered(
                        answer,
                        queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 36. DB::Exception: session_id must be 1 to 256 characters. (BAD_ARGUMENTS)"));
        if (r->role)
                /* The one user has no roles to set. */
                return answered(
                        answer,
                        queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 512. DB::Exception: Role %s should be granted to set as a current role. (SET_NON_GRANTED_ROLE)",
                                r->role));
        if (r->response_headers && !http_apply_response_headers(r->response_headers, NULL))
                return answered(
                        answer,
                        queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 36. DB::Exception: http_response_headers must be a map of header names to values, such as {'Cache-Control':'no-cache'}, and may not set framing headers. (BAD_ARGUMENTS)"));
        return 0;
}

/* First call for a request: route, authenticate, read the URL, choose how the body is taken. Returns
 * MHD_YES with *ret set to go on, or the result of having queued a final answer. */
static enum MHD_Result request_begin(
        HttpFrontend *f, struct MHD_Connection *c, const char *url, const char *method, Request **ret) {
        _cleanup_free_ char *user = NULL, *password = NULL;
        enum MHD_Result answer;
        Request *r;
        int k;

        *ret = NULL;
        if (http_request_has_conflicting_length(c))
                return queue_bad_framing(c);
        if (streq(method, MHD_HTTP_METHOD_OPTIONS))
                return queue_options(c);
        bool is_get = streq(method, MHD_HTTP_METHOD_GET) || streq(method, MHD_HTTP_METHOD_HEAD);
        if (!is_get && !streq(method, MHD_HTTP_METHOD_POST))
                return queue_text(
                        c, MHD_HTTP_METHOD_NOT_ALLOWED, "Only GET, HEAD, POST and OPTIONS are supported.\n");
        if (streq(url, "/ping"))
                return queue_text(c, MHD_HTTP_OK, "Ok.\n");
        if (!streq(url, "/"))
                return queue_text(
                        c,
                        MHD_HTTP_NOT_FOUND,
                        "There is no handle for this path. Use / for queries or /ping for health checks.\n");

        const char *content_type =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        bool multipart = content_type && strncasecmp(content_type, "multipart/form-data", 19) == 0;
        /* GET / without a query is the server's other health check. */
        if (is_get && !multipart && !MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "query"))
                return queue_text(c, MHD_HTTP_OK, "Ok.\n");

        k = http_request_credentials(c, &user, &password);
        if (k == -ENOMEM)
                return MHD_NO;
        if (k < 0 || !streq(user, f->config->user) || !secret_equal(password, f->config->password)) {
                log_info("Authentication failed for user '%s'", k < 0 ? "?" : user);
                return queue_exceptionf(
                        f,
                        c,
                        NULL,
                        NULL,
                        "Code: 516. DB::Exception: %s: Authentication failed: password is incorrect, or there is no user "
                        "with such name. (AUTHENTICATION_FAILED)",
                        k < 0 ? "default" : user);
        }

        r = new0(Request, 1);
        if (!r)
                return MHD_NO;
        r->f = f;
        __atomic_add_fetch(&f->in_flight, 1, __ATOMIC_SEQ_CST);
        r->is_get = is_get;
        r->tmp_fd = -EBADF;
        r->verify_checksums = true;
        r->zlib_level = 3; /* http_zlib_compression_level's default */
        r->body = STRBUF_INIT(f->config->max_query_body);
        *ret = r;

        (void) MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_argument, r);
        /* The server reads these from headers too, and the header wins. */
        const struct {
                const char *header;
                char **slot;
        } from_headers[] = {
                {"X-ClickHouse-Database", &r->database},
                {"X-ClickHouse-Format", &r->default_format},
        };
        FOREACH_ARRAY(h, from_headers, ELEMENTSOF(from_headers)) {
                const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, h->header);
                if (isempty(v))
                        continue;
                free(*h->slot);
                *h->slot = strdup(v);
                if (!*h->slot)
                        return MHD_NO;
        }
        if (!r->query_id) {
                const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-ClickHouse-Query-Id");
                if (!isempty(v) && !(r->query_id = strdup(v)))
                        return MHD_NO;
        }
        if (!r->query_id && make_query_id(&r->query_id) < 0)
                return MHD_NO;
        /* CORS only for a browser's request (it has an Origin), as the server. */
        if (r->http_compression)
                r->resp_enc = body_encoding_from_accept(
                        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));

        if (request_check_parameters(r, c, &answer) != 0)
                return answer;

        const char *encoding =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
        r->enc = body_encoding_from_string(encoding);
        if (r->enc < 0)
                return queue_exceptionf(
                        f,
                        c,
                        r,
                        r->query_id,
                        "Code: 36. DB::Exception: Unknown HTTP Content-Encoding '%s': supported are gzip, deflate, zstd and lz4. (BAD_ARGUMENTS)",
                        encoding);

        bool decompress = param_true(r->decompress);
        if (multipart) {
                r->multipart = true;
                r->boundary = multipart_boundary(content_type);
                if (!r->boundary)
                        return queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 36. DB::Exception: multipart/form-data without a usable boundary. (BAD_ARGUMENTS)");
        } else if (
                !is_get && !isempty(r->query) &&
                sql_insert_infile_point(r->query, strlen(r->query), &r->infile_at)) {
                r->tmp_fd = open_tmp_file(f->tmp_dir);
                if (r->tmp_fd < 0) {
                        log_error_errno(
                                r->tmp_fd, "Failed to create a temporary file in %s: %m", f->tmp_dir);
                        return queue_exceptionf(
                                f,
                                c,
                                r,
                                r->query_id,
                                "Code: 76. DB::Exception: Cannot create a temporary file for the INSERT body: %s. (CANNOT_OPEN_FILE)",
                                strerror(-r->tmp_fd));
                }
                r->streaming = true;
                /* Otherwise the engine undoes the Content-Encoding itself, reading the file. Native bodies
                 * are revision 0 whatever client_protocol_version says: the server applies it to output
                 * formats only (and clickhouse-go encodes its inserts so). */
                r->decoded = decompress;
        }
        if (!r->streaming || r->decoded) {
                if (decompress) {
                        k = frame_decoder_new(r->verify_checksums, sink_final, r, &r->frames);
                        if (k < 0)
                                return MHD_NO;
                }
                k = body_decoder_new_sink(r->enc, sink_decoded, r, &r->decoder);
                if (k < 0)
                        return MHD_NO;
        }
        return MHD_YES;
}

static enum MHD_Result on_request(
        void *cls,
        struct MHD_Connection *c,
        const char *url,
        const char *method,
        const char *version,
        const char *upload_data,
        size_t *upload_data_size,
        void **con_cls) {
        HttpFrontend *f = cls;
        Request *r = *con_cls;

        if (!r) {
                enum MHD_Result ret = request_begin(f, c, url, method, &r);
                *con_cls = r;
                return ret;
        }

        if (*upload_data_size > 0) {
                if (r->body_error == 0) {
                        if (!r->decoder) {
                                int k = loop_write(r->tmp_fd, upload_data, *upload_data_size);
                                if (k < 0) {
                                        log_error_errno(
                                                k,
                                                "Failed to write the INSERT body to a temporary file: %m");
                                        r->body_error = k;
                                }
                        } else
                                r->body_error =
                                        body_decoder_feed(r->decoder, upload_data, *upload_data_size);
                }
                *upload_data_size = 0;
                return MHD_YES;
        }

        return request_run(r, c);
}

static void on_completed(
        void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
        HttpFrontend *f = cls;
        if (*con_cls)
                __atomic_sub_fetch(&f->in_flight, 1, __ATOMIC_SEQ_CST);
        request_free(*con_cls);
        *con_cls = NULL;
}

_printf_(2, 0) static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        _cleanup_free_ char *m = NULL;
        if (vasprintf(&m, fmt, ap) >= 0)
                log_debug("libmicrohttpd: %s", m);
}

int endpoint_parse_listen_address(
        const char *address, uint16_t port, struct sockaddr_storage *ret, bool *ret_ipv6) {
        struct sockaddr_storage ss = {};
        bool ipv6 = strchr(address, ':');

        if (ipv6) {
                struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) &ss;
                a6->sin6_family = AF_INET6;
                a6->sin6_port = htons(port);
                if (inet_pton(AF_INET6, address, &a6->sin6_addr) != 1)
                        return -EINVAL;
        } else {
                struct sockaddr_in *a4 = (struct sockaddr_in *) &ss;
                a4->sin_family = AF_INET;
                a4->sin_port = htons(port);
                if (inet_pton(AF_INET, address, &a4->sin_addr) != 1)
                        return -EINVAL;
        }
        if (ret)
                *ret = ss;
        if (ret_ipv6)
                *ret_ipv6 = ipv6;
        return 0;
}

int http_frontend_start(const EndpointConfig *config, Engine *engine, HttpFrontend **ret) {
        _cleanup_free_ HttpFrontend *f = NULL;
        struct sockaddr_storage ss = {};
        bool ipv6 = false;
        int k;
        unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                         MHD_USE_ERROR_LOG;

        f = new0(HttpFrontend, 1);
        if (!f)
                return log_oom();
        f->config = config;
        f->engine = engine;
        if (gethostname(f->display_name, sizeof(f->display_name) - 1) < 0)
                (void) snprintf(f->display_name, sizeof(f->display_name), "clickhouse-endpoint");

        if (asprintf(&f->tmp_dir, "%s/tmp-endpoint", config->data_dir) < 0)
                return log_oom();
        if (mkdir(f->tmp_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", f->tmp_dir);

        k = endpoint_parse_listen_address(config->listen_address, config->port, &ss, &ipv6);
        if (k < 0)
                return log_error_errno(k, "Invalid listen address '%s'", config->listen_address);
        if (ipv6)
                flags |= MHD_USE_IPv6;

        f->daemon = MHD_start_daemon(
                flags,
                config->port,
                NULL,
                NULL,
                on_request,
                f,
                MHD_OPTION_SOCK_ADDR,
                (struct sockaddr *) &ss,
                MHD_OPTION_CONNECTION_LIMIT,
                (unsigned) config->max_connections,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                (size_t) CONNECTION_MEMORY_LIMIT,
                MHD_OPTION_CONNECTION_TIMEOUT,
                (unsigned) 300,
                MHD_OPTION_NOTIFY_COMPLETED,
                on_completed,
                f,
                MHD_OPTION_EXTERNAL_LOGGER,
                on_mhd_log,
                f,
                MHD_OPTION_END);
        if (!f->daemon)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EADDRINUSE),
                        "Failed to listen on %s port %u",
                        config->listen_address,
                        config->port);

        const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->daemon, MHD_DAEMON_INFO_BIND_PORT);
        f->port = info ? info->port : config->port;
        *ret = TAKE_PTR(f);
        return 0;
}

uint16_t http_frontend_port(const HttpFrontend *f) {
        return f->port;
}

HttpFrontend *http_frontend_stop(HttpFrontend *f, unsigned timeout_sec) {
        if (!f)
                return NULL;
        if (f->daemon) {
                /* Stop accepting, then let requests in flight finish: an INSERT the engine has started is
                 * completed and answered before the engine is closed. */
                MHD_socket s = MHD_quiesce_daemon(f->daemon);
                if (s != MHD_INVALID_SOCKET)
                        (void) close(s);
                uint64_t deadline = now_usec(CLOCK_MONOTONIC) + (uint64_t) timeout_sec * 1000000;
                for (;;) {
                        unsigned n = __atomic_load_n(&f->in_flight, __ATOMIC_SEQ_CST);
                        if (n == 0)
                                break;
                        if (now_usec(CLOCK_MONOTONIC) >= deadline) {
                                log_warning(
                                        "%u request(s) still in flight after %us, closing them",
                                        n,
                                        timeout_sec);
                                break;
                        }
                        (void) usleep(20 * 1000);
                }
                MHD_stop_daemon(f->daemon);
        }
        free(f->tmp_dir);
        free(f);
        return NULL;
}
