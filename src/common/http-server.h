/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

/* Small HTTP/1.1 endpoints (health, readiness, metrics, status) on libmicrohttpd, driven by an sd-event
 * loop: libmicrohttpd runs in its external-epoll mode, its epoll fd is one IO source of the loop and its
 * timeouts one timer, so handlers run on the loop's thread and may read the daemon's state without locks.
 *
 * One HttpServer is one listening socket (TCP or unix) with one route table. Unknown paths get 404, a known
 * path with a method it does not allow gets 405 with an Allow header, a request line or headers beyond the
 * memory limit 414/431, bodies beyond max_body 413, an HTTP/1.1 request without Host or with framing two
 * parties could read differently (two Host or differing Content-Length fields, Content-Length with
 * Transfer-Encoding) 400, a transfer coding other than chunked 501; all without disturbing anything else. A
 * refused request that announced a body is answered before any of the body is read.
 *
 * Clients that hold connections without finishing a request (dead peers, slowloris floods) cannot lock the
 * others out: each request gets timeout_sec from the moment its connection began waiting for it, and a
 * connection beyond max_connections closes the one that has waited longest, so a new client is answered at
 * once however many connections a flood keeps open. */

typedef struct HttpServer HttpServer;
typedef struct HttpRequest HttpRequest;

enum {
        HTTP_GET = 1 << 0,
        HTTP_HEAD = 1 << 1,
        HTTP_POST = 1 << 2,
        HTTP_PUT = 1 << 3,
        HTTP_DELETE = 1 << 4,
        HTTP_READ = HTTP_GET | HTTP_HEAD,
};

#define HTTP_RESPONSE_HEADERS_MAX 8

typedef struct HttpResponse {
        unsigned status;          /* defaults to 200 */
        const char *content_type; /* defaults to text/plain; charset=utf-8 (must be a static string) */
        char *body;               /* malloc()ed, owned by the response; may be NULL */
        size_t size;
        size_t n_headers;
        struct {
                char *name, *value;
        } headers[HTTP_RESPONSE_HEADERS_MAX];
} HttpResponse;

/* Handlers return 0 after filling resp, or a negative errno, answered with 500 (and logged at debug). */
typedef int (*HttpHandler)(const HttpRequest *req, HttpResponse *resp, void *userdata);

typedef struct HttpRoute {
        const char *path; /* exact match on the path, the query string excluded */
        unsigned methods; /* HTTP_GET | ... */
        HttpHandler handler;
} HttpRoute;

typedef struct HttpServerConfig {
        const HttpRoute *routes;
        size_t n_routes;
        void *userdata;
        size_t max_body; /* request body limit; 0 refuses any body */
        /* Connections held at once; 0 → 64. One more makes the server close the connection that has waited
         * longest for a request (a flood of dead or slow clients never locks real ones out). */
        unsigned max_connections;
        /* 0 → 10. Each request must arrive complete, and its answer be taken, within this long of the moment
         * the connection began waiting for it (accepted, or its previous answer sent); then the connection
         * is closed, however slowly it kept trickling bytes. It is also the idle timeout. */
        unsigned timeout_sec;
        const char *server_header; /* Server: value, or NULL */
} HttpServerConfig;

/* address is an IPv4 or IPv6 literal ("0.0.0.0", "127.0.0.1", "::"); port 0 picks a free port. */
int http_server_new_tcp(
        sd_event *e, const char *address, uint16_t port, const HttpServerConfig *c, HttpServer **ret);
/* Replaces a stale socket file at path; the socket gets the given mode. */
int http_server_new_unix(
        sd_event *e, const char *path, mode_t mode, const HttpServerConfig *c, HttpServer **ret);
HttpServer *http_server_free(HttpServer *s);
static inline void http_server_freep(HttpServer **s) {
        if (*s)
                http_server_free(*s);
}

/* The bound TCP port (useful after asking for port 0); 0 for unix sockets. */
uint16_t http_server_port(const HttpServer *s);

typedef struct HttpServerStats {
        unsigned connections; /* open now, not counting those being closed */
        uint64_t accepted;    /* connections accepted since the start */
        uint64_t evicted;     /* closed to make room for a newer one at max_connections */
        uint64_t timed_out;   /* closed because a request took longer than timeout_sec */
} HttpServerStats;

void http_server_get_stats(const HttpServer *s, HttpServerStats *ret);

/* Request accessors. */
const char *http_request_method(const HttpRequest *req);
const char *http_request_path(const HttpRequest *req);
const char *http_request_query(const HttpRequest *req, const char *name); /* decoded value or NULL */
const char *http_request_header(const HttpRequest *req, const char *name);
const char *http_request_body(const HttpRequest *req, size_t *ret_size);

/* A handler that cannot answer at once (it waits for ClickHouse, say) takes the request over: it calls
 * http_request_defer() and returns 0 without filling resp. The connection then waits, without blocking the
 * loop, until http_deferred_finish() hands over the answer, which must happen within timeout_sec of the
 * request (the connection is closed after that, the answer dropped). If the server is freed first, cancel
 * is called instead (from http_server_free()); the HttpDeferred is gone after finish or cancel. */
typedef struct HttpDeferred HttpDeferred;
typedef void (*HttpDeferredCancel)(void *userdata);

HttpDeferred *http_request_defer(const HttpRequest *req, HttpDeferredCancel cancel, void *userdata);
/* Sends resp (taken over, as a handler's would be). */
void http_deferred_finish(HttpDeferred *d, HttpResponse *resp);

/* Response helpers: set the body to a copy of s / a printf result. Return 0 or -ENOMEM. */
int http_response_set_text(HttpResponse *resp, unsigned status, const char *s);
int http_response_printf(HttpResponse *resp, unsigned status, const char *format, ...)
        __attribute__((__format__(printf, 3, 4)));
int http_response_add_header(HttpResponse *resp, const char *name, const char *value);
void http_response_done(HttpResponse *resp);
