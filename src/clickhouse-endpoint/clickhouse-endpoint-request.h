/* SPDX-License-Identifier: MIT */
#pragma once

#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "clickhouse-endpoint.h"
#include "macro.h"
#include "strbuf.h"

/* The HTTP frontend's own parts, shared by its files only (clickhouse-endpoint-http.c and the request,
 * upload, run and response files); the rest of the endpoint sees HttpFrontend through clickhouse-endpoint.h.
 */

#define MAX_SETTINGS 256
#define CONTENT_TYPE_TEXT "text/plain; charset=UTF-8"
/* The lowest revision whose Native blocks are converted: below it, the server also leaves out LowCardinality
 * and DateTime time zones, which is not done here. */
#define MIN_CLIENT_REVISION 54405
#define SESSION_TIMEOUT_DEFAULT 60
#define SESSION_TIMEOUT_MAX 3600

typedef struct EndpointConnection EndpointConnection;

struct HttpFrontend {
        const EndpointConfig *config;
        Engine *engine;
        struct MHD_Daemon *daemon;
        char *tmp_dir;
        char display_name[256];
        uint16_t port;
        unsigned in_flight; /* requests between their first call and completion (atomic) */

        /* Connections that wait for a request (see clickhouse-endpoint-http.c), under lock. */
        pthread_mutex_t lock;
        pthread_cond_t wake; /* the reaper's: the oldest waiting connection changed, or stop */
        pthread_t reaper;
        bool reaper_running, stopping;
        EndpointConnection *oldest, *newest; /* waiting for a request, longest first */
        unsigned n_live;                     /* connections not shut down by us */
        uint64_t timeout_usec;
};

typedef struct Request {
        HttpFrontend *f;
        bool is_get;
        EngineRole user; /* who the request authenticated as */
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
        SqlStatement url_statement; /* ?query= of a streamed INSERT */
        int tmp_fd;
        bool decoded; /* the file holds the body decoded (no COMPRESSION for the engine) */

        BodyDecoder *decoder; /* Content-Encoding */
        FrameDecoder *frames; /* decompress=1 */
        StrBuf body;          /* the decoded body, when not streamed */
        int body_error;       /* first error while receiving the body */
} Request;

/* --- the request's first call: URL, parameters, authentication (clickhouse-endpoint-request.c) --------- */

/* Routes, authenticates and reads the URL of a new request, and chooses how its body is taken. Returns
 * MHD_YES with *ret set to go on, or the result of having queued a final answer. */
enum MHD_Result request_begin(
        HttpFrontend *f, struct MHD_Connection *c, const char *url, const char *method, Request **ret);
Request *request_free(Request *r);

/* For checks that end in an answer: stores it and returns 1. */
static inline int answered(enum MHD_Result *answer, enum MHD_Result v) {
        *answer = v;
        return 1;
}

/* --- the body on its way in (clickhouse-endpoint-upload.c) --------------------------------------------- */

/* An unnamed temporary file in dir for an INSERT's rows; a negative errno. */
int open_tmp_file(const char *dir);
/* Takes the next part of the request body. */
void request_receive(Request *r, const char *data, size_t size);
/* Where decoded body bytes end up: the INSERT's temporary file, or memory (bounded). */
int sink_final(void *userdata, const void *data, size_t size);
/* After the Content-Encoding: into the framing decoder, or straight on. */
int sink_decoded(void *userdata, const void *data, size_t size);
/* Answers with the first error met while receiving the body (r->body_error). */
enum MHD_Result queue_body_error(Request *r, struct MHD_Connection *c);
/* A multipart/form-data body into the SQL text and parameters; 1 with an answer queued when the form is
 * refused, -ENOMEM. */
int take_form(Request *r, struct MHD_Connection *c, StrBuf *sql, enum MHD_Result *answer);

/* --- running the statement (clickhouse-endpoint-run.c) ------------------------------------------------- */

/* Once the whole body is in: runs the request's statement on an engine session and queues the answer. */
enum MHD_Result request_run(Request *r, struct MHD_Connection *c);

/* --- answers (clickhouse-endpoint-response.c) ---------------------------------------------------------- */

enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status, const char *text);
/* Answers with a ClickHouse exception: the status ClickHouse would use, the code in
 * X-ClickHouse-Exception-Code, and the message. r may be NULL before the request's parameters are read. */
enum MHD_Result queue_exception(
        HttpFrontend *f, struct MHD_Connection *c, Request *r, const char *query_id, const char *message);
_printf_(5, 6) enum MHD_Result queue_exceptionf(
        HttpFrontend *f,
        struct MHD_Connection *c,
        Request *r,
        const char *query_id,
        const char *format,
        ...);
/* Sends the engine's result (the response takes it over). */
enum MHD_Result queue_result(
        Request *r, struct MHD_Connection *c, const char *query_id, const char *format, EngineResult *res);
/* 400 for a request whose Content-Length fields disagree; the connection is closed after it. */
enum MHD_Result queue_bad_framing(struct MHD_Connection *c);
/* 400 with text (a static string); the connection is closed after it. */
enum MHD_Result queue_bad_request(struct MHD_Connection *c, const char *text);
/* A CORS preflight. */
enum MHD_Result queue_options(struct MHD_Connection *c);
