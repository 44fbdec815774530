/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "supervisor-local.h"
#include "supervisor-manager.h"
#include "util.h"

/* The local runtime makes its own password once and keeps it in its data directory. */
int ensure_local_password(Manager *m) {
        _cleanup_free_ char *path = NULL;
        uint8_t raw[16];
        char hex[33];

        if (m->config.ch_password_file)
                return 0;
        if (asprintf(&path, "%s/clickhouse-password", m->config.data_dir) < 0)
                return log_oom();
        if (access(path, F_OK) < 0) {
                if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
                        return log_error_errno(errno, "Failed to get random bytes: %m");
                for (size_t i = 0; i < sizeof(raw); i++)
                        (void) snprintf(hex + 2 * i, 3, "%02x", raw[i]);
                if (write_file_atomic(path, hex, 32, 0600) < 0)
                        return log_error_errno(errno, "Failed to write %s: %m", path);
        }
        m->config.ch_password_file = TAKE_PTR(path);
        return 0;
}

static int add_process(Manager *m, const char *name, const char *const *argv, Process **ret) {
        Process **a, *p;
        int r;

        r = process_new(m->event, name, argv, &p);
        if (r < 0)
                return r;
        a = reallocarray(m->processes, m->n_processes + 1, sizeof(Process *));
        if (!a) {
                process_free(p);
                return -ENOMEM;
        }
        m->processes = a;
        m->processes[m->n_processes++] = p;
        p->on_change = on_process_change;
        p->userdata = m;
        p->restart_max_usec = (uint64_t) m->config.restart_max / 1000;
        p->stop_timeout_usec = (uint64_t) m->config.stop_timeout / 1000;
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

int setup_local(Manager *m) {
        const SupervisorConfig *c = &m->config;
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

        free(m->config.ch_url);
        m->config.ch_url = strdup(url);
        if (!m->config.ch_url)
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
                r = add_process(m, "clickhouse", argv, NULL);
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
                r = add_process(m, "shipper", argv, &p);
                if (r < 0)
                        return r;
                /* The password goes by environment, not argv, which every user can read. */
                if (!FMT(env, "SHIPPER_PASSWORD=%s", m->ch_password))
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
                r = add_process(m, "loggen", argv, &p);
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

