/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
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
#include "strbuf.h"

/* Exit statuses: the contract scripts rely on. */
#define EXIT_READY 0
#define EXIT_NOT_READY 1
#define EXIT_UNREACHABLE 2
#define EXIT_USAGE 64

#define DEFAULT_SOCKET "/run/otel-supervisor/status.sock"
#define REPLY_MAX (8 * 1024 * 1024)

static const char *arg_socket = NULL;
static const char *arg_host = NULL;
static bool arg_json = false;
static int64_t arg_timeout = 5 * NSEC_PER_MINUTE;
static int64_t arg_request_timeout = 5 * NSEC_PER_SEC;

static size_t on_body(char *p, size_t size, size_t n, void *userdata) {
        return strbuf_append(userdata, p, size * n) < 0 ? 0 : size * n;
}

/* One HTTP request to the supervisor. Returns the HTTP status, or -EHOSTUNREACH when nothing answered. */
static int request(const char *method, const char *path, StrBuf *body, char **reterr) {
        _cleanup_(curl_easy_cleanupp) CURL *e = curl_easy_init();
        char url[512], cerr[CURL_ERROR_SIZE] = "";
        long status = 0;
        CURLcode cc;

        if (!e)
                return -ENOMEM;
        if (arg_host)
                (void) snprintf(url, sizeof(url), "http://%s%s", arg_host, path);
        else {
                (void) snprintf(url, sizeof(url), "http://localhost%s", path);
                (void) curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, arg_socket);
        }
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
                return errmsg_set(
                        reterr,
                        -EHOSTUNREACH,
                        "%s: %s",
                        arg_host ? arg_host : arg_socket,
                        cerr[0] ? cerr : curl_easy_strerror(cc));
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

static void help(void) {
        printf("Usage: otelctl [OPTIONS...] COMMAND\n\n"
               "Asks otel-supervisor about the appliance.\n\n"
               "Commands:\n"
               "  status              the state of the stack (exit 0 ready, 1 not ready, 2 unreachable)\n"
               "  wait                wait until the stack is ready (exit 0), or the timeout passes (1)\n"
               "  restart PROCESS     restart a child process of the local runtime (unix socket only)\n"
               "  reapply             apply the manifests again now (cluster mode, unix socket only)\n\n"
               "Options:\n"
               "  -s, --socket PATH   the supervisor's unix socket (default %s, env OTELCTL_SOCKET)\n"
               "  -H, --host HOST:PORT  ask over TCP instead, e.g. localhost:28090 (env OTELCTL_HOST)\n"
               "  -j, --json          status: print the status document as JSON\n"
               "  -t, --timeout D     wait: how long (Go duration, default 5m)\n"
               "  -h, --help          show this help\n"
               "      --version       show the version\n",
               DEFAULT_SOCKET);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                {"socket", required_argument, NULL, 's'},
                {"host", required_argument, NULL, 'H'},
                {"json", no_argument, NULL, 'j'},
                {"timeout", required_argument, NULL, 't'},
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
        while ((c = getopt_long(argc, argv, "s:H:jt:h", options, NULL)) >= 0)
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
        if (streq(verb, "restart") && optind + 2 == argc) {
                char path[256];
                char *esc = curl_easy_escape(NULL, argv[optind + 1], 0);
                (void) snprintf(path, sizeof(path), "/v1/restart?process=%s", strempty(esc));
                curl_free(esc);
                return verb_post(path, "restart");
        }
        if (streq(verb, "reapply") && optind + 1 == argc)
                return verb_post("/v1/reapply", "reapply");
        if (streq(verb, "help"))
                return help(), 0;
        log_error("unknown command or wrong arguments: \"%s\" (see --help)", verb);
        return EXIT_USAGE;
}
