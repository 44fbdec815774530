/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "cleanup.h"
#include "clickhouse-endpoint-request.h"
#include "clickhouse-endpoint.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "strbuf.h"
#include "util.h"

/* A request's first call: routing, authentication, the URL's parameters and settings, the checks of the
 * reserved ones, and how the body will be taken. */

Request *request_free(Request *r) {
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

/* Peers allowed to log in as otel_admin: this machine only, as the admin's "networks: localhost" in the
 * cluster (see docs/security.md). */
static bool peer_is_loopback(struct MHD_Connection *c) {
        const union MHD_ConnectionInfo *info =
                MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = info ? info->client_addr : NULL;

        if (!sa)
                return false;
        if (sa->sa_family == AF_INET) {
                struct sockaddr_in a4;
                memcpy(&a4, sa, sizeof(a4));
                return (ntohl(a4.sin_addr.s_addr) >> 24) == 127;
        }
        if (sa->sa_family == AF_INET6) {
                struct sockaddr_in6 a6;
                memcpy(&a6, sa, sizeof(a6));
                if (IN6_IS_ADDR_LOOPBACK(&a6.sin6_addr))
                        return true;
                return IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr) && a6.sin6_addr.s6_addr[12] == 127;
        }
        return false;
}

/* The endpoint's user named user whose password is password, allowed from this peer. */
static EngineRole authenticate(
        HttpFrontend *f, struct MHD_Connection *c, const char *user, const char *password) {
        for (EngineRole role = 0; role < _ENGINE_ROLE_MAX; role++) {
                if (!streq(user, engine_role_name(role)))
                        continue;
                if (!f->config->passwords[role] || !secret_equal(password, f->config->passwords[role]))
                        return _ENGINE_ROLE_INVALID;
                if (role == ENGINE_ROLE_ADMIN && !peer_is_loopback(c))
                        return _ENGINE_ROLE_INVALID;
                return role;
        }
        return _ENGINE_ROLE_INVALID;
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
        if (r->role && !streq(r->role, engine_role_name(r->user)))
                /* Each user has one role, its own. */
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

/* An INSERT whose rows are the body (nothing after VALUES or the format name in ?query=): the body goes to a
 * temporary file as it arrives and is never held in memory. */
static bool insert_rows_are_the_body(Request *r) {
        sql_analyze(r->query, strlen(r->query), &r->url_statement);
        return r->url_statement.refusal == SQL_ACCEPTED && r->url_statement.insert_data &&
               r->url_statement.data_at == strlen(r->query);
}

typedef struct FramingCensus {
        unsigned host, length, encoding;
} FramingCensus;

static enum MHD_Result count_framing_header(
        void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        FramingCensus *fc = cls;

        if (!key)
                return MHD_YES;
        if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
                fc->host++;
        else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
                fc->length++;
        else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
                fc->encoding++;
        return MHD_YES;
}

/* RFC 9112 §3.2, §6.1: two Host fields, or a body framed by both Transfer-Encoding and Content-Length, are
 * requests two parties can read differently (libmicrohttpd takes the first Host and lets Transfer-Encoding
 * win; a proxy in front may do otherwise). Refused, with the connection closed, before the body is read. */
static const char *ambiguous_request(struct MHD_Connection *c) {
        FramingCensus fc = {};

        (void) MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing_header, &fc);
        if (fc.host > 1)
                return "Bad Request: more than one Host header field.\n";
        if (fc.encoding > 0 && fc.length > 0)
                return "Bad Request: both Transfer-Encoding and Content-Length header fields.\n";
        return NULL;
}

/* First call for a request: route, authenticate, read the URL, choose how the body is taken. Returns
 * MHD_YES with *ret set to go on, or the result of having queued a final answer. */
enum MHD_Result request_begin(
        HttpFrontend *f, struct MHD_Connection *c, const char *url, const char *method, Request **ret) {
        _cleanup_free_ char *user = NULL, *password = NULL;
        enum MHD_Result answer;
        Request *r;
        int k;

        *ret = NULL;
        if (http_request_has_conflicting_length(c))
                return queue_bad_framing(c);
        const char *ambiguous = ambiguous_request(c);
        if (ambiguous)
                return queue_bad_request(c, ambiguous);
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
        EngineRole user_role = k < 0 ? _ENGINE_ROLE_INVALID : authenticate(f, c, user, password);
        if (user_role < 0) {
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
        r->user = user_role;
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
        } else if (!is_get && !isempty(r->query) && insert_rows_are_the_body(r)) {
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
