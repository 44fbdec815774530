/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include "cleanup.h"
#include "duration.h"
#include "log.h"
#include "supervisor-local.h"
#include "supervisor-process.h"
#include "util.h"

struct LocalRuntime {
        sd_event *event;
        SupervisorConfig *config;
        /* In the order they start: ClickHouse, the shipper, loggen. */
        Process **processes;
        size_t n_processes;
        bool starting;
        bool stopping;
        LocalChanged changed;
        void *userdata;
};

/* The local runtime makes its own password once and keeps it in its data directory. */
static int ensure_password(SupervisorConfig *config) {
        _cleanup_free_ char *path = NULL;
        uint8_t raw[16];
        char hex[33];
        int r;

        if (config->ch_password_file)
                return 0;
        if (asprintf(&path, "%s/clickhouse-password", config->data_dir) < 0)
                return log_oom();
        if (access(path, F_OK) < 0) {
                if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
                        return log_error_errno(errno, "Failed to get random bytes: %m");
                for (size_t i = 0; i < sizeof(raw); i++)
                        (void) snprintf(hex + 2 * i, 3, "%02x", raw[i]);
                r = write_file_atomic(path, hex, 32, 0600);
                if (r < 0)
                        return log_error_errno(r, "Failed to write %s: %m", path);
        }
        config->ch_password_file = TAKE_PTR(path);
        return 0;
}

int local_runtime_prepare(SupervisorConfig *config) {
        int r;

        r = mkdir_p(config->data_dir, 0750);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", config->data_dir);
        return ensure_password(config);
}

/* Children stop in the reverse order of their start, each after the one started later has exited: loggen
 * first, then the shipper (which sends what it has read while ClickHouse still answers), ClickHouse last. */
static void stop_next_process(LocalRuntime *l) {
        for (size_t i = l->n_processes; i > 0; i--) {
                Process *p = l->processes[i - 1];

                if (p->state == PROCESS_STOPPED)
                        continue;
                if (p->state != PROCESS_STOPPING)
                        process_stop(p);
                if (p->state == PROCESS_STOPPING)
                        return;
        }
}

static void on_process_change(Process *p, void *userdata) {
        LocalRuntime *l = userdata;

        if (l->stopping)
                stop_next_process(l);
        else if (l->starting)
                return;
        l->changed(l->userdata);
}

static int add_process(LocalRuntime *l, const char *name, const char *const *argv, Process **ret) {
        Process **a, *p;
        int r;

        r = process_new(l->event, name, argv, &p);
        if (r < 0)
                return r;
        a = reallocarray(l->processes, l->n_processes + 1, sizeof(Process *));
        if (!a) {
                process_free(p);
                return -ENOMEM;
        }
        l->processes = a;
        l->processes[l->n_processes++] = p;
        p->on_change = on_process_change;
        p->userdata = l;
        p->restart_max_usec = nsec_to_usec(l->config->restart_max);
        p->stop_timeout_usec = nsec_to_usec(l->config->stop_timeout);
        if (ret)
                *ret = p;
        return 0;
}

/* snprintf() that reports truncation: paths that do not fit are errors, not silently shortened. */
static bool fmt(char *buf, size_t size, const char *format, ...) _printf_(3, 4);
static bool fmt(char *buf, size_t size, const char *format, ...) {
        va_list ap;
        int k;

        va_start(ap, format);
        k = vsnprintf(buf, size, format, ap);
        va_end(ap);
        return k >= 0 && (size_t) k < size;
}

#define FMT(buf, ...) fmt((buf), sizeof(buf), __VA_ARGS__)

static int setup_local(LocalRuntime *l, const char *password) {
        SupervisorConfig *c = l->config;
        char ch_dir[4096], log_dir[4096], ckpt[4096], dlq[4096], glob[4096], spool[4096], ch_port[16],
                sh_port[16], lg_port[16], url[64], env[4200];
        Process *p;
        int r;

        if (!FMT(ch_dir, "%s/clickhouse", c->data_dir) || !FMT(log_dir, "%s/log/containers", c->data_dir) ||
            !FMT(ckpt, "%s/shipper/checkpoints", c->data_dir) ||
            !FMT(dlq, "%s/shipper/dead-letter.jsonl", c->data_dir) ||
            !FMT(glob, "%s/loggen-*.log", log_dir) || !FMT(spool, "%s/shipper/samples", c->data_dir))
                return log_error_errno(SYNTHETIC_ERRNO(ENAMETOOLONG), "local.data_dir is too long");
        (void) FMT(ch_port, "%" PRIi64, c->ch_port);
        (void) FMT(sh_port, "%" PRIi64, c->shipper_port);
        (void) FMT(lg_port, "%" PRIi64, c->loggen_health_port);
        (void) FMT(url, "http://127.0.0.1:%" PRIi64, c->ch_port);

        r = mkdir_p(ch_dir, 0750);
        if (r >= 0)
                r = mkdir_p(log_dir, 0750);
        if (r >= 0) {
                char d[4096];
                r = FMT(d, "%s/shipper", c->data_dir) ? mkdir_p(d, 0750) : -ENAMETOOLONG;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to create the directories under %s: %m", c->data_dir);

        free(c->ch_url);
        c->ch_url = strdup(url);
        if (!c->ch_url)
                return log_oom();

        {
                const char *argv[] = {
                        c->clickhouse_endpoint,
                        "--listen",
                        "127.0.0.1",
                        "--port",
                        ch_port,
                        "--data-dir",
                        ch_dir,
                        "--chdb-lib",
                        c->chdb_lib,
                        "--user",
                        c->ch_user,
                        "--password-file",
                        c->ch_password_file,
                        "--schema-dir",
                        c->schema_dir,
                        NULL,
                };
                r = add_process(l, "clickhouse", argv, NULL);
                if (r < 0)
                        return r;
        }
        {
                const char *argv[] = {
                        c->shipper,
                        "--paths",
                        glob,
                        "--clickhouse-url",
                        url,
                        "--user",
                        c->ch_user,
                        "--checkpoint-file",
                        ckpt,
                        "--dead-letter-file",
                        dlq,
                        "--listen-address",
                        "127.0.0.1",
                        "--listen-port",
                        sh_port,
                        /* Resource samples of the supervisor's children (the shipper's siblings). */
                        "--sample-targets",
                        "children",
                        "--sample-spool-dir",
                        spool,
                        NULL,
                };
                r = add_process(l, "shipper", argv, &p);
                if (r < 0)
                        return r;
                /* The password goes by environment, not argv, which every user can read. */
                if (!FMT(env, "SHIPPER_PASSWORD=%s", password))
                        return -ENAMETOOLONG;
                r = process_add_env(p, env);
                if (r < 0)
                        return r;
        }
        {
                size_t n = 0, k = 0;
                _cleanup_free_ const char **argv = NULL;

                while (c->loggen_args[n])
                        n++;
                argv = new0(const char *, n + 6);
                if (!argv)
                        return log_oom();
                argv[k++] = c->loggen;
                argv[k++] = "--health-address";
                argv[k++] = "127.0.0.1";
                argv[k++] = "--health-port";
                argv[k++] = lg_port;
                for (size_t i = 0; i < n; i++)
                        argv[k++] = c->loggen_args[i];
                r = add_process(l, "loggen", argv, &p);
                if (r < 0)
                        return r;
                /* loggen's stdout becomes a container log file, as the container runtime writes it in the
                 * cluster, so the shipper reads the same format in both modes. */
                r = process_set_cri_output(p, log_dir, "loggen-local", "otel-demo", "loggen");
                if (r < 0)
                        return r;
        }
        return 0;
}

int local_runtime_new(
        sd_event *event,
        SupervisorConfig *config,
        const char *password,
        LocalChanged changed,
        void *userdata,
        LocalRuntime **ret) {
        _cleanup_(local_runtime_freep) LocalRuntime *l = NULL;
        int r;

        l = new0(LocalRuntime, 1);
        if (!l)
                return log_oom();
        l->event = sd_event_ref(event);
        l->config = config;
        l->changed = changed;
        l->userdata = userdata;
        r = setup_local(l, password);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(l);
        return 0;
}

LocalRuntime *local_runtime_free(LocalRuntime *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_processes; i++)
                process_free(l->processes[i]);
        free(l->processes);
        sd_event_unref(l->event);
        free(l);
        return NULL;
}

void local_runtime_start(LocalRuntime *l) {
        int r;

        l->starting = true;
        for (size_t i = 0; i < l->n_processes; i++) {
                r = process_start(l->processes[i]);
                if (r < 0) {
                        log_warning_errno(r, "Failed to start %s, retrying: %m", l->processes[i]->name);
                        l->processes[i]->failures_in_row++;
                        process_retry_later(l->processes[i]);
                }
        }
        l->starting = false;
}

void local_runtime_stop(LocalRuntime *l) {
        l->stopping = true;
        stop_next_process(l);
}

bool local_runtime_stopped(const LocalRuntime *l) {
        for (size_t i = 0; i < l->n_processes; i++)
                if (l->processes[i]->state != PROCESS_STOPPED)
                        return false;
        return true;
}

size_t local_runtime_n_processes(const LocalRuntime *l) {
        return l->n_processes;
}

void local_runtime_problems(const LocalRuntime *l, StrBuf *reasons) {
        for (size_t i = 0; i < l->n_processes; i++) {
                const Process *p = l->processes[i];
                char buf[512];

                if (p->state == PROCESS_RUNNING)
                        continue;
                (void) snprintf(
                        buf,
                        sizeof(buf),
                        "%s is %s (last exit status %d, %u restarts)",
                        p->name,
                        process_state_to_string(p->state),
                        p->last_exit_status,
                        p->restarts);
                if (reasons->len > 0)
                        (void) strbuf_puts(reasons, "; ");
                (void) strbuf_puts(reasons, buf);
        }
}

cJSON *local_runtime_processes_json(const LocalRuntime *l) {
        cJSON *a = cJSON_CreateArray();
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        for (size_t i = 0; l && a && i < l->n_processes; i++) {
                const Process *p = l->processes[i];
                cJSON *e = cJSON_CreateObject();
                if (!e)
                        break;
                cJSON_AddStringToObject(e, "name", p->name);
                cJSON_AddStringToObject(e, "state", process_state_to_string(p->state));
                if (p->pid > 0) {
                        cJSON_AddNumberToObject(e, "pid", p->pid);
                        cJSON_AddNumberToObject(e, "uptime_seconds", (double) (now - p->started_usec) / 1e6);
                } else {
                        cJSON_AddNullToObject(e, "pid");
                        cJSON_AddNullToObject(e, "uptime_seconds");
                }
                cJSON_AddNumberToObject(e, "restarts", p->restarts);
                cJSON_AddNumberToObject(e, "last_exit_status", p->last_exit_status);
                if (p->cri_path)
                        cJSON_AddStringToObject(e, "log_file", p->cri_path);
                cJSON_AddItemToArray(a, e);
        }
        return a;
}

void local_runtime_metrics(const LocalRuntime *l, StrBuf *b) {
        if (l->n_processes == 0)
                return;
        (void) strbuf_puts(
                b,
                "# HELP otel_supervisor_process_restarts_total Restarts of each child process.\n# TYPE otel_supervisor_process_restarts_total counter\n");
        for (size_t i = 0; i < l->n_processes; i++)
                (void) strbuf_printf(
                        b,
                        "otel_supervisor_process_restarts_total{process=\"%s\"} %u\n",
                        l->processes[i]->name,
                        l->processes[i]->restarts);
        (void) strbuf_puts(
                b,
                "# HELP otel_supervisor_process_up 1 while the child process runs.\n# TYPE otel_supervisor_process_up gauge\n");
        for (size_t i = 0; i < l->n_processes; i++)
                (void) strbuf_printf(
                        b,
                        "otel_supervisor_process_up{process=\"%s\"} %d\n",
                        l->processes[i]->name,
                        l->processes[i]->state == PROCESS_RUNNING);
}

int local_runtime_restart(LocalRuntime *l, const char *name, const char **ret_state) {
        for (size_t i = 0; name && i < l->n_processes; i++) {
                Process *p = l->processes[i];

                if (!streq(p->name, name))
                        continue;
                if (p->state != PROCESS_RUNNING) {
                        *ret_state = process_state_to_string(p->state);
                        return -EBUSY;
                }
                process_kill(p, SIGTERM);
                return 0;
        }
        return -ENOENT;
}
