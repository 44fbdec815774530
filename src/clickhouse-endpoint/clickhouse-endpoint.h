/* SPDX-License-Identifier: MIT */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/* The embedded ClickHouse endpoint: the ClickHouse HTTP interface served on top of libchdb (the ClickHouse
 * engine as a shared library, loaded at run time). See docs/internals/clickhouse-endpoint.md. */

/* --- engine (clickhouse-endpoint-engine.c) ------------------------------------------------------------ */

typedef struct Engine Engine;

/* What one statement produced. On a ClickHouse error, error holds the engine's message and the other fields
 * are zero. data points into the engine's result, valid until engine_result_done(). */
typedef struct EngineResult {
        char *error;
        void *handle;
        const char *data;
        size_t size;
        uint64_t read_rows, read_bytes;
        uint64_t written_rows, written_bytes;
        uint64_t result_rows, result_bytes;
        uint64_t elapsed_ns;
} EngineResult;

/* Loads the library at lib_path and opens (or creates) the database directory data_dir, with the
 * endpoint's access control (users as roles, grants, constant settings); at most max_running request
 * sessions run at once. */
int engine_open(const char *lib_path, const char *data_dir, unsigned max_running, Engine **ret);
Engine *engine_free(Engine *e);
static inline void engine_freep(Engine **e) {
        if (*e)
                engine_free(*e);
}

/* The server version as SELECT version() reports it, e.g. "26.5.1.1". */
const char *engine_version(const Engine *e);

/* The endpoint's users, each a role of the engine with its own grants. */
typedef enum EngineRole {
        ENGINE_ROLE_ADMIN,  /* otel_admin: the schema; the endpoint's own statements */
        ENGINE_ROLE_INGEST, /* otel_ingest: INSERT into the tables the shipper writes */
        ENGINE_ROLE_READER, /* otel_reader: SELECT, readonly=2 */
        _ENGINE_ROLE_MAX,
        _ENGINE_ROLE_INVALID = -22,
} EngineRole;

/* "otel_admin", "otel_ingest", "otel_reader". */
const char *engine_role_name(EngineRole role);

/* One engine connection for one request, with one role's rights and, when readonly is 1 or 2, that readonly
 * level, which the session cannot lower. Waits while max_running sessions are open. */
typedef struct EngineSession EngineSession;
int engine_session_open(Engine *e, EngineRole role, unsigned readonly, EngineSession **ret);
/* The session a client named (the session_id URL parameter), for one user and readonly level: an engine
 * connection of its own, kept until it has been idle for timeout_sec (or closed after this request with
 * close_after), so that its settings, current database and temporary tables live on between requests.
 * -EBUSY when a request of the session is running (the server's SESSION_IS_LOCKED), -ENOENT when
 * must_exist and there is none, -EUSERS when 32 sessions are open already. */
int engine_acquire_named(
        Engine *e,
        const char *id,
        EngineRole role,
        unsigned readonly,
        unsigned timeout_sec,
        bool must_exist,
        bool close_after,
        EngineSession **ret);
/* Gives a session back: a request's session is closed, a named one kept for its next request. */
void engine_release(Engine *e, EngineSession *s);

/* Runs one query on a held session. Returns 0 with *ret filled (ret->error set for a ClickHouse error),
 * or a negative errno when the engine could not be called at all. */
int engine_session_query(
        Engine *e, EngineSession *s, const char *query, size_t size, const char *format, EngineResult *ret);
/* Runs one of the endpoint's own statements (schema, retention) on its admin session. */
int engine_query(Engine *e, const char *query, size_t size, const char *format, EngineResult *ret);
void engine_result_done(Engine *e, EngineResult *r);

/* --- ClickHouse errors (clickhouse-endpoint-error.c) --------------------------------------------------- */

/* Splits an engine error message into its exception code and the text ClickHouse's own server would send:
 * "Code: N. DB::Exception: ... (NAME)" (an inner exception re-wrapped by the engine is unwrapped). Returns
 * the code (1001, STD_EXCEPTION, when the message carries none) and a malloc()ed text in *ret_text, or
 * -ENOMEM. */
int clickhouse_error_parse(const char *message, char **ret_text);
/* The exception's name, the trailing "(NAME)" of a ClickHouse message, copied into buf; "" when absent. */
const char *clickhouse_error_name(const char *message, char *buf, size_t size);
/* The HTTP status ClickHouse answers an exception with (exceptionCodeToHTTPStatus.cpp), by name. */
unsigned clickhouse_error_http_status(const char *name);

/* --- SQL text (clickhouse-endpoint-sql.c) -------------------------------------------------------------- */

/* Why the endpoint refuses a statement itself: what the engine would do outside the database on the
 * endpoint's behalf, and which nothing in the engine checks (see docs/storage.md, "Access control"). */
typedef enum SqlRefusal {
        SQL_ACCEPTED,
        SQL_REFUSED_MULTI_STATEMENT, /* more than one statement: the server accepts one per request */
        SQL_REFUSED_INTO_OUTFILE,    /* ... INTO OUTFILE: the engine's client writes the file */
        SQL_REFUSED_FROM_INFILE,     /* INSERT ... FROM INFILE: the engine's client reads the file */
        SQL_REFUSED_SET_ROLE,        /* SET [DEFAULT] ROLE: would change the user's rights */
        SQL_REFUSED_FILE_FUNCTION,   /* the scalar file(path): reads any file, no grant checked */
} SqlRefusal;

typedef struct SqlStatement {
        SqlRefusal refusal;
        size_t refusal_at; /* offset of the refused construct */
        bool empty;        /* nothing but white space and comments */
        bool insert;
        /* An INSERT ... VALUES or ... FORMAT F: text[data_at..] is rows, never SQL; the endpoint hands them
         * to the engine in a file, with sql_append_insert_from_file(). */
        bool insert_data;
        size_t infile_at; /* where "FROM INFILE ..." belongs: before SETTINGS, else before VALUES/FORMAT */
        size_t values_at; /* the VALUES keyword (becomes FORMAT Values), or SIZE_MAX */
        size_t sql_end;   /* end of the statement's SQL text (before a trailing ';'; before the rows) */
        size_t data_at;   /* where the rows begin (the text's length when there are none) */
} SqlStatement;

/* Reads a request's SQL text as the engine's lexer does. Never fails: any text gets an answer. */
void sql_analyze(const char *q, size_t n, SqlStatement *ret);
/* The ClickHouse exception for a refusal, as the server words it where the server has one. */
const char *sql_refusal_message(SqlRefusal r);
/* Appends the INSERT of st (an insert_data statement of q) with its rows read from path:
 * q[0..infile_at) FROM INFILE 'path' COMPRESSION 'compression' q[infile_at..sql_end), VALUES becoming
 * FORMAT Values. path must not contain quotes. */
int sql_append_insert_from_file(
        StrBuf *b, const char *q, const SqlStatement *st, const char *path, const char *compression);

/* The output or input format a statement names in a top-level "FORMAT <name>" clause, copied into buf;
 * false when it names none (then default_format applies). */
bool sql_format_clause(const char *q, size_t n, char *buf, size_t size);

/* A setting or parameter name: [A-Za-z_][A-Za-z0-9_.]* (dots for param names are not allowed). */
bool sql_valid_setting_name(const char *s);

/* --- schema (clickhouse-endpoint-schema.c) ------------------------------------------------------------- */

/* Parses "26.5.1.1" into major and minor. */
int schema_parse_version(const char *v, unsigned *ret_major, unsigned *ret_minor);
/* The schema files to apply, in order, for a server of the given version: every *.sql in dir by name, where
 * "X.compat.sql" replaces "X.sql" on servers older than 26.2 and is skipped otherwise. Returns a
 * NULL-terminated array of full paths. */
int schema_list_files(const char *dir, unsigned major, unsigned minor, char ***ret);
/* Applies the schema files to the engine; logs the failing file and the engine's message. */
int schema_apply(Engine *e, const char *dir);
/* Sets otel_logs' retention when it differs from the table's current TTL. */
int schema_set_logs_ttl_days(Engine *e, unsigned days);

/* --- HTTP (clickhouse-endpoint-http.c; its parts share clickhouse-endpoint-request.h) -------------- */

typedef struct EndpointConfig {
        char *listen_address;
        uint16_t port;
        char *data_dir;
        char *chdb_lib;
        char *secrets_dir;
        /* Each user's password (otel_admin, otel_ingest, otel_reader), by role. */
        char *passwords[_ENGINE_ROLE_MAX];
        char *schema_dir;
        int64_t logs_ttl_days; /* 0: leave as the schema sets it */
        uint64_t max_query_body;
        int64_t max_connections;
        int64_t shutdown_timeout_sec;
        int64_t engine_sessions;
} EndpointConfig;

typedef struct HttpFrontend HttpFrontend;

struct sockaddr_storage;
/* Parses --listen (an IPv4 or IPv6 address, no name lookup) into a socket address with the port; -EINVAL if
 * it is neither. ret and ret_ipv6 may be NULL to only check it. */
int endpoint_parse_listen_address(
        const char *address, uint16_t port, struct sockaddr_storage *ret, bool *ret_ipv6);

int http_frontend_start(const EndpointConfig *config, Engine *engine, HttpFrontend **ret);
uint16_t http_frontend_port(const HttpFrontend *f);
/* Stops accepting, waits up to timeout_sec for requests in flight to finish, then stops. */
HttpFrontend *http_frontend_stop(HttpFrontend *f, unsigned timeout_sec);

/* --- ClickHouse's compressed framing (clickhouse-endpoint-frame.c) ------------------------------------- */

typedef enum FrameMethod {
        FRAME_METHOD_NONE = 0x02,
        FRAME_METHOD_LZ4 = 0x82,
        FRAME_METHOD_ZSTD = 0x90,
} FrameMethod;

/* CityHash128 as of CityHash 1.0.2, the framing's checksum: ret[0] the low, ret[1] the high half. */
void cityhash128_v1_0_2(const void *data, size_t len, uint64_t ret[2]);

/* Receives decoded bytes; a negative errno stops the stream. */
typedef int (*FrameSink)(void *userdata, const void *data, size_t size);

typedef struct FrameDecoder FrameDecoder;

/* Decodes compressed blocks incrementally and passes their contents to sink. verify: check each block's
 * checksum (http_native_compression_disable_checksumming_on_decompress turns it off). */
int frame_decoder_new(bool verify, FrameSink sink, void *userdata, FrameDecoder **ret);
FrameDecoder *frame_decoder_free(FrameDecoder *d);
/* Returns 0, or the sink's error, -EILSEQ (checksum mismatch), -EPROTONOSUPPORT (unknown method), -EFBIG
 * (block above 1 GiB), -EBADMSG (corrupt block). */
int frame_decoder_feed(FrameDecoder *d, const void *data, size_t size);
/* -EBADMSG when the input stopped inside a block. */
int frame_decoder_finish(FrameDecoder *d);
/* Frames data as compressed blocks of up to 1 MiB each; no data gives no blocks. */
int frame_encode(FrameMethod method, const void *data, size_t size, char **ret, size_t *ret_size);

/* --- Native format revisions (clickhouse-endpoint-native.c) ---------------------------------------------
 */

typedef int (*NativeWriteFn)(void *userdata, const void *data, size_t size);

/* Rewrites a Native stream written for protocol revision from_revision as revision to_revision would have it
 * (block info, the per-column serialization byte), passing the output to write. Returns 0, or -EBADMSG /
 * -EOPNOTSUPP with a malloc()ed reason in *ret_error (a truncated block, a type or serialization that
 * cannot be walked), or write's error. */
int native_convert(
        const void *data,
        size_t size,
        uint64_t from_revision,
        uint64_t to_revision,
        NativeWriteFn write,
        void *userdata,
        char **ret_error);

/* --- multipart/form-data (clickhouse-endpoint-multipart.c) --------------------------------------------- */

typedef struct MultipartPart {
        char *name;
        char *filename; /* NULL for a plain field; a file part is an external table on the server */
        char *value;    /* NUL-terminated copy */
        size_t size;
} MultipartPart;

/* The boundary of a "multipart/form-data; boundary=..." Content-Type (malloc()ed), or NULL. */
char *multipart_boundary(const char *content_type);
/* Splits a whole multipart body into its parts; -EBADMSG when it is not well formed, -E2BIG past 1024 parts.
 */
int multipart_parse(
        const char *body, size_t size, const char *boundary, MultipartPart **ret_parts, size_t *ret_n);
void multipart_parts_free(MultipartPart *parts, size_t n);

/* --- request headers (clickhouse-endpoint-headers.c) ----------------------------------------------------
 */

struct MHD_Connection;
struct MHD_Response;

/* Who the request says it is, the ways ClickHouse accepts (X-ClickHouse-User/-Key, HTTP basic, user/password
 * parameters; none means "default" with an empty password). -EINVAL for unreadable basic credentials. */
int http_request_credentials(struct MHD_Connection *c, char **ret_user, char **ret_password);
/* Compares secrets in time independent of where they differ. */
bool secret_equal(const char *a, const char *b);
/* Whether the request's Content-Length fields disagree or cannot be read (RFC 9112 §6.3). */
bool http_request_has_conflicting_length(struct MHD_Connection *c);
/* Adds the pairs of an http_response_headers value ({'Name':'value', ...}) to resp; with resp NULL, only
 * checks it. False when it cannot be read or names a header that may not be set (framing headers). */
bool http_apply_response_headers(const char *spec, struct MHD_Response *resp);

/* --- body decoding (clickhouse-endpoint-body.c) -------------------------------------------------------- */

typedef enum BodyEncoding {
        BODY_IDENTITY,
        BODY_GZIP,
        BODY_DEFLATE,
        BODY_ZSTD,
        BODY_LZ4, /* the LZ4 frame format */
        _BODY_ENCODING_MAX,
        _BODY_ENCODING_INVALID = -22,
} BodyEncoding;

/* Content-Encoding header value to encoding (NULL or "" is identity); _BODY_ENCODING_INVALID if unknown. */
BodyEncoding body_encoding_from_string(const char *s);
/* The response encoding for an Accept-Encoding value (zstd, lz4, gzip, deflate), identity otherwise. */
BodyEncoding body_encoding_from_accept(const char *accept);
/* Compresses a whole response body (gzip, deflate, zstd or lz4) at the given level (not for lz4). */
int body_encode(BodyEncoding enc, int level, const void *data, size_t size, char **ret, size_t *ret_size);
/* The name the engine's COMPRESSION clause uses, or NULL for identity. */
const char *body_encoding_to_compression(BodyEncoding enc);

typedef struct BodyDecoder BodyDecoder;

/* Decodes a request body incrementally into a bounded buffer. */
int body_decoder_new(BodyEncoding enc, size_t max, BodyDecoder **ret);
/* The same, passing the decoded bytes to sink as they come instead of keeping them (no bound); finish
 * then only checks that the stream ended cleanly (pass NULL for its results). */
int body_decoder_new_sink(BodyEncoding enc, FrameSink sink, void *userdata, BodyDecoder **ret);
BodyDecoder *body_decoder_free(BodyDecoder *d);
/* Returns 0, -E2BIG when the decoded body would exceed max, -EBADMSG on corrupt input. */
int body_decoder_feed(BodyDecoder *d, const void *data, size_t size);
/* Checks the stream ended cleanly (-EBADMSG otherwise) and returns the decoded bytes (owned by d). */
int body_decoder_finish(BodyDecoder *d, const char **ret, size_t *ret_size);
