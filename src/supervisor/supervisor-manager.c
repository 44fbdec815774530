/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "build-config.h"
#include "cleanup.h"
#include "duration.h"
#include "log.h"
#include "parse-util.h"
#include "secrets.h"
#include "strbuf.h"
#include "curl-glue.h"
#include "http-server.h"
#include "supervisor-clickhouse.h"
#include "supervisor-cluster.h"
#include "supervisor-local.h"
#include "supervisor-logs.h"
#include "supervisor-manager.h"
#include "supervisor-probe.h"
#include "supervisor-samples.h"
#include "supervisor-state.h"
#include "supervisor-status.h"
#include "util.h"

/* The time one ClickHouse request of the checks may take. */
#define CLICKHOUSE_CHECK_TIMEOUT_USEC (10 * USEC_PER_SEC)
/* systemd's start deadline is start_timeout plus this; READY=1 is due at start_timeout, ready or not. */
#define START_DEADLINE_GRACE_USEC (60 * USEC_PER_SEC)

struct Manager {
        SupervisorConfig config;
        char *secrets_dir; /* <state_dir>/secrets: the generated passwords */
        char *ch_password;

        sd_event *event;
        sd_event_source *poll_timer;
        sd_event_source *sigterm_source, *sigint_source;
        sd_event_source *stop_timer;
        sd_event_source *start_deadline; /* start_timeout: READY=1 by then, whatever the state */
        CurlGlue *glue;
        ClickHouseClient *ch_client; /* the common client (clickhouse-client.h) both checks ask through */
        ClickHouseChecker *clickhouse;
        SampleChecker *samples; /* resource samples' data quality (supervisor-samples.c) */
        LogsService *logs;      /* GET /v1/logs (supervisor-logs.c) */
        HttpServer *status_unix;
        HttpServer *status_tcp;

        LocalRuntime *local;        /* local mode */
        HealthProbe *shipper_probe; /* local mode: the shipper's /health */
        Cluster *cluster;           /* cluster mode */

        SupervisorState state;
        char *reason;
        uint64_t since_usec;   /* CLOCK_REALTIME of the last state change */
        uint64_t started_usec; /* CLOCK_MONOTONIC */
        bool ever_ready;
        bool start_overdue;            /* start_timeout passed before the stack was ever ready */
        SupervisorState cluster_phase; /* what the cluster driver said last, with its reason */
        char *cluster_reason;
        bool cluster_phase_known;
        bool notified_ready;
        bool stopping;
        char *last_status_line;      /* what STATUS= said last */
        char *last_logged_state;     /* the state and reason the journal was told last */
        uint64_t counts_logged_usec; /* CLOCK_MONOTONIC of the last counts line, 0 before the first */
        uint64_t counts_logged_rows;
        int exit_status;
};

/* Tells systemd: STATUS= on every change of the one-line summary (the row count included: `systemctl status`
 * shows the latest), READY=1 once. The journal gets a line only when the state or the wording of its reason
 * changes (not when only a number in it does: an age, a count); the counts go there every
 * counts_log_interval (log_counts()), not with every row that arrives. */
static void manager_notify(Manager *m) {
        _cleanup_free_ char *line = NULL, *state_line = NULL;
        const ClickHouseHealth *h = m->clickhouse ? clickhouse_checker_health(m->clickhouse) : NULL;
        int r;

        r = asprintf(
                &state_line,
                "%s%s%s",
                supervisor_state_to_string(m->state),
                m->reason ? ": " : "",
                strempty(m->reason));
        if (r < 0)
                return;
        if (m->state == STATE_READY && h)
                r = asprintf(&line, "ready: %" PRIu64 " rows in ClickHouse", h->rows);
        else
                line = strdup(state_line);
        if (r < 0 || !line)
                return;

        if (!streq_ptr(line, m->last_status_line)) {
                (void) sd_notifyf(false, "STATUS=%s", line);
                free(m->last_status_line);
                m->last_status_line = TAKE_PTR(line);
        }
        /* Numbers in a reason (an age, a count) change at every poll while the problem stays the same. */
        for (char *src = state_line, *dst = state_line;; src++) {
                if (*src >= '0' && *src <= '9') {
                        if (dst == state_line || dst[-1] != '#')
                                *dst++ = '#';
                        continue;
                }
                *dst++ = *src;
                if (!*src)
                        break;
        }
        if (!streq_ptr(state_line, m->last_logged_state)) {
                log_info("state: %s", m->last_status_line);
                free(m->last_logged_state);
                m->last_logged_state = TAKE_PTR(state_line);
        }
        if (m->state == STATE_READY && !m->notified_ready) {
                (void) sd_notify(false, "READY=1");
                m->notified_ready = true;
        }
}

/* One journal line with the counts every counts_log_interval, whatever the state. */
static void log_counts(Manager *m, const ClickHouseHealth *h) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        if (m->counts_logged_usec > 0 &&
            now - m->counts_logged_usec < nsec_to_usec(m->config.counts_log_interval))
                return;
        if (!h->reachable || h->error)
                return; /* the state line says why */
        log_info(
                "counts: %" PRIu64 " rows in ClickHouse (%+" PRIi64 " since the last count), %" PRIu64
                " lost, %" PRIu64 " duplicated",
                h->rows,
                m->counts_logged_usec > 0 ? (int64_t) (h->rows - m->counts_logged_rows) : (int64_t) h->rows,
                h->lost,
                h->duplicated);
        m->counts_logged_usec = now;
        m->counts_logged_rows = h->rows;
}

static void set_state(Manager *m, SupervisorState s, const char *reason) {
        if (m->state != s) {
                m->state = s;
                m->since_usec = now_usec(CLOCK_REALTIME);
        }
        if (!streq_ptr(m->reason, reason)) {
                free(m->reason);
                m->reason = reason ? strdup(reason) : NULL;
        }
        if (s == STATE_READY)
                m->ever_ready = true;
        manager_notify(m);
}

/* Re-evaluates the state from what is known and tells systemd about changes. Cheap; called after every
 * event that may change something. */
static void apply_cluster_phase(Manager *m);

static void manager_update_state(Manager *m) {
        StrBuf reasons = STRBUF_INIT(8192);
        bool up = true;

        if (m->stopping)
                return;
        if (m->local)
                local_runtime_problems(m->local, &reasons);
        else {
                /* The cluster driver sets the phases itself until the stack is up. */
                up = cluster_up(m->cluster, &reasons);
                if (!up) {
                        strbuf_done(&reasons);
                        if (m->start_overdue && m->cluster_phase_known)
                                apply_cluster_phase(m);
                        return;
                }
        }
        clickhouse_checker_problems(
                m->clickhouse, nsec_to_usec(m->config.poll_interval), m->config.max_log_age, &reasons);
        /* What the shipper cannot fix by retrying (a refused password, say) it says on /health; its process
         * state does not show it. Only answers count: a shipper that is not running is reported above. */
        if (m->shipper_probe) {
                long st = health_probe_status(m->shipper_probe);
                const char *answer = health_probe_answer(m->shipper_probe);

                /* "degraded: ClickHouse refused …" is shown as "shipper: ClickHouse refused …". */
                if (startswith(answer, "degraded: "))
                        answer += strlen("degraded: ");
                if (st != 0 && (st < 200 || st > 299))
                        (void) strbuf_printf(
                                &reasons,
                                "%sshipper: %.400s",
                                reasons.len > 0 ? "; " : "",
                                isempty(answer) ? "/health failed" : answer);
        }

        if (reasons.len == 0)
                set_state(m, STATE_READY, NULL);
        else if (
                m->ever_ready ||
                now_usec(CLOCK_MONOTONIC) - m->started_usec > nsec_to_usec(m->config.start_timeout))
                set_state(m, STATE_DEGRADED, reasons.data);
        else
                set_state(
                        m,
                        m->config.mode == SUPERVISOR_MODE_LOCAL ? STATE_STARTING : STATE_WAITING_ROLLOUT,
                        reasons.data);
        strbuf_done(&reasons);
}

static void on_clickhouse_checked(ClickHouseChecker *c, const ClickHouseHealth *h, void *userdata) {
        Manager *m = userdata;

        manager_update_state(m);
        log_counts(m, h);
}

static void on_probe_done(void *userdata) {
        manager_update_state(userdata);
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        int r;

        r = clickhouse_checker_run(m->clickhouse, on_clickhouse_checked, m);
        if (m->shipper_probe)
                (void) health_probe_run(m->shipper_probe, on_probe_done, m);
        if (m->samples)
                (void) sample_checker_run(m->samples);
        if (r < 0 && r != -EBUSY)
                log_warning_errno(r, "Failed to start the ClickHouse check: %m");
        manager_update_state(m);

        r = sd_event_source_set_time_relative(s, nsec_to_usec(m->config.poll_interval));
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (r < 0)
                log_error_errno(r, "Failed to re-arm the poll timer: %m");
        return 0;
}

static bool all_stopped(Manager *m) {
        return (!m->local || local_runtime_stopped(m->local)) && (!m->cluster || cluster_idle(m->cluster));
}

static void on_local_change(void *userdata) {
        Manager *m = userdata;

        if (m->stopping) {
                if (all_stopped(m))
                        (void) sd_event_exit(m->event, m->exit_status);
                return;
        }
        manager_update_state(m);
}

/* The cluster driver's phases are the state until the stack is first up; once start_timeout has passed
 * without it, a phase that is still under way is a problem: degraded, the phase named in the reason
 * ("waiting-rollout: pod loggen-…: CrashLoopBackOff"). A failure stays failed. */
static void apply_cluster_phase(Manager *m) {
        _cleanup_free_ char *text = NULL;

        if (!m->start_overdue || m->ever_ready || m->cluster_phase == STATE_FAILED) {
                set_state(m, m->cluster_phase, m->cluster_reason);
                return;
        }
        if (asprintf(
                    &text,
                    "%s: %s",
                    supervisor_state_to_string(m->cluster_phase),
                    strempty(m->cluster_reason)) < 0)
                text = NULL;
        set_state(m, STATE_DEGRADED, text ?: m->cluster_reason);
}

static void on_cluster_phase(SupervisorState s, const char *reason, void *userdata) {
        Manager *m = userdata;

        m->cluster_phase = s;
        m->cluster_phase_known = true;
        if (!streq_ptr(m->cluster_reason, reason)) {
                free(m->cluster_reason);
                m->cluster_reason = reason ? strdup(reason) : NULL;
        }
        apply_cluster_phase(m);
}

static void on_cluster_change(void *userdata) {
        manager_update_state(userdata);
}

static int on_stop_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        /* Children get their own SIGKILL escalation; this is the last resort. */
        if (!all_stopped(m))
                log_warning("Children still running at exit, killing them.");
        return sd_event_exit(m->event, m->exit_status);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        size_t n_processes = m->local ? local_runtime_n_processes(m->local) : 0;
        int r;

        if (m->stopping)
                return 0;
        m->stopping = true;
        log_info("Received %s, stopping.", strsignal((int) si->ssi_signo));
        (void) sd_notify(false, "STOPPING=1\nSTATUS=stopping");
        (void) sd_event_source_set_enabled(m->poll_timer, SD_EVENT_OFF);
        if (m->local)
                local_runtime_stop(m->local);
        if (m->cluster)
                cluster_stop(m->cluster);
        if (all_stopped(m))
                return sd_event_exit(m->event, m->exit_status);
        r = sd_event_add_time_relative(
                m->event,
                &m->stop_timer,
                CLOCK_MONOTONIC,
                nsec_to_usec(m->config.stop_timeout) * (n_processes + 1) + 2 * USEC_PER_SEC,
                0,
                on_stop_timer,
                m);
        if (r < 0)
                return sd_event_exit(m->event, m->exit_status);
        return 0;
}

static StatusSources status_sources(Manager *m) {
        return (StatusSources){
                .config = &m->config,
                .state = m->state,
                .reason = m->reason,
                .since_usec = m->since_usec,
                .started_usec = m->started_usec,
                .clickhouse = m->clickhouse,
                .samples = m->samples,
                .local = m->local,
                .cluster = m->cluster,
        };
}

static char *manager_status_json(Manager *m) {
        StatusSources s = status_sources(m);
        return status_render_json(&s);
}

static char *manager_metrics_text(Manager *m) {
        StatusSources s = status_sources(m);
        return status_render_metrics(&s);
}

static int handle_status(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        char *s = manager_status_json(userdata);

        if (!s)
                return -ENOMEM;
        resp->status = 200;
        resp->content_type = "application/json";
        resp->body = s;
        resp->size = strlen(s);
        return 0;
}

static int handle_healthz(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Manager *m = userdata;

        if (m->state == STATE_READY)
                return http_response_set_text(resp, 200, "ok\n");
        return http_response_printf(
                resp,
                503,
                "%s%s%s\n",
                supervisor_state_to_string(m->state),
                m->reason ? ": " : "",
                strempty(m->reason));
}

static int handle_metrics(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        char *s = manager_metrics_text(userdata);

        if (!s)
                return -ENOMEM;
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        resp->body = s;
        resp->size = strlen(s);
        return 0;
}

/* Socket only: restart one child process (local mode) or re-apply the manifests (cluster mode). */
static int handle_restart(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Manager *m = userdata;
        const char *name = http_request_query(req, "process"), *state = NULL;
        int r;

        r = m->local ? local_runtime_restart(m->local, name, &state) : -ENOENT;
        if (r == -EBUSY)
                return http_response_printf(resp, 409, "%s is %s\n", name, state);
        if (r < 0)
                return http_response_printf(resp, 404, "no process \"%s\"\n", strempty(name));
        return http_response_printf(resp, 202, "restarting %s\n", name);
}

static int handle_reapply(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Manager *m = userdata;
        int r;

        if (!m->cluster)
                return http_response_set_text(resp, 409, "not in cluster mode\n");
        r = cluster_reapply(m->cluster);
        if (r < 0)
                return http_response_printf(resp, 409, "cannot re-apply now: %s\n", strerror(-r));
        return http_response_set_text(resp, 202, "re-applying\n");
}

static int handle_logs(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Manager *m = userdata;
        return logs_service_handle(m->logs, req, resp);
}

/* The TCP port has no authentication and may be reachable from other hosts, while the logs are the
 * applications' data: ClickHouse guards them with a password and the socket with its mode and group. So the
 * port serves them only when status.tcp_logs says that whoever reaches it may read them. */
static int handle_logs_tcp(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Manager *m = userdata;

        if (!m->config.status_tcp_logs)
                return http_response_set_text(
                        resp,
                        403,
                        "logs are served on the unix socket; this TCP port serves them only with status.tcp_logs: "
                        "true\n");
        return logs_service_handle(m->logs, req, resp);
}

static const HttpRoute socket_routes[] = {
        {"/v1/status", HTTP_READ, handle_status},
        {"/v1/logs", HTTP_READ, handle_logs},
        {"/healthz", HTTP_READ, handle_healthz},
        {"/metrics", HTTP_READ, handle_metrics},
        {"/v1/restart", HTTP_POST, handle_restart},
        {"/v1/reapply", HTTP_POST, handle_reapply},
};

/* The TCP port is forwarded to the host: read-only. The write routes are listed so that they answer 405
 * (the method is wrong for this port) rather than 404. */
static const HttpRoute tcp_routes[] = {
        {"/v1/status", HTTP_READ, handle_status},
        {"/v1/logs", HTTP_READ, handle_logs_tcp},
        {"/healthz", HTTP_READ, handle_healthz},
        {"/metrics", HTTP_READ, handle_metrics},
        {"/v1/restart", 0, handle_restart},
        {"/v1/reapply", 0, handle_reapply},
};

/* Reads the password file; no password, no start (an empty password is never accepted). */
static int read_password(const char *path, char **ret) {
        _cleanup_free_ char *s = NULL;
        size_t n;
        int r;

        r = read_full_file(path, 4096, &s, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to read the ClickHouse password from %s: %m", path);
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
                s[--n] = 0;
        if (n == 0 || strlen(s) != n)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "%s: the ClickHouse password must not be empty", path);
        *ret = TAKE_PTR(s);
        return 0;
}

/* The ClickHouse passwords: generated at first start into <state_dir>/secrets (secrets.h), which the
 * embedded endpoint (local mode) and the Secret clickhouse-credentials (cluster mode) take them from. The
 * supervisor itself reads as otel_reader, unless clickhouse.password_file names another password. */
static int ensure_secrets(Manager *m) {
        int r;

        if (asprintf(&m->secrets_dir, "%s/secrets", m->config.state_dir) < 0)
                return log_oom();
        r = mkdir_p(m->config.state_dir, 0750);
        if (r >= 0)
                r = secrets_ensure(m->secrets_dir);
        if (r < 0)
                return log_error_errno(
                        r, "Failed to set up the ClickHouse passwords in %s: %m", m->secrets_dir);
        if (m->config.ch_password_file)
                return read_password(m->config.ch_password_file, &m->ch_password);
        r = secret_read(m->secrets_dir, SECRET_READER, &m->ch_password);
        if (r < 0)
                return log_error_errno(
                        r, "Failed to read %s/%s: %m", m->secrets_dir, secret_file_name(SECRET_READER));
        return 0;
}

static int setup_status(Manager *m) {
        HttpServerConfig sc = {
                .routes = socket_routes,
                .n_routes = ELEMENTSOF(socket_routes),
                .userdata = m,
                .max_body = 4096,
                .server_header = "otel-supervisor/" PROJECT_VERSION,
        };
        HttpServerConfig tc = sc;
        int r;

        if (!isempty(m->config.status_socket)) {
                _cleanup_free_ char *dir = strdup(m->config.status_socket);
                char *slash;

                if (!dir)
                        return log_oom();
                slash = strrchr(dir, '/');
                if (slash && slash != dir) {
                        *slash = 0;
                        (void) mkdir_p(dir, 0755);
                }
                r = http_server_new_unix(
                        m->event,
                        m->config.status_socket,
                        (mode_t) m->config.status_socket_mode,
                        &sc,
                        &m->status_unix);
                if (r < 0)
                        return log_error_errno(r, "Failed to listen on %s: %m", m->config.status_socket);
        }
        if (!isempty(m->config.status_listen)) {
                _cleanup_free_ char *addr = strdup(m->config.status_listen);
                char *colon;
                uint16_t port = 0;

                if (!addr)
                        return log_oom();
                colon = strrchr(addr, ':');
                *colon = 0;
                (void) safe_atou16(colon + 1, &port); /* checked when the config was read */
                if (addr[0] == '[' && colon[-1] == ']') {
                        colon[-1] = 0;
                        memmove(addr, addr + 1, strlen(addr));
                }
                tc.routes = tcp_routes;
                tc.n_routes = ELEMENTSOF(tcp_routes);
                tc.max_body = 0;
                r = http_server_new_tcp(m->event, addr, port, &tc, &m->status_tcp);
                if (r < 0)
                        return log_error_errno(r, "Failed to listen on %s: %m", m->config.status_listen);
                log_info("Status on http://%s:%u/v1/status", addr, http_server_port(m->status_tcp));
        }
        return 0;
}

int manager_new(const SupervisorConfig *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = new0(Manager, 1);
        if (!m)
                return log_oom();
        /* The manager takes the configuration over. */
        m->config = *config;
        m->started_usec = now_usec(CLOCK_MONOTONIC);
        m->since_usec = now_usec(CLOCK_REALTIME);
        m->state = config->mode == SUPERVISOR_MODE_LOCAL ? STATE_STARTING : STATE_STARTING_CLUSTER;

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        /* WATCHDOG=1 from the loop itself: a hung loop stops the pings and systemd restarts us. */
        (void) sd_event_set_watchdog(m->event, true);
        r = sd_event_add_signal(m->event, &m->sigterm_source, SIGTERM, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sigint_source, SIGINT, on_signal, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");
        r = curl_glue_new(m->event, &m->glue);
        if (r < 0)
                return log_error_errno(r, "Failed to set up libcurl: %m");

        if (config->mode == SUPERVISOR_MODE_LOCAL) {
                r = local_runtime_prepare(&m->config);
                if (r < 0)
                        return r;
        }
        r = ensure_secrets(m);
        if (r < 0)
                return r;

        if (config->mode == SUPERVISOR_MODE_LOCAL) {
                r = local_runtime_new(m->event, &m->config, m->secrets_dir, on_local_change, m, &m->local);
                if (r < 0)
                        return r;
                char url[64];
                (void) snprintf(
                        url, sizeof(url), "http://127.0.0.1:%" PRIi64 "/health", m->config.shipper_port);
                r = health_probe_new(m->glue, url, &m->shipper_probe);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the shipper's health check: %m");
        } else {
                ClusterHooks hooks = {
                        .phase = on_cluster_phase,
                        .changed = on_cluster_change,
                        .userdata = m,
                };
                r = cluster_new(m->event, &m->config, &hooks, &m->cluster);
                if (r < 0)
                        return r;
        }

        {
                ClickHouseClientConfig ccc = {
                        .url = m->config.ch_url,
                        .user = m->config.ch_user,
                        .password = m->ch_password,
                        .database = m->config.ch_database,
                        .timeout_usec = CLICKHOUSE_CHECK_TIMEOUT_USEC,
                        .connect_timeout_usec = CLICKHOUSE_CHECK_TIMEOUT_USEC,
                };
                ClickHouseCheckerConfig cc = {
                        .url = m->config.ch_url,
                        .user = m->config.ch_user,
                        .database = m->config.ch_database,
                        .table = m->config.ch_table,
                        .integrity_service = m->config.integrity_service,
                        /* Two polls, at least 10 s: a row arrives within a second or two of being written;
                         * one read from a rotated file behind the current one a little later. */
                        .settle_ms = (long) MAX(2 * m->config.poll_interval / NSEC_PER_MSEC, 10000),
                };
                r = clickhouse_client_new(m->glue, &ccc, &m->ch_client);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the ClickHouse client: %m");
                r = clickhouse_checker_new(m->ch_client, &cc, &m->clickhouse);
                if (r == -EINVAL)
                        return log_error_errno(
                                r,
                                "%s: clickhouse.database and clickhouse.table must be plain identifiers",
                                strempty(m->config.path));
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the ClickHouse check: %m");
                r = sample_checker_new(m->ch_client, cc.url, cc.database, &m->samples);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the resource sample check: %m");
                /* Its own client: log queries may take seconds, and their timeout is not the checks'. */
                r = logs_service_new(m->glue, &ccc, cc.database, cc.table, &m->logs);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the log queries: %m");
        }

        r = setup_status(m);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

/* The start is over for systemd once start_timeout has passed, ready or not: the status says what is
 * missing, and a restart would only kill a minikube start under way. */
static int on_start_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (!m->ever_ready) {
                m->start_overdue = true;
                manager_update_state(m);
        }
        if (!m->notified_ready && !m->stopping) {
                log_warning(
                        "Not ready after start_timeout; telling systemd the start is over (%s).",
                        strempty(m->last_status_line));
                (void) sd_notify(false, "READY=1");
                m->notified_ready = true;
        }
        return 0;
}

int manager_start(Manager *m) {
        uint64_t start_timeout = nsec_to_usec(m->config.start_timeout);
        int r;

        /* READY=1 waits for the stack, and a first minikube start outlasts any fixed TimeoutStartSec=: the
         * start deadline systemd enforces is the configuration's (docs/vm.md, "Start, watchdog, stop"). */
        (void) sd_notifyf(false, "EXTEND_TIMEOUT_USEC=%" PRIu64, start_timeout + START_DEADLINE_GRACE_USEC);
        r = sd_event_add_time(
                m->event,
                &m->start_deadline,
                CLOCK_MONOTONIC,
                m->started_usec + start_timeout,
                0,
                on_start_deadline,
                m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the start deadline: %m");
        (void) sd_event_source_set_description(m->start_deadline, "start-deadline");

        if (m->local)
                local_runtime_start(m->local);
        if (m->cluster) {
                r = cluster_start(m->cluster);
                if (r < 0)
                        return r;
        }
        r = sd_event_add_time_relative(m->event, &m->poll_timer, CLOCK_MONOTONIC, 0, 0, on_poll, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the poll timer: %m");
        (void) sd_event_source_set_description(m->poll_timer, "poll");
        manager_update_state(m);
        return 0;
}

int manager_run(Manager *m) {
        int r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return r;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        http_server_free(m->status_unix);
        http_server_free(m->status_tcp);
        clickhouse_checker_free(m->clickhouse);
        sample_checker_free(m->samples);
        logs_service_free(m->logs);
        clickhouse_client_free(m->ch_client); /* after the checkers, which cancel their requests */
        cluster_free(m->cluster);
        local_runtime_free(m->local);
        health_probe_free(m->shipper_probe);
        curl_glue_free(m->glue);
        sd_event_source_disable_unref(m->poll_timer);
        sd_event_source_disable_unref(m->stop_timer);
        sd_event_source_disable_unref(m->start_deadline);
        sd_event_source_disable_unref(m->sigterm_source);
        sd_event_source_disable_unref(m->sigint_source);
        sd_event_unref(m->event);
        supervisor_config_done(&m->config);
        free(m->secrets_dir);
        if (m->ch_password) {
                explicit_bzero(m->ch_password, strlen(m->ch_password));
                free(m->ch_password);
        }
        free(m->reason);
        free(m->cluster_reason);
        free(m->last_status_line);
        free(m->last_logged_state);
        free(m);
        return NULL;
}
