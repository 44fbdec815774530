/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
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
 *    --max-query-body. */

#define CONNECTION_MEMORY_LIMIT (1024 * 1024) /* URLs up to ClickHouse's http_max_uri_size */
#define MAX_SETTINGS 256
#define CONTENT_TYPE_TEXT "text/plain; charset=UTF-8"

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

        bool streaming;
        size_t infile_at;
        int tmp_fd;

        BodyDecoder *decoder;
        int body_error; /* first error while receiving the body */
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
        safe_close(r->tmp_fd);
        body_decoder_free(r->decoder);
        free(r);
        return NULL;
}

/* --- responses ----------------------------------------------------------------------------------------- */

static enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status, const char *text) {
        struct MHD_Response *resp;
        enum MHD_Result ret;

        resp = MHD_create_response_from_buffer(strlen(text), (void *) text, MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return MHD_NO;
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_TEXT);
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

/* Answers with a ClickHouse exception: the status ClickHouse would use, the code in
 * X-ClickHouse-Exception-Code, and the message, followed by the server version as the server does. */
static enum MHD_Result queue_exception(
        HttpFrontend *f, struct MHD_Connection *c, const char *query_id, const char *message) {
        _cleanup_free_ char *text = NULL, *body = NULL;
        char name[96], code_buf[16];
        struct MHD_Response *resp;
        enum MHD_Result ret;
        int code;

        code = clickhouse_error_parse(message, &text);
        if (code < 0)
                return MHD_NO;
        clickhouse_error_name(text, name, sizeof(name));
        if (asprintf(&body, "%s (version %s)\n", text, engine_version(f->engine)) < 0)
                return MHD_NO;
        (void) snprintf(code_buf, sizeof(code_buf), "%d", code);

        resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return MHD_NO;
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_TEXT);
        (void) MHD_add_response_header(resp, "X-ClickHouse-Exception-Code", code_buf);
        add_common_headers(f, resp, query_id);
        ret = MHD_queue_response(c, clickhouse_error_http_status(name), resp);
        MHD_destroy_response(resp);
        log_debug("Query %s failed: %s", strempty(query_id), text);
        return ret;
}

_printf_(4, 5) static enum MHD_Result queue_exceptionf(
        HttpFrontend *f, struct MHD_Connection *c, const char *query_id, const char *format, ...) {
        _cleanup_free_ char *m = NULL;
        va_list ap;
        int k;

        va_start(ap, format);
        k = vasprintf(&m, format, ap);
        va_end(ap);
        if (k < 0)
                return MHD_NO;
        return queue_exception(f, c, query_id, m);
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

/* Sends the engine's result without copying it: the response owns it and frees it once sent. */
static enum MHD_Result queue_result(
        HttpFrontend *f,
        struct MHD_Connection *c,
        const char *query_id,
        const char *format,
        EngineResult *res) {
        _cleanup_free_ ResultRef *ref = NULL;
        struct MHD_Response *resp;
        enum MHD_Result ret;
        char summary[512];

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
                "\",\"written_bytes\":\"%" PRIu64
                "\",\"total_rows_to_read\":\"0\",\"result_rows\":\"%" PRIu64 "\",\"result_bytes\":\"%" PRIu64
                "\",\"elapsed_ns\":\"%" PRIu64 "\"}",
                ref->result.read_rows,
                ref->result.read_bytes,
                ref->result.written_rows,
                ref->result.written_bytes,
                ref->result.result_rows,
                ref->result.result_bytes,
                ref->result.elapsed_ns);

        resp = MHD_create_response_from_buffer_with_free_callback_cls(
                ref->result.size, (void *) (ref->result.data ?: ""), result_ref_free, ref);
        if (!resp) {
                engine_result_done(f->engine, &ref->result);
                return MHD_NO;
        }
        TAKE_PTR(ref);
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type_for(format));
        (void) MHD_add_response_header(resp, "X-ClickHouse-Format", format);
        (void) MHD_add_response_header(resp, "X-ClickHouse-Summary", summary);
        add_common_headers(f, resp, query_id);
        ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* --- authentication ------------------------------------------------------------------------------------ */

static int base64_value(char ch) {
        if (ch >= 'A' && ch <= 'Z')
                return ch - 'A';
        if (ch >= 'a' && ch <= 'z')
                return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9')
                return ch - '0' + 52;
        if (ch == '+')
                return 62;
        if (ch == '/')
                return 63;
        return -1;
}

/* Decodes standard base64 (padding optional) into a NUL-terminated string; -EINVAL on bad input. */
static int base64_decode(const char *in, char **ret) {
        size_t n = strlen(in), o = 0;
        uint32_t acc = 0;
        int bits = 0;
        _cleanup_free_ char *out = malloc(n / 4 * 3 + 4);

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (in[i] == '=')
                        break;
                int v = base64_value(in[i]);
                if (v < 0)
                        return -EINVAL;
                acc = (acc << 6) | (uint32_t) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (char) ((acc >> bits) & 0xff);
                }
        }
        out[o] = 0;
        if (strlen(out) != o) /* embedded NUL */
                return -EINVAL;
        *ret = TAKE_PTR(out);
        return 0;
}

static bool secret_equal(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b), n = MAX(la, lb);
        unsigned char diff = la != lb;

        for (size_t i = 0; i < n; i++)
                diff |= (unsigned char) (i < la ? a[i] : 0) ^ (unsigned char) (i < lb ? b[i] : 0);
        return diff == 0;
}

/* Who the request says it is, the ways ClickHouse accepts: X-ClickHouse-User/-Key, HTTP basic auth, or the
 * user/password URL parameters; nothing given means user "default" with an empty password. */
static int request_credentials(struct MHD_Connection *c, char **ret_user, char **ret_password) {
        const char *h_user = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-ClickHouse-User");
        const char *h_key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-ClickHouse-Key");
        const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        const char *p_user = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "user");
        const char *p_password = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "password");
        const char *b64;

        if (authz && (b64 = startswith(authz, "Basic "))) {
                _cleanup_free_ char *decoded = NULL;
                int r = base64_decode(b64, &decoded);
                if (r < 0)
                        return r;
                char *colon = strchr(decoded, ':');
                if (!colon)
                        return -EINVAL;
                *colon = 0;
                *ret_user = strdup(decoded);
                *ret_password = strdup(colon + 1);
        } else if (h_user || h_key) {
                *ret_user = strdup(h_user ?: "default");
                *ret_password = strdup(strempty(h_key));
        } else {
                *ret_user = strdup(p_user ?: "default");
                *ret_password = strdup(strempty(p_password));
        }
        if (!*ret_user || !*ret_password) {
                free(*ret_user);
                free(*ret_password);
                return -ENOMEM;
        }
        return 0;
}

/* --- request parsing ----------------------------------------------------------------------------------- */

static bool is_reserved_parameter(const char *key) {
        /* URL parameters the server consumes itself; everything else is a setting (param_* included: the
         * engine takes query parameters as settings of that name). */
        static const char *const reserved[] = {
                "query",
                "database",
                "default_format",
                "query_id",
                "user",
                "password",
                "quota_key",
                "session_id",
                "session_timeout",
                "session_check",
                "compress",
                "decompress",
                "buffer_size",
                "wait_end_of_query",
                "role",
                "stacktrace",
                "http_native_compression_disable_checksumming_on_decompress",
        };
        FOREACH_ARRAY(k, reserved, ELEMENTSOF(reserved))
                if (streq(*k, key))
                        return true;
        return false;
}

static enum MHD_Result collect_argument(
        void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        Request *r = cls;

        if (!key)
                return MHD_YES;
        /* A repeated parameter: the last one counts, as on the server. */
        char **slot = streq(key, "query")            ? &r->query
                      : streq(key, "database")       ? &r->database
                      : streq(key, "default_format") ? &r->default_format
                      : streq(key, "query_id")       ? &r->query_id
                                                     : NULL;
        if (slot) {
                free(*slot);
                *slot = strdup(strempty(value));
                return *slot ? MHD_YES : MHD_NO;
        }
        if (is_reserved_parameter(key))
                return MHD_YES;
        if (!sql_valid_setting_name(key)) {
                if (!r->bad_setting)
                        r->bad_setting = strdup(key);
                return MHD_YES;
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

static enum MHD_Result request_run(Request *r, struct MHD_Connection *c) {
        HttpFrontend *f = r->f;
        StrBuf sql = STRBUF_INIT(SIZE_MAX / 2), before = STRBUF_INIT(1024 * 1024),
               after = STRBUF_INIT(1024 * 1024);
        EngineResult res = {};
        const char *format = r->default_format ?: "TabSeparated";
        enum MHD_Result ret;
        int k;

        if (r->body_error == -E2BIG)
                return queue_exceptionf(
                        f,
                        c,
                        r->query_id,
                        "Code: 202. DB::Exception: Request body is larger than %" PRIu64
                        " bytes (--max-query-body); only INSERT ... FORMAT bodies are streamed. (QUERY_IS_TOO_LARGE)",
                        f->config->max_query_body);
        if (r->body_error == -EBADMSG)
                return queue_exceptionf(
                        f,
                        c,
                        r->query_id,
                        "Code: 354. DB::Exception: inflate/decompress failed: the request body is not valid %s data. (ZLIB_INFLATE_FAILED)",
                        r->enc == BODY_ZSTD ? "zstd" : "gzip/deflate");
        if (r->body_error < 0)
                return queue_exceptionf(
                        f,
                        c,
                        r->query_id,
                        "Code: 1001. DB::Exception: Failed to receive the request body: %s. (STD_EXCEPTION)",
                        strerror(-r->body_error));

        if (r->streaming) {
                const char *comp = body_encoding_to_compression(r->enc);
                k = strbuf_append(&sql, r->query, r->infile_at);
                if (k >= 0)
                        k = strbuf_printf(
                                &sql,
                                " FROM INFILE '/proc/self/fd/%d' COMPRESSION '%s' ",
                                r->tmp_fd,
                                comp ?: "none");
                if (k >= 0)
                        k = strbuf_puts(&sql, r->query + r->infile_at);
        } else {
                const char *body = "";
                size_t body_size = 0;
                if (r->decoder) {
                        k = body_decoder_finish(r->decoder, &body, &body_size);
                        if (k < 0) {
                                r->body_error = k;
                                return request_run(r, c);
                        }
                }
                k = strbuf_puts(&sql, strempty(r->query));
                if (k >= 0 && !isempty(r->query) && body_size > 0)
                        k = strbuf_append(&sql, "\n", 1);
                if (k >= 0)
                        k = strbuf_append(&sql, body, body_size);
                /* The decoded body is in sql now; drop the decoder's copy before running. */
                r->decoder = body_decoder_free(r->decoder);
        }
        if (k >= 0)
                k = build_session_sql(r, &before, &after);
        if (k < 0) {
                strbuf_done(&sql);
                strbuf_done(&before);
                strbuf_done(&after);
                return MHD_NO;
        }

        size_t skip = 0;
        while (skip < sql.len && strchr(" \t\r\n", sql.data[skip]))
                skip++;
        if (skip == sql.len) {
                ret = queue_exceptionf(
                        f, c, r->query_id, "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)");
                goto finish;
        }
        if (r->is_get && !sql_is_read_only(sql.data, sql.len)) {
                ret = queue_exceptionf(
                        f,
                        c,
                        r->query_id,
                        "Code: 164. DB::Exception: Cannot execute query in readonly mode. For queries over HTTP, method GET "
                        "implies readonly. You should use method POST for modifying queries. (READONLY)");
                goto finish;
        }

        EngineSession *session = engine_acquire(f->engine);
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
        if (after.len > 0 || r->database) {
                EngineResult reset = {};
                if (after.len > 0 &&
                    engine_session_query(
                            f->engine, session, after.data, after.len, "TabSeparated", &reset) == 0 &&
                    reset.error)
                        log_warning("Failed to reset session settings: %s", reset.error);
                engine_result_done(f->engine, &reset);
                if (r->database &&
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
                        f, c, r->query_id, "Code: 1001. DB::Exception: engine call failed. (STD_EXCEPTION)");
        } else if (res.error)
                ret = queue_exception(f, c, r->query_id, res.error);
        else
                ret = queue_result(f, c, r->query_id, format, &res);
        engine_result_done(f->engine, &res);

finish:
        strbuf_done(&sql);
        strbuf_done(&before);
        strbuf_done(&after);
        return ret;
}

typedef struct LengthCheck {
        bool seen;
        bool conflict;
        uint64_t value;
} LengthCheck;

static enum MHD_Result check_content_length(
        void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        LengthCheck *lc = cls;

        if (!key || strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
                return MHD_YES;
        /* A field may also carry a list ("5, 7"): every element counts as a value of its own. */
        for (const char *p = strempty(value);;) {
                uint64_t v = 0;
                bool digits = false;

                p += strspn(p, " \t");
                for (; *p >= '0' && *p <= '9'; p++) {
                        if (v > (UINT64_MAX - 9) / 10) {
                                lc->conflict = true;
                                return MHD_NO;
                        }
                        v = v * 10 + (uint64_t) (*p - '0');
                        digits = true;
                }
                p += strspn(p, " \t");
                if (!digits || (*p != ',' && *p != 0) || (lc->seen && v != lc->value)) {
                        lc->conflict = true;
                        return MHD_NO;
                }
                lc->seen = true;
                lc->value = v;
                if (*p == 0)
                        break;
                p++;
        }
        return MHD_YES;
}

/* RFC 9112 §6.3: a message whose Content-Length values differ (two fields, or a list) has no reliable
 * framing; the server must answer 400 and close the connection, whatever length it would have picked. */
static bool request_has_conflicting_length(struct MHD_Connection *c) {
        LengthCheck lc = {};
        (void) MHD_get_connection_values(c, MHD_HEADER_KIND, check_content_length, &lc);
        return lc.conflict;
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

/* First call for a request: route, authenticate, read the URL, choose how the body is taken. Returns
 * MHD_YES with *ret set to go on, or the result of having queued a final answer. */
static enum MHD_Result request_begin(
        HttpFrontend *f, struct MHD_Connection *c, const char *url, const char *method, Request **ret) {
        _cleanup_free_ char *user = NULL, *password = NULL;
        Request *r;
        int k;

        *ret = NULL;
        if (request_has_conflicting_length(c))
                return queue_bad_framing(c);
        bool is_get = streq(method, MHD_HTTP_METHOD_GET) || streq(method, MHD_HTTP_METHOD_HEAD);
        if (!is_get && !streq(method, MHD_HTTP_METHOD_POST))
                return queue_text(
                        c, MHD_HTTP_METHOD_NOT_ALLOWED, "Only GET, HEAD and POST are supported.\n");
        if (streq(url, "/ping"))
                return queue_text(c, MHD_HTTP_OK, "Ok.\n");
        if (!streq(url, "/"))
                return queue_text(
                        c,
                        MHD_HTTP_NOT_FOUND,
                        "There is no handle for this path. Use / for queries or /ping for health checks.\n");

        /* GET / without a query is the server's other health check. */
        if (is_get && !MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "query"))
                return queue_text(c, MHD_HTTP_OK, "Ok.\n");

        k = request_credentials(c, &user, &password);
        if (k == -ENOMEM)
                return MHD_NO;
        if (k < 0 || !streq(user, f->config->user) || !secret_equal(password, f->config->password)) {
                log_info("Authentication failed for user '%s'", k < 0 ? "?" : user);
                return queue_exceptionf(
                        f,
                        c,
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
        *ret = r;

        (void) MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_argument, r);
        if (!r->query_id && make_query_id(&r->query_id) < 0)
                return MHD_NO;
        if (r->bad_setting)
                return queue_exceptionf(
                        f,
                        c,
                        r->query_id,
                        "Code: 115. DB::Exception: Unknown setting '%s'. (UNKNOWN_SETTING)",
                        r->bad_setting);
        if (r->too_many_settings)
                return queue_exceptionf(
                        f,
                        c,
                        r->query_id,
                        "Code: 36. DB::Exception: Too many settings in the URL (at most %d). (BAD_ARGUMENTS)",
                        MAX_SETTINGS);
        if (r->default_format && !sql_valid_setting_name(r->default_format))
                return queue_exceptionf(
                        f,
                        c,
                        r->query_id,
                        "Code: 73. DB::Exception: Unknown format %s. (UNKNOWN_FORMAT)",
                        r->default_format);

        const char *encoding =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
        r->enc = body_encoding_from_string(encoding);
        if (r->enc < 0)
                return queue_exceptionf(
                        f,
                        c,
                        r->query_id,
                        "Code: 36. DB::Exception: Unknown HTTP Content-Encoding '%s': supported are gzip, deflate and zstd. (BAD_ARGUMENTS)",
                        encoding);

        if (!is_get && !isempty(r->query) &&
            sql_insert_infile_point(r->query, strlen(r->query), &r->infile_at)) {
                r->tmp_fd = open_tmp_file(f->tmp_dir);
                if (r->tmp_fd < 0) {
                        log_error_errno(
                                r->tmp_fd, "Failed to create a temporary file in %s: %m", f->tmp_dir);
                        return queue_exceptionf(
                                f,
                                c,
                                r->query_id,
                                "Code: 76. DB::Exception: Cannot create a temporary file for the INSERT body: %s. (CANNOT_OPEN_FILE)",
                                strerror(-r->tmp_fd));
                }
                r->streaming = true;
        } else {
                k = body_decoder_new(r->enc, f->config->max_query_body, &r->decoder);
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
                        if (r->streaming) {
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
