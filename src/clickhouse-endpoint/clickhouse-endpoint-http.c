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
                request_receive(r, upload_data, *upload_data_size);
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
