/* SPDX-License-Identifier: MIT */
/* A small closed-loop HTTP/1.1 load generator for the status endpoints: C connections with keep-alive, each
 * sending the next GET as soon as the previous answer is in, over TCP or a unix socket (which wrk cannot
 * do). Prints requests/s and latency percentiles.
 *
 *   http-load (--unix PATH | --tcp HOST:PORT) [--path /v1/status] [--connections 8] [--seconds 10] */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONN 256
#define BUF 262144

typedef struct {
        int fd;
        char *buf;
        size_t len;
        double sent_at;
} Conn;

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static int connect_to(const char *unix_path, const char *host, int port) {
        int fd;

        if (unix_path) {
                struct sockaddr_un sa = {.sun_family = AF_UNIX};
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", unix_path);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        return -1;
        } else {
                struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
                if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
                        return -1;
                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        return -1;
        }
        return fd;
}

/* Length of a complete response at the start of buf, or 0 when more is needed. */
static size_t complete(const char *buf, size_t len) {
        const char *end = memmem(buf, len, "\r\n\r\n", 4), *cl;
        size_t head, body = 0;

        if (!end)
                return 0;
        head = (size_t) (end - buf) + 4;
        cl = memmem(buf, head, "Content-Length:", 15);
        if (!cl)
                cl = memmem(buf, head, "content-length:", 15);
        if (cl) {
                char num[32];
                size_t i = 0;
                cl += 15;
                while (*cl == ' ')
                        cl++;
                while (i < sizeof(num) - 1 && cl[i] >= '0' && cl[i] <= '9') {
                        num[i] = cl[i];
                        i++;
                }
                num[i] = 0;
                body = (size_t) strtoull(num, NULL, 10);
        }
        return len >= head + body ? head + body : 0;
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                {"unix", required_argument, NULL, 'u'},
                {"tcp", required_argument, NULL, 't'},
                {"path", required_argument, NULL, 'p'},
                {"connections", required_argument, NULL, 'c'},
                {"seconds", required_argument, NULL, 's'},
                {},
        };
        const char *unix_path = NULL, *path = "/v1/status";
        char host[64] = "127.0.0.1", req[512];
        int port = 0, nconn = 8, c, reqlen;
        double seconds = 10, start, end;
        Conn conns[MAX_CONN];
        struct pollfd pfd[MAX_CONN];
        double *lat;
        size_t nlat = 0, cap = 1 << 20, errors = 0;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'u':
                        unix_path = optarg;
                        break;
                case 't': {
                        const char *colon = strrchr(optarg, ':');
                        if (!colon || (size_t) (colon - optarg) >= sizeof(host))
                                return fprintf(stderr, "http-load: --tcp HOST:PORT\n"), 64;
                        memcpy(host, optarg, (size_t) (colon - optarg));
                        host[colon - optarg] = 0;
                        port = (int) strtol(colon + 1, NULL, 10);
                        break;
                }
                case 'p':
                        path = optarg;
                        break;
                case 'c':
                        nconn = (int) strtol(optarg, NULL, 10);
                        break;
                case 's':
                        seconds = strtod(optarg, NULL);
                        break;
                default:
                        return 64;
                }
        if ((!unix_path && !port) || nconn < 1 || nconn > MAX_CONN)
                return fprintf(stderr,
                               "http-load: need --unix PATH or --tcp HOST:PORT, 1..%d connections\n",
                               MAX_CONN),
                       64;

        reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
        lat = malloc(cap * sizeof(double));
        if (!lat)
                return 1;
        for (int i = 0; i < nconn; i++) {
                conns[i] = (Conn){.fd = connect_to(unix_path, host, port), .buf = malloc(BUF)};
                if (conns[i].fd < 0 || !conns[i].buf)
                        return fprintf(stderr, "http-load: connect failed: %s\n", strerror(errno)), 1;
                conns[i].sent_at = now();
                if (write(conns[i].fd, req, (size_t) reqlen) != reqlen)
                        return 1;
        }
        start = now();
        end = start + seconds;
        while (now() < end) {
                for (int i = 0; i < nconn; i++)
                        pfd[i] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
                if (poll(pfd, (nfds_t) nconn, 100) < 0)
                        break;
                for (int i = 0; i < nconn; i++) {
                        Conn *k = conns + i;
                        ssize_t r;
                        size_t n;

                        if (!(pfd[i].revents & (POLLIN | POLLHUP)))
                                continue;
                        r = read(k->fd, k->buf + k->len, BUF - k->len);
                        if (r <= 0) {
                                /* The server closed: count it and reconnect. */
                                errors++;
                                close(k->fd);
                                k->fd = connect_to(unix_path, host, port);
                                k->len = 0;
                                if (k->fd < 0)
                                        return fprintf(stderr, "http-load: reconnect failed\n"), 1;
                                k->sent_at = now();
                                if (write(k->fd, req, (size_t) reqlen) != reqlen)
                                        return 1;
                                continue;
                        }
                        k->len += (size_t) r;
                        while ((n = complete(k->buf, k->len)) > 0) {
                                double t = now();
                                if (strncmp(k->buf, "HTTP/1.1 200", 12) != 0)
                                        errors++;
                                if (nlat < cap)
                                        lat[nlat++] = t - k->sent_at;
                                memmove(k->buf, k->buf + n, k->len - n);
                                k->len -= n;
                                k->sent_at = t;
                                if (write(k->fd, req, (size_t) reqlen) != reqlen)
                                        return 1;
                        }
                }
        }
        seconds = now() - start;
        qsort(lat, nlat, sizeof(double), cmp);
        if (nlat == 0)
                return fprintf(stderr, "http-load: no responses\n"), 1;
        printf("%s %s: %zu requests in %.1f s = %.0f req/s, %d connections, latency p50 %.3f ms, p99 %.3f ms, max %.3f ms, errors %zu\n",
               unix_path ? "unix" : "tcp",
               path,
               nlat,
               seconds,
               (double) nlat / seconds,
               nconn,
               lat[nlat / 2] * 1e3,
               lat[(size_t) ((double) nlat * 0.99)] * 1e3,
               lat[nlat - 1] * 1e3,
               errors);
        for (int i = 0; i < nconn; i++) {
                close(conns[i].fd);
                free(conns[i].buf);
        }
        free(lat);
        return errors ? 1 : 0;
}
