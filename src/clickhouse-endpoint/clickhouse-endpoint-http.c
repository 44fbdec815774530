/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clickhouse-endpoint-request.h"
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
/* How long a connection may wait for its next request to arrive complete (from its accept, or from its
 * previous answer): the idle timeout of kept-alive connections and the bound on a slowly trickled request.
 */
#define REQUEST_TIMEOUT_SEC 10u
/* libmicrohttpd's own idle timeout, for a request whose headers are in (a body may be long in coming). */
#define BODY_IDLE_TIMEOUT_SEC 300u

/* A flood of connections that never finish a request (dead peers, slowloris) must not lock clients out:
 * with one thread per connection and a connection limit, every slot would be held and a new client would
 * wait in the listen backlog for as long as the flood lasts. So each connection is tracked from
 * libmicrohttpd's STARTED notification to its CLOSED one, and while it waits for a request it sits in a
 * list ordered by when it began waiting (accept, or its previous answer). Such a connection is closed when
 * its wait exceeds REQUEST_TIMEOUT_SEC, however slowly it trickles bytes (libmicrohttpd's timeout is
 * idle-only; a reaper thread enforces this one), and when a new connection would take more than
 * max_connections, the one that has waited longest is closed to make room; a connection with a request in
 * progress (headers in, until its answer is sent) is never picked, and when every other one has a request
 * in progress it is the newcomer that goes. libmicrohttpd cannot close a connection from another thread,
 * so ours are shut down: the connection's own thread sees the hang-up and closes it. Its CLOSED
 * notification comes after that thread has ended and before the descriptor is closed, so a descriptor in
 * the list always is the connection's own. The listening socket has TCP_DEFER_ACCEPT: a connection that
 * sends nothing stays in the kernel and never takes a slot. */
struct EndpointConnection {
        EndpointConnection *prev, *next; /* in the waiting list */
        int fd;                          /* libmicrohttpd's: only ever shut down here */
        uint64_t since;                  /* CLOCK_MONOTONIC µs: when it began waiting */
        bool waiting;                    /* in the list */
        bool shut;                       /* shut down by us */
};

static void waiting_unlink(HttpFrontend *f, EndpointConnection *ec) {
        if (!ec->waiting)
                return;
        if (ec->prev)
                ec->prev->next = ec->next;
        else
                f->oldest = ec->next;
        if (ec->next)
                ec->next->prev = ec->prev;
        else
                f->newest = ec->prev;
        ec->prev = ec->next = NULL;
        ec->waiting = false;
}

static void waiting_append(HttpFrontend *f, EndpointConnection *ec) {
        ec->since = now_usec(CLOCK_MONOTONIC);
        ec->prev = f->newest;
        ec->next = NULL;
        if (f->newest)
                f->newest->next = ec;
        else {
                f->oldest = ec;
                (void) pthread_cond_signal(&f->wake); /* the reaper had nothing to wait for */
        }
        f->newest = ec;
        ec->waiting = true;
}

static void connection_shut(HttpFrontend *f, EndpointConnection *ec) {
        waiting_unlink(f, ec);
        ec->shut = true;
        f->n_live--;
        if (ec->fd >= 0)
                (void) shutdown(ec->fd, SHUT_RDWR);
}

static EndpointConnection *connection_of(struct MHD_Connection *c) {
        const union MHD_ConnectionInfo *info =
                MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return info ? info->socket_context : NULL;
}

static void on_connection(
        void *cls,
        struct MHD_Connection *c,
        void **socket_context,
        enum MHD_ConnectionNotificationCode code) {
        HttpFrontend *f = cls;
        EndpointConnection *ec = *socket_context;

        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *info;

                ec = new0(EndpointConnection, 1);
                if (!ec) {
                        log_debug("Out of memory tracking a connection, serving it untracked");
                        return;
                }
                info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
                ec->fd = info ? info->connect_fd : -EBADF;
                *socket_context = ec;

                pthread_mutex_lock(&f->lock);
                f->n_live++;
                waiting_append(f, ec);
                /* The oldest waiting connection goes, which is the newcomer itself when every other one
                 * has a request in progress. */
                if (f->n_live > (unsigned) f->config->max_connections && f->oldest)
                        connection_shut(f, f->oldest);
                pthread_mutex_unlock(&f->lock);
                return;
        }

        /* MHD_CONNECTION_NOTIFY_CLOSED */
        if (!ec)
                return;
        pthread_mutex_lock(&f->lock);
        if (!ec->shut) {
                waiting_unlink(f, ec);
                f->n_live--;
        }
        pthread_mutex_unlock(&f->lock);
        free(ec);
        *socket_context = NULL;
}

/* A request's headers are in: its connection waits no more, and is neither timed out nor evicted. */
static void connection_busy(HttpFrontend *f, struct MHD_Connection *c) {
        EndpointConnection *ec = connection_of(c);

        if (!ec)
                return;
        pthread_mutex_lock(&f->lock);
        waiting_unlink(f, ec);
        pthread_mutex_unlock(&f->lock);
}

/* Its answer is sent (or the request failed): a kept-alive connection begins waiting for the next one. */
static void connection_idle(HttpFrontend *f, struct MHD_Connection *c) {
        EndpointConnection *ec = connection_of(c);

        if (!ec)
                return;
        pthread_mutex_lock(&f->lock);
        if (!ec->shut && !ec->waiting)
                waiting_append(f, ec);
        pthread_mutex_unlock(&f->lock);
}

static void *reaper_main(void *userdata) {
        HttpFrontend *f = userdata;

        pthread_mutex_lock(&f->lock);
        while (!f->stopping) {
                uint64_t now = now_usec(CLOCK_MONOTONIC);

                while (f->oldest && f->oldest->since + f->timeout_usec <= now)
                        connection_shut(f, f->oldest);
                if (f->oldest) {
                        uint64_t at = f->oldest->since + f->timeout_usec;
                        struct timespec ts = {
                                .tv_sec = (time_t) (at / 1000000), .tv_nsec = (long) (at % 1000000) * 1000};
                        (void) pthread_cond_timedwait(&f->wake, &f->lock, &ts);
                } else
                        (void) pthread_cond_wait(&f->wake, &f->lock);
        }
        pthread_mutex_unlock(&f->lock);
        return NULL;
}

static int reaper_init(HttpFrontend *f) {
        pthread_condattr_t attr;
        int k;

        k = pthread_mutex_init(&f->lock, NULL);
        if (k != 0)
                return -k;
        k = pthread_condattr_init(&attr);
        if (k != 0)
                return -k;
        k = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        if (k == 0)
                k = pthread_cond_init(&f->wake, &attr);
        (void) pthread_condattr_destroy(&attr);
        return -k;
}

static int reaper_start(HttpFrontend *f) {
        int k = pthread_create(&f->reaper, NULL, reaper_main, f);
        if (k != 0)
                return -k;
        f->reaper_running = true;
        return 0;
}

static void reaper_stop(HttpFrontend *f) {
        if (!f->reaper_running)
                return;
        pthread_mutex_lock(&f->lock);
        f->stopping = true;
        (void) pthread_cond_signal(&f->wake);
        pthread_mutex_unlock(&f->lock);
        (void) pthread_join(f->reaper, NULL);
        f->reaper_running = false;
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
                connection_busy(f, c);
                enum MHD_Result ret = request_begin(f, c, url, method, &r);
                *con_cls = r;
                return ret;
        }

        if (*upload_data_size > 0) {
                request_receive(r, upload_data, *upload_data_size);
                *upload_data_size = 0;
                return MHD_YES;
        }

        return request_run(r, c);
}

static void on_completed(
        void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
        HttpFrontend *f = cls;
        connection_idle(f, c);
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

        f->timeout_usec = (uint64_t) REQUEST_TIMEOUT_SEC * 1000000;
        k = reaper_init(f);
        if (k < 0)
                return log_error_errno(k, "Failed to set up connection tracking: %m");

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
                /* libmicrohttpd's limit sits above ours: the connections we shut down keep their slot until
                 * their thread has ended. At it, libmicrohttpd stops accepting until a slot frees. */
                MHD_OPTION_CONNECTION_LIMIT,
                (unsigned) config->max_connections + MAX((unsigned) config->max_connections, 16u),
                MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                (size_t) CONNECTION_MEMORY_LIMIT,
                MHD_OPTION_CONNECTION_TIMEOUT,
                BODY_IDLE_TIMEOUT_SEC,
                MHD_OPTION_NOTIFY_CONNECTION,
                on_connection,
                f,
                /* Requests that break HTTP/1.1 (no Host, bad header syntax) are answered 400, not guessed
                   at. */
                MHD_OPTION_STRICT_FOR_CLIENT,
                (int) 1,
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
        /* The kernel hands a connection over only once its first bytes are in (or after the timeout): a
         * connection that never sends anything never takes a slot, nor a thread. */
        info = MHD_get_daemon_info(f->daemon, MHD_DAEMON_INFO_LISTEN_FD);
        int defer_sec = (int) REQUEST_TIMEOUT_SEC;
        if (!info ||
            setsockopt(info->listen_fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_sec, sizeof(defer_sec)) < 0)
                log_debug("Failed to set TCP_DEFER_ACCEPT on the listening socket, ignoring");
        k = reaper_start(f);
        if (k < 0) {
                MHD_stop_daemon(f->daemon);
                return log_error_errno(k, "Failed to start the connection reaper: %m");
        }
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
        reaper_stop(f);
        free(f->tmp_dir);
        free(f);
        return NULL;
}
