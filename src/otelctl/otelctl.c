/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "build-config.h"
#include "cleanup-libs.h"
#include "duration.h"
#include "errmsg.h"
#include "log.h"
#include "otelctl-render.h"
#include "parse-util.h"
#include "strbuf.h"

/* Exit statuses: the contract scripts rely on. */
#define EXIT_READY 0
#define EXIT_NOT_READY 1
#define EXIT_UNREACHABLE 2
#define EXIT_USAGE 64

#define DEFAULT_SOCKET "/run/otel-supervisor/status.sock"

enum {
        ARG_SERVICE = 0x100,
        ARG_POD,
        ARG_SEVERITY,
        ARG_SINCE,
};
#define REPLY_MAX (8 * 1024 * 1024)

static const char *arg_socket = NULL;
static const char *arg_host = NULL;
static bool arg_json = false;
static int64_t arg_timeout = 5 * NSEC_PER_MINUTE;
static int64_t arg_request_timeout = 5 * NSEC_PER_SEC;
/* logs */
static const char *arg_service = NULL;
static const char *arg_pod = NULL;
static const char *arg_severity = NULL;
static const char *arg_match = NULL;
static const char *arg_since = NULL;
static const char *arg_limit = NULL;
static bool arg_follow = false;

/* A log query may take the supervisor up to 9 s (two questions to ClickHouse of 4.5 s at most). */
#define LOGS_REQUEST_TIMEOUT (15 * NSEC_PER_SEC)
#define LOGS_FOLLOW_INTERVAL_USEC (1000 * 1000)
#define LOGS_REPLY_MAX (32 * 1024 * 1024)

static volatile sig_atomic_t stop_requested = 0;

static size_t on_body(char *p, size_t size, size_t n, void *userdata) {
        return strbuf_append(userdata, p, size * n) < 0 ? 0 : size * n;
}

/* Names what could not be reached (the socket's path, or HOST:PORT) and why, in the words of the system
 * call that failed: curl's own message speaks of "localhost port 80" for a unix socket. */
static int describe_failure(CURL *e, CURLcode cc, const char *cerr, char **reterr) {
        const char *what = arg_host ? "the supervisor at" : "the supervisor's socket";
        const char *where = arg_host ?: arg_socket;
        long os_errno = 0;

        (void) curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
        if (cc == CURLE_COULDNT_CONNECT && os_errno > 0)
                return errmsg_set(
                        reterr,
                        -EHOSTUNREACH,
                        "cannot connect to %s %s: %s%s",
                        what,
                        where,
                        strerror((int) os_errno),
                        os_errno == ENOENT || os_errno == ECONNREFUSED ? " (is otel-supervisor running?)"
                                                                       : "");
        if (cc == CURLE_OPERATION_TIMEDOUT)
                return errmsg_set(
                        reterr,
                        -EHOSTUNREACH,
                        "no answer from %s %s within %.0f s",
                        what,
                        where,
                        (double) arg_request_timeout / 1e9);
        return errmsg_set(
                reterr, -EHOSTUNREACH, "%s %s: %s", what, where, cerr[0] ? cerr : curl_easy_strerror(cc));
}

/* One HTTP request to the supervisor. Returns the HTTP status, or -EHOSTUNREACH when nothing answered. */
static int request(const char *method, const char *path, StrBuf *body, char **reterr) {
        _cleanup_(curl_easy_cleanupp) CURL *e = curl_easy_init();
        _cleanup_free_ char *url = NULL;
        char cerr[CURL_ERROR_SIZE] = "";
        long status = 0;
        CURLcode cc;

        if (!e)
                return -ENOMEM;
        /* Built to size: a cut URL would ask for something else (a shorter filter) without a word. */
        if (asprintf(&url, "http://%s%s", arg_host ?: "localhost", path) < 0)
                return -ENOMEM;
        if (!arg_host)
                (void) curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, arg_socket);
        (void) curl_easy_setopt(e, CURLOPT_URL, url);
        (void) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        if (streq(method, "POST"))
                (void) curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
        (void) curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        (void) curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
        (void) curl_easy_setopt(e, CURLOPT_ERRORBUFFER, cerr);
        (void) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) (arg_request_timeout / NSEC_PER_MSEC));
        (void) curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        cc = curl_easy_perform(e);
        if (cc != CURLE_OK)
                return describe_failure(e, cc, cerr, reterr);
        (void) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        return (int) status;
}

/* Fetches and parses /v1/status. */
static int fetch_status(cJSON **ret, char **reterr) {
        StrBuf body = STRBUF_INIT(REPLY_MAX);
        cJSON *j;
        int status;

        status = request("GET", "/v1/status", &body, reterr);
        if (status < 0) {
                strbuf_done(&body);
                return status;
        }
        if (status != 200) {
                int r = errmsg_set(
                        reterr, -EPROTO, "the supervisor answered HTTP %d: %s", status, strempty(body.data));
                strbuf_done(&body);
                return r;
        }
        j = cJSON_Parse(strempty(body.data));
        strbuf_done(&body);
        if (!cJSON_IsObject(j)) {
                cJSON_Delete(j);
                return errmsg_set(reterr, -EPROTO, "the status is not a JSON object");
        }
        *ret = j;
        return 0;
}

static bool status_ready(const cJSON *j) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "state");
        return cJSON_IsString(s) && streq(s->valuestring, "ready");
}

static int verb_status(void) {
        _cleanup_json_ cJSON *j = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = fetch_status(&j, &error);
        if (r < 0) {
                log_error("cannot get the status: %s", error ?: strerror(-r));
                return EXIT_UNREACHABLE;
        }
        if (arg_json) {
                _cleanup_free_ char *s = cJSON_Print(j);
                if (!s)
                        return log_oom(), EXIT_NOT_READY;
                printf("%s\n", s);
        } else
                otelctl_render_status(stdout, j, time(NULL));
        return status_ready(j) ? EXIT_READY : EXIT_NOT_READY;
}

static double now_sec(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Polls until ready or the timeout; exits 0 ready, 1 not ready in time, 2 never reachable. */
static int verb_wait(void) {
        double end = now_sec() + (double) arg_timeout / 1e9;
        bool reached = false;
        _cleanup_free_ char *error = NULL;
        char last[1024] = "";
        int r = 0;

        for (;;) {
                _cleanup_json_ cJSON *j = NULL;

                r = fetch_status(&j, &error);
                if (r >= 0) {
                        const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "state");
                        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(j, "reason");

                        reached = true;
                        if (status_ready(j)) {
                                printf("ready\n");
                                return EXIT_READY;
                        }
                        (void) snprintf(
                                last,
                                sizeof(last),
                                "%s%s%s",
                                cJSON_IsString(st) ? st->valuestring : "?",
                                cJSON_IsString(reason) ? ": " : "",
                                cJSON_IsString(reason) ? reason->valuestring : "");
                }
                if (now_sec() >= end)
                        break;
                (void) usleep(500 * USEC_PER_MSEC);
        }
        if (!reached) {
                log_error("cannot reach the supervisor: %s", error ?: strerror(-r));
                return EXIT_UNREACHABLE;
        }
        log_error("not ready after the timeout; last state: %s", last);
        return EXIT_NOT_READY;
}

static int verb_post(const char *path, const char *what) {
        StrBuf body = STRBUF_INIT(64 * 1024);
        _cleanup_free_ char *error = NULL;
        int status;

        status = request("POST", path, &body, &error);
        if (status < 0) {
                strbuf_done(&body);
                log_error("cannot reach the supervisor: %s", error ?: strerror(-status));
                return EXIT_UNREACHABLE;
        }
        if (status / 100 != 2) {
                log_error("%s refused (HTTP %d): %s", what, status, strempty(body.data));
                strbuf_done(&body);
                return EXIT_NOT_READY;
        }
        printf("%s", strempty(body.data));
        strbuf_done(&body);
        return EXIT_READY;
}

static void on_stop_signal(int sig) {
        stop_requested = 1;
}

static int append_param(StrBuf *url, const char *name, const char *value) {
        char *esc;
        int r;

        if (!value)
                return 0;
        esc = curl_easy_escape(NULL, value, 0);
        if (!esc)
                return -ENOMEM;
        r = strbuf_printf(url, "%s%s=%s", strchr(url->data, '?') ? "&" : "?", name, esc);
        curl_free(esc);
        return r;
}

/* One page of logs: rows printed, *cursor set to where the next page starts, *ret_more when the supervisor
 * had more right away. Returns 0, -EHOSTUNREACH (nothing answered), -EINVAL (a filter the supervisor
 * refused) or -EPROTO (another answer than rows), with *reterr saying which. */
static int logs_page(const char *after, char *cursor, size_t cursor_size, bool *ret_more, char **reterr) {
        StrBuf url = STRBUF_INIT(16 * 1024), body = STRBUF_INIT(LOGS_REPLY_MAX);
        _cleanup_json_ cJSON *j = NULL;
        const cJSON *rows, *row, *c;
        int status, r;

        r = strbuf_puts(&url, "/v1/logs");
        if (r >= 0)
                r = append_param(&url, "service", arg_service);
        if (r >= 0)
                r = append_param(&url, "pod", arg_pod);
        if (r >= 0)
                r = append_param(&url, "severity", arg_severity);
        if (r >= 0)
                r = append_param(&url, "match", arg_match);
        if (r >= 0)
                r = append_param(&url, "since", arg_since);
        if (r >= 0)
                r = append_param(&url, "limit", arg_limit);
        if (r >= 0)
                r = append_param(&url, "after", after);
        if (r < 0) {
                strbuf_done(&url);
                return errmsg_set(reterr, -EPROTO, "the filters are too long");
        }
        status = request("GET", url.data, &body, reterr);
        strbuf_done(&url);
        if (status < 0) {
                strbuf_done(&body);
                return status;
        }
        if (status != 200) {
                const char *b = strempty(body.data);
                r = errmsg_set(
                        reterr,
                        status == 400 ? -EINVAL : -EPROTO, /* 400: a filter the supervisor refused */
                        "the supervisor answered HTTP %d: %.*s",
                        status,
                        (int) strcspn(b, "\n"),
                        b);
                strbuf_done(&body);
                return r;
        }
        j = cJSON_Parse(strempty(body.data));
        strbuf_done(&body);
        rows = cJSON_GetObjectItemCaseSensitive(j, "rows");
        c = cJSON_GetObjectItemCaseSensitive(j, "cursor");
        if (!cJSON_IsArray(rows) || !cJSON_IsString(c) || strlen(c->valuestring) >= cursor_size)
                return errmsg_set(reterr, -EPROTO, "unexpected answer from the supervisor");
        cJSON_ArrayForEach(row, rows) {
                if (arg_json) {
                        _cleanup_free_ char *line = cJSON_PrintUnformatted(row);
                        if (!line)
                                return log_oom(), -ENOMEM;
                        printf("%s\n", line);
                } else
                        otelctl_render_log_row(stdout, row);
        }
        (void) fflush(stdout);
        memcpy(cursor, c->valuestring, strlen(c->valuestring) + 1);
        *ret_more = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "more"));
        return 0;
}

/* Recent rows, then with --follow the rows that arrive, until SIGINT/SIGTERM (exit 0). While following, a
 * supervisor that goes away or a ClickHouse that does not answer is reported once and asked again each
 * second; nothing is skipped meanwhile (the cursor stays). */
static int verb_logs(void) {
        _cleanup_free_ char *error = NULL, *last_error = NULL;
        struct sigaction sa = {.sa_handler = on_stop_signal};
        char cursor[64] = "";
        bool more = false;
        int r;

        if (arg_request_timeout < LOGS_REQUEST_TIMEOUT)
                arg_request_timeout = LOGS_REQUEST_TIMEOUT;
        r = logs_page(NULL, cursor, sizeof(cursor), &more, &error);
        if (r < 0) {
                log_error("cannot get the logs: %s", error ?: strerror(-r));
                return r == -EHOSTUNREACH ? EXIT_UNREACHABLE : r == -EINVAL ? EXIT_USAGE : EXIT_NOT_READY;
        }
        if (!arg_follow)
                return EXIT_READY;

        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);
        while (!stop_requested) {
                if (!more)
                        (void) usleep(LOGS_FOLLOW_INTERVAL_USEC); /* a signal cuts it short */
                if (stop_requested)
                        break;
                error = mfree(error);
                r = logs_page(cursor, cursor, sizeof(cursor), &more, &error);
                if (r < 0) {
                        const char *e = error ?: strerror(-r);
                        more = false;
                        if (!streq_ptr(e, last_error))
                                log_warning("cannot get the logs, asking again every second: %s", e);
                        free(last_error);
                        last_error = strdup(e);
                } else if (last_error) {
                        log_info("getting the logs again");
                        last_error = mfree(last_error);
                }
        }
        return EXIT_READY;
}

static void help(void) {
        printf("Usage: otelctl [OPTIONS...] COMMAND\n\n"
               "Asks otel-supervisor about the appliance.\n\n"
               "Commands:\n"
               "  status              the state of the stack (exit 0 ready, 1 not ready, 2 unreachable)\n"
               "  wait                wait until the stack is ready (exit 0), or the timeout passes (1)\n"
               "  logs                recent rows of otel_logs, oldest first; with --follow, then the new ones\n"
               "  restart PROCESS     restart a child process of the local runtime (unix socket only)\n"
               "  reapply             apply the manifests again now (cluster mode, unix socket only)\n\n"
               "Options:\n"
               "  -s, --socket PATH              the supervisor's unix socket\n"
               "                                 (env OTELCTL_SOCKET, default %s)\n"
               "  -H, --host HOST:PORT           ask over TCP instead, e.g. localhost:28090\n"
               "                                 (env OTELCTL_HOST)\n"
               "  -j, --json                     status: the status document; logs: one JSON object per row\n"
               "  -t, --timeout DURATION         wait: how long\n"
               "                                 (default 5m)\n"
               "                                 allowed: a duration of 0s or more, like 30s or 5m\n"
               "      --service NAME             logs: rows of this service (ServiceName) only\n"
               "      --pod PREFIX               logs: rows of pods whose name starts with PREFIX only\n"
               "      --severity LEVEL           logs: rows of this severity or above only\n"
               "                                 allowed: trace, debug, info, warn, error, fatal, or a number from 0 to 24\n"
               "  -m, --match TEXT               logs: rows whose body contains TEXT (any case) only\n"
               "      --since DURATION           logs: rows at most this old\n"
               "                                 (default 1h)\n"
               "                                 allowed: a duration from 1s to 744h0m0s, like 30s, 15m or 2h\n"
               "  -n, --limit N                  logs: at most N rows (the newest), and per page while following\n"
               "                                 (default 100)\n"
               "                                 allowed: an integer from 1 to 1000\n"
               "  -f, --follow                   logs: keep printing rows as they arrive, until Ctrl-C\n"
               "  -h, --help                     show this help\n"
               "      --version                  show the version\n",
               DEFAULT_SOCKET);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                {"socket", required_argument, NULL, 's'},
                {"host", required_argument, NULL, 'H'},
                {"json", no_argument, NULL, 'j'},
                {"timeout", required_argument, NULL, 't'},
                {"service", required_argument, NULL, ARG_SERVICE},
                {"pod", required_argument, NULL, ARG_POD},
                {"severity", required_argument, NULL, ARG_SEVERITY},
                {"match", required_argument, NULL, 'm'},
                {"since", required_argument, NULL, ARG_SINCE},
                {"limit", required_argument, NULL, 'n'},
                {"follow", no_argument, NULL, 'f'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {},
        };
        const char *verb;
        int c;

        log_set_program_name("otelctl");
        arg_socket = getenv("OTELCTL_SOCKET") ?: DEFAULT_SOCKET;
        arg_host = getenv("OTELCTL_HOST");
        if (isempty(arg_host))
                arg_host = NULL;

        opterr = 0;
        while ((c = getopt_long(argc, argv, ":s:H:jt:m:n:fh", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        arg_socket = optarg;
                        arg_host = NULL;
                        break;
                case 'H':
                        arg_host = optarg;
                        break;
                case 'j':
                        arg_json = true;
                        break;
                case 't':
                        if (parse_duration(optarg, &arg_timeout) < 0 || arg_timeout < 0) {
                                log_error(
                                        "invalid value \"%s\" for --timeout: expected a duration like 30s or 5m",
                                        optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_SERVICE:
                        arg_service = optarg;
                        break;
                case ARG_POD:
                        arg_pod = optarg;
                        break;
                case ARG_SEVERITY:
                        arg_severity = optarg;
                        break;
                case 'm':
                        arg_match = optarg;
                        break;
                case ARG_SINCE: {
                        int64_t d;
                        if (parse_duration(optarg, &d) < 0 || d < NSEC_PER_SEC || d > 744 * NSEC_PER_HOUR) {
                                log_error(
                                        "invalid value \"%s\" for --since: expected a duration from 1s to 744h, like 30s, 15m or 2h",
                                        optarg);
                                return EXIT_USAGE;
                        }
                        arg_since = optarg;
                        break;
                }
                case 'n': {
                        uint32_t n;
                        if (safe_atou32(optarg, &n) < 0 || n < 1 || n > 1000) {
                                log_error(
                                        "invalid value \"%s\" for --limit: expected an integer from 1 to 1000",
                                        optarg);
                                return EXIT_USAGE;
                        }
                        arg_limit = optarg;
                        break;
                }
                case 'f':
                        arg_follow = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("otelctl %s\n", PROJECT_VERSION);
                        return 0;
                case ':':
                        log_error("option '%s' needs a value", argv[optind - 1]);
                        return EXIT_USAGE;
                default:
                        log_error("unknown option '%s' (see --help)", argv[optind - 1]);
                        return EXIT_USAGE;
                }

        if (optind >= argc) {
                log_error("no command given (see --help)");
                return EXIT_USAGE;
        }
        verb = argv[optind];
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return EXIT_UNREACHABLE;

        if (streq(verb, "status") && optind + 1 == argc)
                return verb_status();
        if (streq(verb, "wait") && optind + 1 == argc)
                return verb_wait();
        if (streq(verb, "logs") && optind + 1 == argc)
                return verb_logs();
        if (streq(verb, "restart") && optind + 2 == argc) {
                _cleanup_free_ char *path = NULL;
                char *esc = curl_easy_escape(NULL, argv[optind + 1], 0);
                int k = asprintf(&path, "/v1/restart?process=%s", strempty(esc));
                curl_free(esc);
                if (k < 0)
                        return log_oom(), EXIT_UNREACHABLE;
                return verb_post(path, "restart");
        }
        if (streq(verb, "reapply") && optind + 1 == argc)
                return verb_post("/v1/reapply", "reapply");
        if (streq(verb, "help"))
                return help(), 0;
        log_error("unknown command or wrong arguments: \"%s\" (see --help)", verb);
        return EXIT_USAGE;
}
