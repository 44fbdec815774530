/* SPDX-License-Identifier: MIT */
/* One file (~860 lines) on purpose: the connection list, the request checks and libmicrohttpd's callbacks
 * all read and change the server's private state (HttpServer, HttpConnection, HttpRequest) at points
 * libmicrohttpd chooses; kept together, every path from accept to close reads in one place. The interface
 * and the limits are in http-server.h. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "cleanup.h"
#include "http-server.h"
#include "log.h"
#include "parse-util.h"
#include "util.h"

/* Header bytes a client may send per connection before it is answered 431 by libmicrohttpd. */
#define HTTP_CONNECTION_MEMORY_LIMIT (32 * 1024)

#define HTTP_MAX_CONNECTIONS_DEFAULT 64u
#define HTTP_TIMEOUT_SEC_DEFAULT 10u

/* One client connection, from libmicrohttpd's STARTED notification to its CLOSED one. The live ones sit in
 * the server's list, ordered by the time they began waiting for their current request (accept, or the end
 * of the previous answer): the head is the one that has kept a slot the longest without getting anything
 * done. */
typedef struct HttpConnection HttpConnection;
struct HttpConnection {
        HttpConnection *prev, *next;
        int fd;         /* owned by libmicrohttpd: only ever shut down here, never closed */
        uint64_t since; /* CLOCK_MONOTONIC µs */
        bool closing;   /* shut down by us and out of the list; libmicrohttpd closes it on its next turn */
};

struct HttpServer {
        sd_event *event;
        struct MHD_Daemon *daemon;
        sd_event_source *io_source;
        sd_event_source *timer_source;    /* libmicrohttpd's own timeouts (MHD_get_timeout) */
        sd_event_source *deadline_source; /* the oldest live connection's request deadline */
        HttpServerConfig config;
        HttpRoute *routes;
        int listen_fd;
        uint16_t port;
        char *unix_path;

        HttpConnection *oldest, *newest;
        HttpRequest *deferred; /* requests waiting for http_deferred_finish(), a list */
        unsigned n_live;       /* connections in the list */
        uint64_t timeout_usec; /* per request, from the time it began waiting */
        bool closed_since_run; /* a connection was closed during the last MHD_run() */
        HttpServerStats stats;
};

struct HttpRequest {
        HttpServer *server;
        struct MHD_Connection *connection;
        const HttpRoute *route;
        const char *method;
        const char *path;
        char *body;
        size_t body_size;
        size_t body_alloc;
        unsigned refuse;         /* status to answer without calling the handler, or 0 */
        const char *refuse_text; /* its body (a static string) */

        /* http_request_defer(): the connection is suspended until the answer is handed over. */
        bool deferred, finished, in_handler;
        HttpResponse answer;
        HttpDeferredCancel cancel;
        void *cancel_userdata;
        HttpRequest *dprev, *dnext; /* in the server's list while not finished */
};

/* An HttpDeferred is the request itself; the type only keeps callers from its fields. */
static HttpRequest *deferred_request(HttpDeferred *d) {
        return (HttpRequest *) d;
}

static unsigned method_bit(const char *m) {
        static const struct {
                const char *name;
                unsigned bit;
        } table[] = {
                {"GET", HTTP_GET},
                {"HEAD", HTTP_HEAD},
                {"POST", HTTP_POST},
                {"PUT", HTTP_PUT},
                {"DELETE", HTTP_DELETE},
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(m, table[i].name))
                        return table[i].bit;
        return 0;
}

static void format_allow(unsigned methods, char *buf, size_t size) {
        static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE"};
        size_t n = 0;

        buf[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (methods & (1u << i)) {
                        int k = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", names[i]);
                        if (k < 0 || (size_t) k >= size - n)
                                break;
                        n += (size_t) k;
                }
}

const char *http_request_method(const HttpRequest *req) {
        return req->method;
}

const char *http_request_path(const HttpRequest *req) {
        return req->path;
}

const char *http_request_query(const HttpRequest *req, const char *name) {
        return MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_request_header(const HttpRequest *req, const char *name) {
        return MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, name);
}

const char *http_request_body(const HttpRequest *req, size_t *ret_size) {
        if (ret_size)
                *ret_size = req->body_size;
        return req->body;
}

void http_response_done(HttpResponse *resp) {
        free(resp->body);
        resp->body = NULL;
        for (size_t i = 0; i < resp->n_headers; i++) {
                free(resp->headers[i].name);
                free(resp->headers[i].value);
        }
        resp->n_headers = 0;
}

int http_response_set_text(HttpResponse *resp, unsigned status, const char *s) {
        char *copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        free(resp->body);
        resp->body = copy;
        resp->size = strlen(s);
        resp->status = status;
        return 0;
}

int http_response_printf(HttpResponse *resp, unsigned status, const char *format, ...) {
        char *s = NULL;
        va_list ap;
        int k;

        va_start(ap, format);
        k = vasprintf(&s, format, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        free(resp->body);
        resp->body = s;
        resp->size = (size_t) k;
        resp->status = status;
        return 0;
}

int http_response_add_header(HttpResponse *resp, const char *name, const char *value) {
        char *n, *v;

        if (resp->n_headers >= HTTP_RESPONSE_HEADERS_MAX)
                return -E2BIG;
        n = strdup(name);
        v = strdup(value);
        if (!n || !v) {
                free(n);
                free(v);
                return -ENOMEM;
        }
        resp->headers[resp->n_headers].name = n;
        resp->headers[resp->n_headers].value = v;
        resp->n_headers++;
        return 0;
}

static void connection_unlink(HttpServer *s, HttpConnection *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                s->oldest = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                s->newest = c->prev;
        c->prev = c->next = NULL;
        s->n_live--;
}

static void connection_append(HttpServer *s, HttpConnection *c) {
        c->prev = s->newest;
        c->next = NULL;
        if (s->newest)
                s->newest->next = c;
        else
                s->oldest = c;
        s->newest = c;
        s->n_live++;
}

/* libmicrohttpd (0.9.x) has no call to close a connection from outside its callbacks, and its only timeout
 * is an idle one, which a client that trickles a byte now and then never meets. So a connection we want gone
 * is shut down: the socket stays open (libmicrohttpd owns the descriptor, it cannot be reused under it), its
 * epoll set reports the hang-up, and libmicrohttpd closes it and frees the slot on its next turn, through
 * the usual CLOSED notification. */
static void connection_shut(HttpServer *s, HttpConnection *c) {
        connection_unlink(s, c);
        c->closing = true;
        if (c->fd >= 0)
                (void) shutdown(c->fd, SHUT_RDWR);
}

static uint64_t server_now(HttpServer *s) {
        uint64_t t;

        if (sd_event_now(s->event, CLOCK_MONOTONIC, &t) < 0)
                t = now_usec(CLOCK_MONOTONIC);
        return t;
}

static void notify_connection(
        void *cls,
        struct MHD_Connection *connection,
        void **socket_context,
        enum MHD_ConnectionNotificationCode code) {
        HttpServer *s = cls;
        HttpConnection *c = *socket_context;

        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *info;

                s->stats.accepted++;
                c = new0(HttpConnection, 1);
                if (!c) {
                        /* Served all the same; only the request deadline and the eviction miss it. */
                        log_debug("Out of memory tracking a connection, serving it untracked");
                        return;
                }
                info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
                c->fd = info ? info->connect_fd : -EBADF;
                c->since = server_now(s);
                connection_append(s, c);
                *socket_context = c;

                return;
        }

        /* MHD_CONNECTION_NOTIFY_CLOSED */
        s->closed_since_run = true;
        if (!c)
                return;
        if (!c->closing)
                connection_unlink(s, c);
        free(c);
        *socket_context = NULL;
}

/* Over max_connections: make room by closing the connections that have waited longest for a request, rather
 * than leaving newcomers in the listen backlog behind every connection a flood holds open. A client doing
 * real work is done in milliseconds, so the oldest are dead or slow ones. This runs after a turn of
 * libmicrohttpd, not as each connection is accepted: a turn accepts (up to 10) before it reads, so the
 * requests that came with this turn's events are answered first, whatever the flood's pace. */
static void connections_trim(HttpServer *s) {
        while (s->n_live > s->config.max_connections) {
                log_debug(
                        "Connection limit %u reached, closing the connection waiting the longest",
                        s->config.max_connections);
                s->stats.evicted++;
                connection_shut(s, s->oldest);
        }
}

/* A request was answered (or abandoned): a connection kept alive starts waiting for its next one now. */
static void connection_restart_wait(HttpServer *s, struct MHD_Connection *connection) {
        const union MHD_ConnectionInfo *info =
                MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        HttpConnection *c = info ? info->socket_context : NULL;

        if (!c || c->closing)
                return;
        connection_unlink(s, c);
        c->since = server_now(s);
        connection_append(s, c);
}

static enum MHD_Result queue(HttpServer *s, struct MHD_Connection *c, HttpResponse *resp) {
        struct MHD_Response *r;
        enum MHD_Result ret;

        r = MHD_create_response_from_buffer(
                resp->size,
                resp->body ?: (char *) "",
                resp->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!r) {
                http_response_done(resp);
                return MHD_NO;
        }
        resp->body = NULL; /* now owned by libmicrohttpd */
        (void) MHD_add_response_header(
                r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type ?: "text/plain; charset=utf-8");
        if (s->config.server_header)
                (void) MHD_add_response_header(r, MHD_HTTP_HEADER_SERVER, s->config.server_header);
        for (size_t i = 0; i < resp->n_headers; i++)
                (void) MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
        ret = MHD_queue_response(c, resp->status ?: 200, r);
        MHD_destroy_response(r);
        http_response_done(resp);
        return ret;
}

static enum MHD_Result queue_error(
        HttpServer *s, struct MHD_Connection *c, unsigned status, const char *text, unsigned allow) {
        HttpResponse resp = {};
        char buf[64];

        if (http_response_set_text(&resp, status, text) < 0)
                return MHD_NO;
        if (allow) {
                format_allow(allow, buf, sizeof(buf));
                (void) http_response_add_header(&resp, "Allow", buf);
        }
        return queue(s, c, &resp);
}

static void deferred_unlink(HttpServer *s, HttpRequest *req) {
        if (req->dprev)
                req->dprev->dnext = req->dnext;
        else if (s->deferred == req)
                s->deferred = req->dnext;
        if (req->dnext)
                req->dnext->dprev = req->dprev;
        req->dprev = req->dnext = NULL;
}

HttpDeferred *http_request_defer(const HttpRequest *creq, HttpDeferredCancel cancel, void *userdata) {
        HttpRequest *req = (HttpRequest *) creq;
        HttpServer *s = req->server;

        assert(!req->deferred);
        req->deferred = true;
        req->cancel = cancel;
        req->cancel_userdata = userdata;
        req->dnext = s->deferred;
        if (s->deferred)
                s->deferred->dprev = req;
        s->deferred = req;
        return (HttpDeferred *) req;
}

static void http_server_arm(HttpServer *s);

void http_deferred_finish(HttpDeferred *d, HttpResponse *resp) {
        HttpRequest *req = deferred_request(d);
        HttpServer *s = req->server;

        assert(req->deferred && !req->finished);
        deferred_unlink(s, req);
        req->answer = *resp;
        *resp = (HttpResponse){};
        req->finished = true;
        if (req->in_handler)
                return; /* access_handler() queues it when the handler returns */
        MHD_resume_connection(req->connection);
        /* In external polling mode a resumed connection is only picked up by the next MHD_run(). */
        s->closed_since_run = true;
        http_server_arm(s);
}

/* What libmicrohttpd 0.9 lets through and a server must refuse: it reads the first of several Content-Length
 * headers and ignores the rest, takes Transfer-Encoding over Content-Length, reads a body of unknown size
 * for a transfer coding other than chunked, and accepts several Host headers (RFC 9112 §3.2, §6.1, §6.3:
 * each a way to make two parties disagree on where a request ends). A missing Host on HTTP/1.1 it refuses
 * itself (MHD_OPTION_STRICT_FOR_CLIENT). */
typedef struct HeaderCensus {
        unsigned n_host, n_length, n_encoding;
        const char *length, *encoding;
        bool lengths_differ;
} HeaderCensus;

static enum MHD_Result census_header(
        void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        HeaderCensus *h = cls;

        if (!key || !value)
                return MHD_YES;
        if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
                h->n_host++;
        else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
                if (h->length && !streq(h->length, value))
                        h->lengths_differ = true;
                h->length = h->length ?: value;
                h->n_length++;
        } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
                h->encoding = value;
                h->n_encoding++;
        }
        return MHD_YES;
}

static void refuse(HttpRequest *req, unsigned status, const char *text) {
        req->refuse = status;
        req->refuse_text = text;
}

/* Sets req->route, or req->refuse with the status to answer instead of calling a handler; *ret_has_body
 * tells whether the client announced a body. */
static void request_check(HttpServer *s, HttpRequest *req, bool *ret_has_body) {
        HeaderCensus h = {};
        uint64_t len = 0;

        (void) MHD_get_connection_values(req->connection, MHD_HEADER_KIND, census_header, &h);
        *ret_has_body = h.n_encoding > 0 || (h.length && !streq(h.length, "0"));

        for (size_t i = 0; i < s->config.n_routes; i++)
                if (streq(s->routes[i].path, req->path)) {
                        req->route = s->routes + i;
                        break;
                }

        if (h.n_host > 1)
                refuse(req, 400, "more than one Host header\n");
        else if (h.lengths_differ)
                refuse(req, 400, "conflicting Content-Length headers\n");
        else if (h.n_encoding > 0 && h.n_length > 0)
                refuse(req, 400, "both Transfer-Encoding and Content-Length\n");
        else if (h.n_encoding > 1 || (h.encoding && strcasecmp(h.encoding, "chunked") != 0))
                refuse(req, 501, "transfer coding not supported (only chunked)\n");
        else if (!req->route)
                refuse(req, 404, "not found\n");
        else if (!(method_bit(req->method) & req->route->methods))
                refuse(req, 405, "method not allowed\n");
        else if (h.length && safe_atou64(h.length, &len) >= 0 && len > s->config.max_body)
                refuse(req, 413, "request body too large\n");
}

static enum MHD_Result queue_refusal(HttpServer *s, struct MHD_Connection *connection, HttpRequest *req) {
        return queue_error(
                s, connection, req->refuse, req->refuse_text, req->refuse == 405 ? req->route->methods : 0);
}

static enum MHD_Result access_handler(
        void *cls,
        struct MHD_Connection *connection,
        const char *url,
        const char *method,
        const char *version,
        const char *upload_data,
        size_t *upload_data_size,
        void **con_cls) {

        HttpServer *s = cls;
        HttpRequest *req = *con_cls;
        HttpResponse resp = {};
        int r;

        if (!req) {
                bool has_body;

                /* First call: only the headers are in. Decide now whether the request is refused, so that a
                 * refused one never makes us read its body. */
                req = new0(HttpRequest, 1);
                if (!req)
                        return MHD_NO;
                *req = (HttpRequest){.server = s, .connection = connection, .method = method, .path = url};
                *con_cls = req;
                request_check(s, req, &has_body);
                /* A refused request with a body is answered at once: libmicrohttpd then reads none of the
                 * body and closes the connection after the answer (a client that sends 10 MiB to a path that
                 * takes none is not read to the end, nor is a body whose framing is in doubt). */
                if (req->refuse && has_body)
                        return queue_refusal(s, connection, req);
                return MHD_YES;
        }

        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;

                *upload_data_size = 0;
                if (req->refuse)
                        return MHD_YES;
                if (n > s->config.max_body - req->body_size) {
                        /* A chunked body past the limit: the rest is read and dropped (an answer can only
                         * be queued before the body or after it), within timeout_sec. */
                        req->refuse = 413;
                        req->refuse_text = "request body too large\n";
                        return MHD_YES;
                }
                if (req->body_size + n + 1 > req->body_alloc) {
                        size_t a = MAX(req->body_alloc * 2, req->body_size + n + 1);
                        char *b = realloc(req->body, a);
                        if (!b)
                                return MHD_NO;
                        req->body = b;
                        req->body_alloc = a;
                }
                memcpy(req->body + req->body_size, upload_data, n);
                req->body_size += n;
                req->body[req->body_size] = 0;
                return MHD_YES;
        }

        if (req->refuse)
                return queue_refusal(s, connection, req);

        if (req->deferred) {
                /* Called again after http_deferred_finish() resumed the connection. */
                if (!req->finished)
                        return MHD_YES;
                return queue(s, connection, &req->answer);
        }

        req->in_handler = true;
        r = req->route->handler(req, &resp, s->config.userdata);
        req->in_handler = false;
        if (r < 0) {
                log_debug_errno(r, "Handler for %s %s failed: %m", method, url);
                http_response_done(&resp);
                if (req->deferred) {
                        /* The handler gave up on it after all: nothing will finish it. */
                        deferred_unlink(s, req);
                        req->deferred = false;
                }
                return queue_error(s, connection, 500, "internal error\n", 0);
        }
        if (req->deferred) {
                http_response_done(&resp);
                if (req->finished) /* finished from inside the handler */
                        return queue(s, connection, &req->answer);
                MHD_suspend_connection(connection);
                return MHD_YES;
        }
        return queue(s, connection, &resp);
}

static void request_completed(
        void *cls, struct MHD_Connection *connection, void **con_cls, enum MHD_RequestTerminationCode toe) {
        HttpServer *s = cls;
        HttpRequest *req = *con_cls;

        connection_restart_wait(s, connection);
        if (!req)
                return;
        if (req->deferred && !req->finished)
                deferred_unlink(s, req);
        http_response_done(&req->answer);
        free(req->body);
        free(req);
        *con_cls = NULL;
}

_printf_(2, 0) static void mhd_logger(void *cls, const char *fmt, va_list ap) {
        char buf[512];

        (void) vsnprintf(buf, sizeof(buf), fmt, ap);
        log_debug("libmicrohttpd: %s", buf);
}

/* Errors are logged and swallowed: a negative return would make sd-event disable the source, and the server
 * would never answer again. */
static void http_server_dispatch(HttpServer *s) {
        s->closed_since_run = false;
        if (MHD_run(s->daemon) != MHD_YES)
                log_debug("libmicrohttpd: MHD_run() failed, continuing");
        connections_trim(s);
        http_server_arm(s);
}

static int on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        http_server_dispatch(userdata);
        return 0;
}

static int on_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        http_server_dispatch(userdata);
        return 0;
}

/* Slow and idle clients alike get timeout_sec for each request: a client trickling one header byte at a time
 * never trips libmicrohttpd's idle timeout, this deadline it does. */
static int on_deadline(sd_event_source *source, uint64_t usec, void *userdata) {
        HttpServer *s = userdata;
        uint64_t now = server_now(s);

        while (s->oldest && s->oldest->since + s->timeout_usec <= now) {
                s->stats.timed_out++;
                connection_shut(s, s->oldest);
        }
        http_server_arm(s);
        return 0;
}

static void set_timer(sd_event_source *source, uint64_t usec) {
        int r;

        r = sd_event_source_set_time(source, usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
        if (r < 0)
                log_debug_errno(r, "Failed to arm the HTTP server's timer, ignoring: %m");
}

/* Three wake-ups besides the epoll descriptor. First, libmicrohttpd tells how long it may wait before it
 * must run again (its idle timeouts, or 0 when data is already pending). Second, a turn that closed a
 * connection is followed by another one at once: at its connection limit, or when accept() ran out of
 * descriptors, libmicrohttpd takes the listening socket out of its epoll set, and puts it back only at the
 * start of a turn that finds a free slot. The turn that frees slots comes too late for that, and when it
 * closed the last connection no timeout or event would ever bring the next one: every client after would
 * wait in the listen backlog for good. Third, the oldest live connection's request deadline. */
static void http_server_arm(HttpServer *s) {
        MHD_UNSIGNED_LONG_LONG timeout_ms;
        uint64_t now = server_now(s);

        if (s->closed_since_run)
                set_timer(s->timer_source, now);
        else if (MHD_get_timeout(s->daemon, &timeout_ms) == MHD_YES)
                set_timer(s->timer_source, now + (uint64_t) MIN(timeout_ms, UINT64_MAX / 2000) * 1000);
        else
                (void) sd_event_source_set_enabled(s->timer_source, SD_EVENT_OFF);

        if (s->oldest)
                set_timer(s->deadline_source, s->oldest->since + s->timeout_usec);
        else
                (void) sd_event_source_set_enabled(s->deadline_source, SD_EVENT_OFF);
}

static int http_server_start(HttpServer *s, sd_event *e, int listen_fd, const HttpServerConfig *c) {
        const union MHD_DaemonInfo *info;
        unsigned hard_limit;
        int r;

        s->event = sd_event_ref(e);
        s->config = *c;
        s->config.max_connections = c->max_connections ?: HTTP_MAX_CONNECTIONS_DEFAULT;
        s->config.timeout_sec = c->timeout_sec ?: HTTP_TIMEOUT_SEC_DEFAULT;
        s->timeout_usec = (uint64_t) s->config.timeout_sec * 1000000;
        s->routes = new0(HttpRoute, c->n_routes);
        if (!s->routes)
                return -ENOMEM;
        memcpy(s->routes, c->routes, sizeof(HttpRoute) * c->n_routes);
        s->config.routes = s->routes;

        /* libmicrohttpd's own limit sits above ours: the connections we shut down keep their slot until its
         * next turn reaps them, and it accepts up to 10 connections a turn. Should it reach it all the same,
         * it stops accepting until a slot frees, which the re-run in http_server_arm() makes safe. */
        hard_limit = s->config.max_connections + MAX(s->config.max_connections, 16u);

        s->daemon = MHD_start_daemon(
                MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME,
                0,
                NULL,
                NULL,
                access_handler,
                s,
                /* First, so that libmicrohttpd's messages about the other options come here too. */
                MHD_OPTION_EXTERNAL_LOGGER,
                mhd_logger,
                NULL,
                MHD_OPTION_LISTEN_SOCKET,
                listen_fd,
                MHD_OPTION_NOTIFY_COMPLETED,
                request_completed,
                s,
                MHD_OPTION_NOTIFY_CONNECTION,
                notify_connection,
                s,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                (size_t) HTTP_CONNECTION_MEMORY_LIMIT,
                MHD_OPTION_CONNECTION_LIMIT,
                hard_limit,
                MHD_OPTION_CONNECTION_TIMEOUT,
                s->config.timeout_sec,
                /* HTTP/1.1 without Host is answered 400 (RFC 9112 §3.2), as are spaces in the target. */
                MHD_OPTION_STRICT_FOR_CLIENT,
                1,
                MHD_OPTION_END);
        if (!s->daemon)
                return -EIO;
        /* From here on libmicrohttpd owns the listening socket. */
        s->listen_fd = -EBADF;

        info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info)
                return -EIO;

        r = sd_event_add_io(e, &s->io_source, info->epoll_fd, EPOLLIN, on_io, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(s->io_source, "http-server-io");

        /* An accuracy of 0 would mean sd-event's default of 250 ms: a turn that libmicrohttpd asks for at
         * once (more data is waiting in a connection it read only in part) would wait that long, and a
         * request that takes a dozen turns to read would take seconds. */
        r = sd_event_add_time_relative(e, &s->timer_source, CLOCK_MONOTONIC, 0, 1, on_timer, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(s->timer_source, "http-server-timer");

        r = sd_event_add_time(e, &s->deadline_source, CLOCK_MONOTONIC, 0, 1, on_deadline, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(s->deadline_source, "http-server-deadline");

        http_server_arm(s);
        return 0;
}

int http_server_new_tcp(
        sd_event *e, const char *address, uint16_t port, const HttpServerConfig *c, HttpServer **ret) {
        _cleanup_(http_server_freep) HttpServer *s = NULL;
        _cleanup_close_ int fd = -EBADF;
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
                struct sockaddr_storage storage;
        } sa = {};
        socklen_t salen;
        int r, one = 1, defer_sec = (int) (c->timeout_sec ?: HTTP_TIMEOUT_SEC_DEFAULT);

        if (inet_pton(AF_INET, address, &sa.in.sin_addr) == 1) {
                sa.in.sin_family = AF_INET;
                sa.in.sin_port = htons(port);
                salen = sizeof(sa.in);
        } else if (inet_pton(AF_INET6, address, &sa.in6.sin6_addr) == 1) {
                sa.in6.sin6_family = AF_INET6;
                sa.in6.sin6_port = htons(port);
                salen = sizeof(sa.in6);
        } else
                return -EINVAL;

        fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                return -errno;
        /* The kernel hands a connection over only once its first bytes are in (or after timeout_sec): a
         * connection that never sends anything never takes a slot, and one that is accepted has its request
         * read on the next turn, before any eviction could pick it. */
        if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_sec, sizeof(defer_sec)) < 0)
                return -errno;
        if (bind(fd, &sa.sa, salen) < 0)
                return -errno;
        if (listen(fd, SOMAXCONN) < 0)
                return -errno;
        salen = sizeof(sa.storage);
        if (getsockname(fd, &sa.sa, &salen) < 0)
                return -errno;

        s = new0(HttpServer, 1);
        if (!s)
                return -ENOMEM;
        s->listen_fd = TAKE_FD(fd);
        s->port = ntohs(sa.sa.sa_family == AF_INET ? sa.in.sin_port : sa.in6.sin6_port);

        r = http_server_start(s, e, s->listen_fd, c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int http_server_new_unix(
        sd_event *e, const char *path, mode_t mode, const HttpServerConfig *c, HttpServer **ret) {
        _cleanup_(http_server_freep) HttpServer *s = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* A socket file left by a previous instance would make bind() fail; nothing listens on it any more
         * once we are started (the service manager runs one instance). */
        (void) unlink(path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        if (chmod(path, mode) < 0)
                return -errno;
        if (listen(fd, SOMAXCONN) < 0)
                return -errno;

        s = new0(HttpServer, 1);
        if (!s)
                return -ENOMEM;
        s->listen_fd = TAKE_FD(fd);
        s->unix_path = strdup(path);
        if (!s->unix_path)
                return -ENOMEM;

        r = http_server_start(s, e, s->listen_fd, c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

uint16_t http_server_port(const HttpServer *s) {
        return s->port;
}

void http_server_get_stats(const HttpServer *s, HttpServerStats *ret) {
        *ret = s->stats;
        ret->connections = s->n_live;
}

HttpServer *http_server_free(HttpServer *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->io_source);
        sd_event_source_disable_unref(s->timer_source);
        sd_event_source_disable_unref(s->deadline_source);
        /* libmicrohttpd must not be stopped with suspended connections: their owners hear that no answer is
         * wanted any more, the connections get a 503 and are resumed, and one more turn takes them back. */
        while (s->deferred) {
                HttpRequest *req = s->deferred;
                HttpResponse resp = {};

                deferred_unlink(s, req);
                if (req->cancel)
                        req->cancel(req->cancel_userdata);
                (void) http_response_set_text(&resp, 503, "shutting down\n");
                req->answer = resp;
                req->finished = true;
                MHD_resume_connection(req->connection);
        }
        if (s->daemon)
                (void) MHD_run(s->daemon);
        /* Stopping closes every connection, each through the CLOSED notification that frees its record. */
        if (s->daemon)
                MHD_stop_daemon(s->daemon);
        safe_close(s->listen_fd);
        if (s->unix_path) {
                (void) unlink(s->unix_path);
                free(s->unix_path);
        }
        sd_event_unref(s->event);
        free(s->routes);
        free(s);
        return NULL;
}
