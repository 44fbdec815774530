/* SPDX-License-Identifier: MIT */
/* Black-box tests of the loggen binary: its output contract, configuration, health endpoints and shutdown,
 * observed the way Kubernetes and the shipper observe it (stdout lines, exit status, HTTP). */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "strbuf.h"

typedef struct {
        pid_t pid;
        int out, err;
        StrBuf obuf, ebuf;
        size_t consumed; /* of obuf, by next_line() */
        int status;
        bool exited;
} Proc;

static const char *loggen_bin(void) {
        const char *b = getenv("LOGGEN_BIN");
        cr_assert_not_null(b, "LOGGEN_BIN not set (run through meson test)");
        return b;
}

/* env: NULL-terminated "NAME=value" strings added to a clean environment. */
static void proc_start(Proc *p, const char *const *args, const char *const *env) {
        int o[2], e[2];
        char *argv[64];
        size_t n = 0;

        *p = (Proc){.obuf = STRBUF_INIT(64 << 20), .ebuf = STRBUF_INIT(1 << 20)};
        argv[n++] = (char *) loggen_bin();
        for (; args && *args; args++)
                argv[n++] = (char *) *args;
        argv[n] = NULL;

        cr_assert_eq(pipe2(o, O_CLOEXEC), 0);
        cr_assert_eq(pipe2(e, O_CLOEXEC), 0);
        p->pid = fork();
        cr_assert_geq(p->pid, 0);
        if (p->pid == 0) {
                dup2(o[1], 1);
                dup2(e[1], 2);
                clearenv();
                setenv("PATH", "/usr/bin:/bin", 1);
                for (; env && *env; env++)
                        putenv((char *) *env);
                execv(argv[0], argv);
                _exit(127);
        }
        close(o[1]);
        close(e[1]);
        p->out = o[0];
        p->err = e[0];
}

/* Reads what is available from stdout and stderr, waiting at most timeout_ms; returns false at EOF of both.
 */
static bool proc_pump(Proc *p, int timeout_ms) {
        struct pollfd fds[2] = {{.fd = p->out, .events = POLLIN}, {.fd = p->err, .events = POLLIN}};
        char buf[65536];

        if (p->out < 0 && p->err < 0)
                return false;
        if (poll(fds, 2, timeout_ms) <= 0)
                return true;
        for (int i = 0; i < 2; i++) {
                int *fd = i == 0 ? &p->out : &p->err;
                ssize_t k;

                if (*fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP)))
                        continue;
                k = read(*fd, buf, sizeof(buf));
                if (k <= 0) {
                        close(*fd);
                        *fd = -1;
                        continue;
                }
                cr_assert_eq(strbuf_append(i == 0 ? &p->obuf : &p->ebuf, buf, (size_t) k), 0);
        }
        return true;
}

static double now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Waits for exit, reading output meanwhile. Returns false when it did not exit within timeout_sec. */
static bool proc_wait(Proc *p, double timeout_sec) {
        double end = now_sec() + timeout_sec;

        while (!p->exited && now_sec() < end) {
                if (waitpid(p->pid, &p->status, WNOHANG) == p->pid) {
                        p->exited = true;
                        break;
                }
                if (!proc_pump(p, 10))
                        usleep(1000);
        }
        while (p->exited && proc_pump(p, 100))
                ;
        return p->exited;
}

static void proc_kill(Proc *p) {
        if (!p->exited) {
                kill(p->pid, SIGKILL);
                proc_wait(p, 5);
        }
        if (p->out >= 0)
                close(p->out);
        if (p->err >= 0)
                close(p->err);
        strbuf_done(&p->obuf);
        strbuf_done(&p->ebuf);
}

static int proc_exit_status(const Proc *p) {
        cr_assert(p->exited);
        cr_assert(WIFEXITED(p->status), "terminated by signal %d", WTERMSIG(p->status));
        return WEXITSTATUS(p->status);
}

/* Returns the next complete stdout line parsed as JSON, waiting up to timeout_sec; NULL on timeout/EOF. */
static cJSON *next_line(Proc *p, double timeout_sec, char **ret_text) {
        double end = now_sec() + timeout_sec;

        for (;;) {
                char *start = p->obuf.data ? p->obuf.data + p->consumed : NULL;
                char *nl = start ? memchr(start, '\n', p->obuf.len - p->consumed) : NULL;

                if (nl) {
                        char *text = strndup(start, (size_t) (nl - start));
                        cJSON *j = cJSON_Parse(text);
                        cr_assert_not_null(j, "stdout line is not JSON: %s", text);
                        p->consumed += (size_t) (nl - start) + 1;
                        if (ret_text)
                                *ret_text = text;
                        else
                                free(text);
                        return j;
                }
                if (now_sec() > end || !proc_pump(p, 20))
                        return NULL;
        }
}

static const char *str_field(const cJSON *j, const char *name) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, name);
        cr_assert(cJSON_IsString(f), "field %s missing or not a string", name);
        return f->valuestring;
}

static double num_field(const cJSON *j, const char *name) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, name);
        cr_assert(cJSON_IsNumber(f), "field %s missing or not a number", name);
        return f->valuedouble;
}

static bool is_integer(double d) {
        return d >= 0 && floor(d) == d;
}

/* The zap prefix every line has, in zap's order; `text` is the raw line for format checks. */
static void check_common(const cJSON *j, const char *text, const char *msg) {
        static const char *const order[] = {"level", "ts", "caller", "msg"};
        const cJSON *f = j->child;
        const char *ts, *dot, *caller;
        double t;

        for (size_t i = 0; i < ELEMENTSOF(order); i++, f = f->next) {
                cr_assert_not_null(f);
                cr_assert_str_eq(
                        f->string,
                        order[i],
                        "field %zu is %s, expected %s in: %s",
                        i,
                        f->string,
                        order[i],
                        text);
        }
        cr_assert_str_eq(str_field(j, "level"), "info");
        cr_assert_str_eq(str_field(j, "msg"), msg);
        t = num_field(j, "ts");
        cr_assert(fabs(t - (double) time(NULL)) < 60, "ts %f is not now", t);
        /* Float seconds with exactly microsecond precision, as the contract shows. */
        ts = strstr(text, "\"ts\":") + 5;
        dot = strchr(ts, '.');
        cr_assert_not_null(dot);
        cr_assert_eq(strspn(dot + 1, "0123456789"), 6, "ts must have 6 decimals: %s", text);
        caller = str_field(j, "caller");
        cr_assert(strncmp(caller, "loggen/", 7) == 0 && strstr(caller, ".c:"), "caller \"%s\"", caller);
}

static bool is_greek(const char *s, unsigned num_strings) {
        static const char *const names[] = {
                "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"};
        for (unsigned i = 0; i < num_strings; i++)
                if (streq(s, names[i]))
                        return true;
        return false;
}

static void check_tick(
        const cJSON *j, const char *text, uint64_t count, double max_number, unsigned num_strings) {
        static const char *const order[] = {
                "level", "ts", "caller", "msg", "count", "random_number", "random_string"};
        const cJSON *f = j->child;
        double n;
        size_t i = 0;

        check_common(j, text, "tick");
        for (; f; f = f->next, i++)
                cr_assert(
                        i < ELEMENTSOF(order) && streq(f->string, order[i]),
                        "unexpected field order in %s",
                        text);
        cr_assert_eq(i, ELEMENTSOF(order), "tick line has %zu fields: %s", i, text);
        cr_assert_eq(num_field(j, "count"), (double) count, "count out of sequence: %s", text);
        n = num_field(j, "random_number");
        cr_assert(is_integer(n) && n <= max_number, "random_number %f outside [0, %f]", n, max_number);
        cr_assert(
                is_greek(str_field(j, "random_string"), num_strings),
                "random_string %s",
                str_field(j, "random_string"));
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define QUIET "--health-port", "0", "--health-address", "127.0.0.1"

Test(loggen, output_contract, .timeout = 60) {
        Proc p;
        cJSON *j;
        char *text;

        proc_start(&p, ARGS("--sleep-duration", "20ms", "--count", "25", QUIET), NULL);
        cr_assert(proc_wait(&p, 30));
        cr_assert_eq(proc_exit_status(&p), 0, "stderr: %s", p.ebuf.data);

        j = next_line(&p, 1, &text);
        cr_assert_not_null(j);
        check_common(j, text, "loop started");
        cr_assert_float_eq(num_field(j, "interval"), 0.02, 1e-9);
        cr_assert_eq(num_field(j, "max_number"), 100);
        cr_assert_eq(num_field(j, "num_strings"), 10);
        cr_assert(is_integer(num_field(j, "seed")));
        cJSON_Delete(j);
        free(text);

        j = next_line(&p, 1, &text);
        check_common(j, text, "health server listening");
        cr_assert(num_field(j, "port") > 0);
        cJSON_Delete(j);
        free(text);

        for (uint64_t i = 1; i <= 25; i++) {
                j = next_line(&p, 1, &text);
                cr_assert_not_null(j, "tick %lu missing", (unsigned long) i);
                check_tick(j, text, i, 100, 10);
                cJSON_Delete(j);
                free(text);
        }

        j = next_line(&p, 1, &text);
        check_common(j, text, "loop stopped");
        cr_assert_eq(num_field(j, "total_ticks"), 25);
        cJSON_Delete(j);
        free(text);
        cr_assert_null(next_line(&p, 0.1, NULL), "nothing after loop stopped");
        cr_assert_eq(p.ebuf.len, 0, "stderr not empty: %s", p.ebuf.data);
        proc_kill(&p);
}

/* Runs a rate-mode burst and hands back the tick lines. */
static size_t run_ticks(const char *const *args, const char *const *env, cJSON **ticks, size_t max) {
        Proc p;
        cJSON *j;
        size_t n = 0;

        proc_start(&p, args, env);
        cr_assert(proc_wait(&p, 60), "loggen did not finish");
        cr_assert_eq(proc_exit_status(&p), 0, "stderr: %s", p.ebuf.data);
        while ((j = next_line(&p, 0, NULL))) {
                if (streq(str_field(j, "msg"), "tick") && n < max)
                        ticks[n++] = j;
                else
                        cJSON_Delete(j);
        }
        proc_kill(&p);
        return n;
}

Test(loggen, distribution_over_ten_thousand_draws, .timeout = 120) {
        static cJSON *ticks[10000];
        bool seen[101] = {};
        unsigned distinct = 0;
        size_t n;

        n = run_ticks(
                ARGS("--rate", "100000", "--count", "10000", "--max-number", "100", QUIET),
                NULL,
                ticks,
                10000);
        cr_assert_eq(n, 10000);
        for (size_t i = 0; i < n; i++) {
                double v = num_field(ticks[i], "random_number");
                cr_assert(is_integer(v) && v <= 100);
                cr_assert_eq(num_field(ticks[i], "count"), (double) (i + 1));
                seen[(int) v] = true;
                cJSON_Delete(ticks[i]);
        }
        for (int i = 0; i <= 100; i++)
                distinct += seen[i];
        cr_assert_geq(distinct, 50, "only %u distinct values", distinct);
}

Test(loggen, strings_from_configured_subset, .timeout = 60) {
        static cJSON *ticks[3000];
        bool seen[3] = {};
        size_t n;

        n = run_ticks(
                ARGS("--rate",
                     "100000",
                     "--count",
                     "3000",
                     "--num-strings",
                     "3",
                     "--max-number",
                     "5",
                     QUIET),
                NULL,
                ticks,
                3000);
        cr_assert_eq(n, 3000);
        for (size_t i = 0; i < n; i++) {
                const char *s = str_field(ticks[i], "random_string");
                cr_assert(is_greek(s, 3), "\"%s\" is not among the first 3", s);
                seen[streq(s, "alpha") ? 0 : streq(s, "beta") ? 1 : 2] = true;
                cr_assert_leq(num_field(ticks[i], "random_number"), 5);
                cJSON_Delete(ticks[i]);
        }
        cr_assert(seen[0] && seen[1] && seen[2], "all three strings appear");
}

Test(loggen, seed_reproducible, .timeout = 60) {
        static cJSON *a[2000], *b[2000], *c[2000];
        size_t na, nb, nc, same_as_c = 0;

        na = run_ticks(ARGS("--seed", "42", "--rate", "100000", "--count", "2000", QUIET), NULL, a, 2000);
        nb = run_ticks(
                ARGS("--rate", "100000", "--count", "2000", QUIET),
                ((const char *const[]){"LOGGEN_SEED=42", NULL}),
                b,
                2000);
        nc = run_ticks(ARGS("--seed", "43", "--rate", "100000", "--count", "2000", QUIET), NULL, c, 2000);
        cr_assert(na == 2000 && nb == 2000 && nc == 2000);
        for (size_t i = 0; i < na; i++) {
                cr_assert_eq(
                        num_field(a[i], "random_number"),
                        num_field(b[i], "random_number"),
                        "line %zu differs",
                        i);
                cr_assert_str_eq(str_field(a[i], "random_string"), str_field(b[i], "random_string"));
                same_as_c += num_field(a[i], "random_number") == num_field(c[i], "random_number") &&
                             streq(str_field(a[i], "random_string"), str_field(c[i], "random_string"));
        }
        cr_assert_lt(same_as_c, 200, "another seed must give another sequence");
        for (size_t i = 0; i < 2000; i++) {
                cJSON_Delete(a[i]);
                cJSON_Delete(b[i]);
                cJSON_Delete(c[i]);
        }
}

/* Returns the "loop started" line of a run that is stopped right after. */
static cJSON *started_line(const char *const *args, const char *const *env) {
        Proc p;
        cJSON *j;

        proc_start(&p, args, env);
        j = next_line(&p, 10, NULL);
        cr_assert_not_null(j, "no output; stderr: %s", p.ebuf.data);
        cr_assert_str_eq(str_field(j, "msg"), "loop started");
        kill(p.pid, SIGTERM);
        cr_assert(proc_wait(&p, 5));
        proc_kill(&p);
        return j;
}

Test(loggen, precedence_flag_env_default, .timeout = 60) {
        const char *const env[] = {
                "LOGGEN_MAX_NUMBER=7", "LOGGEN_NUM_STRINGS=4", "LOGGEN_SLEEP_DURATION=1m30s", NULL};
        cJSON *j;

        j = started_line(ARGS(QUIET), NULL);
        cr_assert_eq(num_field(j, "max_number"), 100);
        cr_assert_eq(num_field(j, "num_strings"), 10);
        cr_assert_eq(num_field(j, "interval"), 5);
        cJSON_Delete(j);

        j = started_line(ARGS(QUIET), env);
        cr_assert_eq(num_field(j, "max_number"), 7);
        cr_assert_eq(num_field(j, "num_strings"), 4);
        cr_assert_eq(num_field(j, "interval"), 90);
        cJSON_Delete(j);

        j = started_line(
                ARGS("--max-number", "5", "--num-strings=2", "--sleep-duration", "250ms", QUIET), env);
        cr_assert_eq(num_field(j, "max_number"), 5);
        cr_assert_eq(num_field(j, "num_strings"), 2);
        cr_assert_float_eq(num_field(j, "interval"), 0.25, 1e-9);
        cJSON_Delete(j);
}

typedef struct {
        const char *env;  /* or NULL */
        const char *flag; /* or NULL */
        const char *value;
        const char *expect; /* in the message */
} Invalid;

static const Invalid invalid[] = {
        {"LOGGEN_SLEEP_DURATION=bogus", NULL, NULL, "LOGGEN_SLEEP_DURATION"},
        {"LOGGEN_SLEEP_DURATION=5", NULL, NULL, "LOGGEN_SLEEP_DURATION"},
        {"LOGGEN_SLEEP_DURATION=-5s", NULL, NULL, "LOGGEN_SLEEP_DURATION"},
        {"LOGGEN_SLEEP_DURATION=0s", NULL, NULL, "LOGGEN_SLEEP_DURATION"},
        {"LOGGEN_SLEEP_DURATION=99999999999h", NULL, NULL, "LOGGEN_SLEEP_DURATION"},
        {"LOGGEN_MAX_NUMBER=abc", NULL, NULL, "LOGGEN_MAX_NUMBER"},
        {"LOGGEN_MAX_NUMBER=-1", NULL, NULL, "LOGGEN_MAX_NUMBER"},
        {"LOGGEN_MAX_NUMBER=99999999999999999999", NULL, NULL, "LOGGEN_MAX_NUMBER"},
        {"LOGGEN_MAX_NUMBER=2147483648", NULL, NULL, "LOGGEN_MAX_NUMBER"},
        {"LOGGEN_MAX_NUMBER=", NULL, NULL, "LOGGEN_MAX_NUMBER"},
        {"LOGGEN_MAX_NUMBER= 5", NULL, NULL, "LOGGEN_MAX_NUMBER"},
        {"LOGGEN_NUM_STRINGS=0", NULL, NULL, "LOGGEN_NUM_STRINGS"},
        {"LOGGEN_NUM_STRINGS=11", NULL, NULL, "LOGGEN_NUM_STRINGS"},
        {"LOGGEN_NUM_STRINGS=x", NULL, NULL, "LOGGEN_NUM_STRINGS"},
        {"LOGGEN_HEALTH_PORT=70000", NULL, NULL, "LOGGEN_HEALTH_PORT"},
        {"LOGGEN_HEALTH_PORT=-1", NULL, NULL, "LOGGEN_HEALTH_PORT"},
        {"LOGGEN_HEALTH_PORT=http", NULL, NULL, "LOGGEN_HEALTH_PORT"},
        {"LOGGEN_HEALTH_ADDRESS=localhost", NULL, NULL, "LOGGEN_HEALTH_ADDRESS"},
        {"LOGGEN_RATE=-10", NULL, NULL, "LOGGEN_RATE"},
        {"LOGGEN_COUNT=1.5", NULL, NULL, "LOGGEN_COUNT"},
        {"LOGGEN_SEED=-1", NULL, NULL, "LOGGEN_SEED"},
        {"LOGGEN_SHUTDOWN_DELAY=1y", NULL, NULL, "LOGGEN_SHUTDOWN_DELAY"},
        {NULL, "--sleep-duration", "bogus", "--sleep-duration"},
        {NULL, "--sleep-duration", "0", "--sleep-duration"},
        {NULL, "--max-number", "-1", "--max-number"},
        {NULL, "--max-number", "1e3", "--max-number"},
        {NULL, "--num-strings", "0", "--num-strings"},
        {NULL, "--num-strings", "-2", "--num-strings"},
        {NULL, "--health-port", "65536", "--health-port"},
        {NULL, "--rate", "many", "--rate"},
        {NULL, "--count", "-1", "--count"},
        {NULL, "--seed", "18446744073709551616", "--seed"},
        {NULL, "--seed", "", "--seed"},
        {NULL, "--bogus", NULL, "--bogus"},
        {NULL, "stray", NULL, "stray"},
        {NULL, "--max-number", NULL, "--max-number"},
};

Test(loggen, invalid_values_exit_2_naming_the_setting, .timeout = 120) {
        for (size_t i = 0; i < ELEMENTSOF(invalid); i++) {
                const Invalid *c = invalid + i;
                const char *const env[] = {c->env, NULL};
                const char *const args[] = {c->flag, c->value, NULL};
                Proc p;

                proc_start(&p, c->flag ? args : NULL, c->env ? env : NULL);
                cr_assert(proc_wait(&p, 10), "case %zu did not exit", i);
                cr_assert_eq(
                        proc_exit_status(&p),
                        2,
                        "case %zu (%s%s): exit %d",
                        i,
                        strempty(c->env),
                        strempty(c->flag),
                        proc_exit_status(&p));
                cr_assert(
                        p.ebuf.len > 0 && strstr(p.ebuf.data, c->expect),
                        "case %zu: message \"%s\" lacks %s",
                        i,
                        strempty(p.ebuf.data),
                        c->expect);
                cr_assert(strncmp(p.ebuf.data, "loggen: ", 8) == 0, "message: %s", p.ebuf.data);
                cr_assert_eq(
                        strchr(p.ebuf.data, '\n'),
                        p.ebuf.data + p.ebuf.len - 1,
                        "one line only: %s",
                        p.ebuf.data);
                cr_assert_eq(p.obuf.len, 0, "case %zu: nothing on stdout", i);
                proc_kill(&p);
        }
}

/* A minimal HTTP client: returns the status code and copies the body. */
static int http_get(uint16_t port, const char *method, const char *path, char *body, size_t body_size) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        char req[256], resp[2048];
        size_t n = 0;
        ssize_t k;
        int fd, status = -1;
        const char *b;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(fd, 0);
        cr_assert_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0, "connect to %u: %m", port);
        k = snprintf(
                req,
                sizeof(req),
                "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                method,
                path);
        cr_assert_eq(write(fd, req, (size_t) k), k);
        while (n < sizeof(resp) - 1 && (k = read(fd, resp + n, sizeof(resp) - 1 - n)) > 0)
                n += (size_t) k;
        resp[n] = 0;
        close(fd);
        cr_assert(strncmp(resp, "HTTP/1.1 ", 9) == 0, "not HTTP: %s", resp);
        status = (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0');
        b = strstr(resp, "\r\n\r\n");
        (void) snprintf(body, body_size, "%s", b ? b + 4 : "");
        return status;
}

/* Starts loggen and reads up to its "health server listening" line; returns the port. */
static uint16_t start_with_health(Proc *p, const char *const *args) {
        cJSON *j;
        uint16_t port;

        proc_start(p, args, NULL);
        j = next_line(p, 10, NULL);
        cr_assert_not_null(j, "no output; stderr: %s", p->ebuf.data);
        cJSON_Delete(j);
        j = next_line(p, 10, NULL);
        cr_assert_not_null(j);
        cr_assert_str_eq(str_field(j, "msg"), "health server listening");
        port = (uint16_t) num_field(j, "port");
        cJSON_Delete(j);
        return port;
}

Test(loggen, health_endpoints_over_a_real_socket, .timeout = 60) {
        char body[256];
        uint16_t port;
        Proc p;
        cJSON *j;

        port = start_with_health(&p, ARGS("--sleep-duration", "50ms", "--shutdown-delay", "3s", QUIET));

        cr_assert_eq(http_get(port, "GET", "/health", body, sizeof(body)), 200);
        cr_assert_str_eq(body, "ok");
        cr_assert_eq(http_get(port, "GET", "/ready", body, sizeof(body)), 200);
        cr_assert_str_eq(body, "ready");
        cr_assert_eq(http_get(port, "HEAD", "/ready", body, sizeof(body)), 200);
        cr_assert_eq(http_get(port, "POST", "/ready", body, sizeof(body)), 405);
        cr_assert_eq(http_get(port, "GET", "/metrics", body, sizeof(body)), 404);

        /* Once shutdown starts, readiness fails while liveness still holds. */
        cr_assert_eq(kill(p.pid, SIGTERM), 0);
        do {
                j = next_line(&p, 5, NULL);
                cr_assert_not_null(j, "no loop stopped line");
                if (streq(str_field(j, "msg"), "loop stopped")) {
                        cJSON_Delete(j);
                        break;
                }
                cJSON_Delete(j);
        } while (true);
        cr_assert_eq(http_get(port, "GET", "/ready", body, sizeof(body)), 503);
        cr_assert_str_eq(body, "not ready");
        cr_assert_eq(http_get(port, "GET", "/health", body, sizeof(body)), 200);

        cr_assert(proc_wait(&p, 10));
        cr_assert_eq(proc_exit_status(&p), 0);
        proc_kill(&p);
}

static void check_signal_shutdown(int sig) {
        uint64_t ticks = 0;
        double t0;
        Proc p;
        cJSON *j;

        (void) start_with_health(&p, ARGS("--sleep-duration", "20ms", QUIET));
        while (ticks < 10) {
                j = next_line(&p, 5, NULL);
                cr_assert_not_null(j);
                cr_assert_str_eq(str_field(j, "msg"), "tick");
                ticks++;
                cJSON_Delete(j);
        }

        t0 = now_sec();
        cr_assert_eq(kill(p.pid, sig), 0);
        /* The contract: exit 0 within one second of the signal. */
        cr_assert(proc_wait(&p, 1.0), "still running %.2f s after signal %d", now_sec() - t0, sig);
        cr_assert_eq(proc_exit_status(&p), 0);

        /* Ticks printed after the ones read above, then the final line. */
        while ((j = next_line(&p, 0, NULL))) {
                const char *msg = str_field(j, "msg");
                if (streq(msg, "tick")) {
                        ticks++;
                        cr_assert_eq(num_field(j, "count"), (double) ticks);
                } else {
                        cr_assert_str_eq(msg, "loop stopped");
                        cr_assert_eq(
                                num_field(j, "total_ticks"),
                                (double) ticks,
                                "total_ticks must equal the tick lines printed");
                        cJSON_Delete(j);
                        cr_assert_null(next_line(&p, 0, NULL), "nothing after loop stopped");
                        proc_kill(&p);
                        return;
                }
                cJSON_Delete(j);
        }
        cr_assert_fail("no loop stopped line");
}

Test(loggen, sigterm_total_ticks_equals_lines, .timeout = 30) {
        check_signal_shutdown(SIGTERM);
}

Test(loggen, sigint_total_ticks_equals_lines, .timeout = 30) {
        check_signal_shutdown(SIGINT);
}

Test(loggen, rate_mode_far_above_one_per_tick, .timeout = 30) {
        size_t ticks = 0;
        Proc p;
        cJSON *j;

        /* With a 5 s interval a second would give no tick at all; the rate mode gives thousands. */
        (void) start_with_health(&p, ARGS("--rate", "5000", QUIET));
        for (double end = now_sec() + 1; now_sec() < end;)
                (void) proc_pump(&p, 10);
        kill(p.pid, SIGTERM);
        cr_assert(proc_wait(&p, 5));
        while ((j = next_line(&p, 0, NULL))) {
                if (streq(str_field(j, "msg"), "tick")) {
                        ticks++;
                        cr_assert_eq(num_field(j, "count"), (double) ticks);
                }
                cJSON_Delete(j);
        }
        cr_assert_gt(ticks, 500, "only %zu lines in a second at --rate 5000", ticks);
        proc_kill(&p);
}

Test(loggen, count_limit_stops_by_itself, .timeout = 30) {
        size_t ticks = 0;
        bool stopped = false;
        Proc p;
        cJSON *j;

        proc_start(&p, ARGS("--rate", "1000", "--count", "123", QUIET), NULL);
        cr_assert(proc_wait(&p, 20));
        cr_assert_eq(proc_exit_status(&p), 0);
        while ((j = next_line(&p, 0, NULL))) {
                const char *msg = str_field(j, "msg");
                ticks += streq(msg, "tick");
                if (streq(msg, "loop stopped")) {
                        cr_assert_eq(num_field(j, "total_ticks"), 123);
                        stopped = true;
                }
                cJSON_Delete(j);
        }
        cr_assert_eq(ticks, 123);
        cr_assert(stopped);
        proc_kill(&p);
}

Test(loggen, help_and_version) {
        Proc p;

        proc_start(&p, ARGS("--help"), NULL);
        cr_assert(proc_wait(&p, 10));
        cr_assert_eq(proc_exit_status(&p), 0);
        cr_assert_not_null(p.obuf.data);
        cr_assert(strstr(p.obuf.data, "Usage: loggen"));
        for (const char *const *f =
                     ARGS("--max-number",
                          "--num-strings",
                          "--sleep-duration",
                          "--health-port",
                          "--rate",
                          "--count",
                          "--seed",
                          "LOGGEN_MAX_NUMBER",
                          "LOGGEN_SLEEP_DURATION");
             *f;
             f++)
                cr_assert(strstr(p.obuf.data, *f), "help lacks %s", *f);
        proc_kill(&p);

        proc_start(&p, ARGS("--version"), NULL);
        cr_assert(proc_wait(&p, 10));
        cr_assert_eq(proc_exit_status(&p), 0);
        cr_assert(strncmp(strempty(p.obuf.data), "loggen ", 7) == 0, "version: %s", p.obuf.data);
        proc_kill(&p);
}

Test(loggen, busy_health_port_is_an_error, .timeout = 30) {
        Proc a, b;
        uint16_t port;
        char portstr[16];

        port = start_with_health(&a, ARGS(QUIET));
        (void) snprintf(portstr, sizeof(portstr), "%u", port);
        proc_start(&b, ARGS("--health-port", portstr, "--health-address", "127.0.0.1"), NULL);
        cr_assert(proc_wait(&b, 10));
        cr_assert_eq(proc_exit_status(&b), 1);
        cr_assert(b.ebuf.len && strstr(b.ebuf.data, portstr), "message names the port: %s", b.ebuf.data);
        proc_kill(&b);
        kill(a.pid, SIGTERM);
        cr_assert(proc_wait(&a, 5));
        proc_kill(&a);
}

/* At full speed the output buffer fills many times over; every count must still appear exactly once, in
 * order, and every line must be whole. */
Test(loggen, full_rate_prints_every_count_once, .timeout = 120) {
        const uint64_t n = 300000;
        uint64_t next = 1, ticks = 0;
        const char *p;
        Proc p_;

        proc_start(&p_, ARGS("--rate", "100000000", "--count", "300000", QUIET), NULL);
        cr_assert(proc_wait(&p_, 100), "did not finish");
        cr_assert_eq(proc_exit_status(&p_), 0);
        for (p = p_.obuf.data; p && *p;) {
                const char *nl = strchr(p, '\n'), *c;

                cr_assert_not_null(nl, "last line is not whole");
                cr_assert(p[0] == '{' && nl[-1] == '}', "broken line at tick %lu", (unsigned long) next);
                c = strstr(p, "\"msg\":\"tick\",\"count\":");
                if (c && c < nl) {
                        uint64_t v = strtoull(c + 21, NULL, 10);
                        cr_assert_eq(
                                v,
                                next,
                                "count %lu where %lu was due",
                                (unsigned long) v,
                                (unsigned long) next);
                        next++;
                        ticks++;
                }
                p = nl + 1;
        }
        cr_assert_eq(ticks, n);
        proc_kill(&p_);
}
