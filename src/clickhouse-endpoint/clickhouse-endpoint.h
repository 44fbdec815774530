/* SPDX-License-Identifier: MIT */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* Loads the library at lib_path and opens (or creates) the database directory data_dir, with n_sessions
 * connections to it (each runs one statement at a time; together they run concurrently). */
int engine_open(const char *lib_path, const char *data_dir, unsigned n_sessions, Engine **ret);
Engine *engine_free(Engine *e);
static inline void engine_freep(Engine **e) {
        if (*e)
                engine_free(*e);
}

/* The server version as SELECT version() reports it, e.g. "26.5.1.1". */
const char *engine_version(const Engine *e);

/* One engine connection with its own session state (settings, current database). A caller holds one
 * across the statements that belong together (session settings, the query, their reset). */
typedef struct EngineSession EngineSession;

/* Waits for a free session and takes it. */
EngineSession *engine_acquire(Engine *e);
/* The session a client named (the session_id URL parameter): an engine connection of its own, kept until it
 * has been idle for timeout_sec (or closed after this request with close_after), so that its settings,
 * current database and temporary tables live on between requests. -EBUSY when a request of the session is
 * running (the server's SESSION_IS_LOCKED), -ENOENT when must_exist and there is none, -EUSERS when 32
 * sessions are open already. engine_release() gives it back. */
int engine_acquire_named(
        Engine *e,
        const char *id,
        unsigned timeout_sec,
        bool must_exist,
        bool close_after,
        EngineSession **ret);
void engine_release(Engine *e, EngineSession *s);

/* Runs one query on a held session. Returns 0 with *ret filled (ret->error set for a ClickHouse error),
 * or a negative errno when the engine could not be called at all. */
int engine_session_query(
        Engine *e, EngineSession *s, const char *query, size_t size, const char *format, EngineResult *ret);
/* Acquires, runs, releases; for callers that need a single statement. */
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

/* Whether a GET may run the query: its first keyword is one of those ClickHouse runs with readonly=2
 * (SELECT, WITH, SHOW, DESCRIBE, DESC, EXISTS, EXPLAIN). */
bool sql_is_read_only(const char *q, size_t n);

/* For "INSERT INTO <target> [(cols)] [SETTINGS ...] FORMAT <name>" with nothing after the format name,
 * returns true and the offset where "FROM INFILE ..." belongs (before SETTINGS, else before FORMAT). Any
 * other statement (VALUES, SELECT, inline data after FORMAT, not an INSERT) returns false. */
bool sql_insert_infile_point(const char *q, size_t n, size_t *ret_offset);

/* The output or input format a statement names in a top-level "FORMAT <name>" clause, copied into buf;
 * false when it names none (then default_format applies). */
bool sql_format_clause(const char *q, size_t n, char *buf, size_t size);

/* For "INSERT INTO <target> ... FORMAT <name> <data>" (data inline, as clients send a whole statement in the
 * body): where FROM INFILE belongs (*ret_offset), where the statement ends (*ret_end, after the format name)
 * and where the data starts (*ret_data: after spaces and tabs and then one line break, as the server's
 * parser has it). False for any other statement. */
bool sql_insert_inline_data(const char *q, size_t n, size_t *ret_offset, size_t *ret_end, size_t *ret_data);

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

/* --- HTTP (clickhouse-endpoint-http.c) ----------------------------------------------------------------- */

typedef struct EndpointConfig {
        char *listen_address;
        uint16_t port;
        char *data_dir;
        char *chdb_lib;
        char *user;
        char *password;
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
