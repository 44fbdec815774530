/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "cleanup.h"
#include "clickhouse-endpoint.h"
#include "build-config.h"
#include "config.h"
#include "log.h"
#include "macro.h"
#include "secrets.h"
#include "util.h"

#ifndef CHDB_LIB_DEFAULT
#        define CHDB_LIB_DEFAULT "/var/cache/otel-appliance/chdb/libchdb.so"
#endif

#define EXIT_USAGE 2

typedef struct Manager {
        EndpointConfig config;
        sd_event *event;
        Engine *engine;
        HttpFrontend *http;
} Manager;

static Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* Order matters: no request may be running when the engine closes. */
        m->http = http_frontend_stop(m->http, (unsigned) m->config.shutdown_timeout_sec);
        m->engine = engine_free(m->engine);
        sd_event_unref(m->event);
        free(m->config.listen_address);
        free(m->config.data_dir);
        free(m->config.chdb_lib);
        free(m->config.secrets_dir);
        for (EngineRole role = 0; role < _ENGINE_ROLE_MAX; role++)
                if (m->config.passwords[role]) {
                        explicit_bzero(m->config.passwords[role], strlen(m->config.passwords[role]));
                        free(m->config.passwords[role]);
                }
        free(m->config.schema_dir);
        free(m);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        log_info("Received %s, shutting down", strsignal((int) si->ssi_signo));
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* The users' passwords: CLICKHOUSE_ADMIN_PASSWORD, CLICKHOUSE_INGEST_PASSWORD, CLICKHOUSE_READER_PASSWORD
 * where set (what the StatefulSet gives clickhouse-server's entrypoint from the Secret), the files of
 * --secrets-dir for the others, generated at first start (see secrets.h). */
static int load_passwords(Manager *m) {
        static const struct {
                SecretUser user;
                const char *env;
        } users[_ENGINE_ROLE_MAX] = {
                [ENGINE_ROLE_ADMIN] = {SECRET_ADMIN, "CLICKHOUSE_ADMIN_PASSWORD"},
                [ENGINE_ROLE_INGEST] = {SECRET_INGEST, "CLICKHOUSE_INGEST_PASSWORD"},
                [ENGINE_ROLE_READER] = {SECRET_READER, "CLICKHOUSE_READER_PASSWORD"},
        };
        bool ensured = false;
        int r;

        for (EngineRole role = 0; role < _ENGINE_ROLE_MAX; role++) {
                const char *e = getenv(users[role].env);

                free(m->config.passwords[role]);
                m->config.passwords[role] = NULL;
                if (e && *e) {
                        m->config.passwords[role] = strdup(e);
                        if (!m->config.passwords[role])
                                return log_oom();
                        continue;
                }
                if (!ensured) {
                        r = secrets_ensure(m->config.secrets_dir);
                        if (r < 0)
                                return log_error_errno(
                                        r, "Failed to set up --secrets-dir %s: %m", m->config.secrets_dir);
                        ensured = true;
                }
                r = secret_read(m->config.secrets_dir, users[role].user, &m->config.passwords[role]);
                if (r < 0)
                        return log_error_errno(
                                r,
                                "Failed to read %s/%s (empty passwords are refused): %m",
                                m->config.secrets_dir,
                                secret_file_name(users[role].user));
        }
        return 0;
}

/* Everything about the configuration that can be checked before the engine is loaded, so that a mistake is
 * reported at once, naming the option, and exits 2 like the other programs. */
static int check_config(Manager *m) {
        int r;

        r = endpoint_parse_listen_address(m->config.listen_address, m->config.port, NULL, NULL);
        if (r < 0)
                return log_error_errno(
                        r,
                        "Invalid --listen '%s': expected an IPv4 or IPv6 address such as 127.0.0.1 or ::1",
                        m->config.listen_address);
        if (m->config.logs_ttl_days > 0 && !m->config.schema_dir)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--logs-ttl-days needs --schema-dir");
        return load_passwords(m);
}

static int run(int argc, char **argv) {
        _cleanup_(manager_freep) Manager *m = NULL;
        ConfigAction action;
        sigset_t mask;
        int r;

        log_set_program_name("clickhouse-endpoint");
        log_parse_environment();

        m = new0(Manager, 1);
        if (!m)
                return log_oom();
        m->config = (EndpointConfig){
                .listen_address = strdup("127.0.0.1"),
                .port = 8123,
                .data_dir = strdup("/var/lib/otel/clickhouse"),
                .chdb_lib = strdup(CHDB_LIB_DEFAULT),
                .secrets_dir = strdup("/var/lib/otel/secrets"),
                .max_query_body = 256 * 1024 * 1024,
                .max_connections = 64,
                .shutdown_timeout_sec = 30,
                .engine_sessions = 4,
        };
        if (!m->config.listen_address || !m->config.data_dir || !m->config.chdb_lib ||
            !m->config.secrets_dir)
                return log_oom();
        int64_t port = 8123;

        const ConfigOption options[] = {
                {"listen",
                 0,
                 "CLICKHOUSE_ENDPOINT_LISTEN",
                 "ADDRESS",
                 "127.0.0.1",
                 "IPv4 or IPv6 address to listen on",
                 config_parse_string,
                 &m->config.listen_address},
                {"port",
                 'p',
                 "CLICKHOUSE_ENDPOINT_PORT",
                 "PORT",
                 "8123",
                 "TCP port of the HTTP interface (0: any free port)",
                 config_parse_int64,
                 &port,
                 0,
                 65535,
                 "a port number from 0 to 65535"},
                {"data-dir",
                 'd',
                 "CLICKHOUSE_ENDPOINT_DATA_DIR",
                 "DIR",
                 "/var/lib/otel/clickhouse",
                 "database directory (created if missing; kept across restarts)",
                 config_parse_string,
                 &m->config.data_dir},
                {"chdb-lib",
                 0,
                 "CHDB_LIB",
                 "PATH",
                 CHDB_LIB_DEFAULT,
                 "libchdb.so to load (scripts/deps/chdb.sh fetches it)",
                 config_parse_string,
                 &m->config.chdb_lib},
                {"secrets-dir",
                 0,
                 "CLICKHOUSE_ENDPOINT_SECRETS_DIR",
                 "DIR",
                 "/var/lib/otel/secrets",
                 "the users' passwords: admin.password, ingest.password, reader.password (generated when missing), "
                 "unless CLICKHOUSE_ADMIN_PASSWORD, CLICKHOUSE_INGEST_PASSWORD, CLICKHOUSE_READER_PASSWORD give them",
                 config_parse_string,
                 &m->config.secrets_dir},
                {"schema-dir",
                 0,
                 "CLICKHOUSE_ENDPOINT_SCHEMA_DIR",
                 "DIR",
                 NULL,
                 "apply the schema files in DIR at start (manifests/clickhouse/schema)",
                 config_parse_string,
                 &m->config.schema_dir},
                {"logs-ttl-days",
                 0,
                 "OTEL_LOGS_TTL_DAYS",
                 "DAYS",
                 "as the schema (7)",
                 "retention of otel_logs in days (needs --schema-dir)",
                 config_parse_int64,
                 &m->config.logs_ttl_days,
                 1,
                 36500,
                 "a number of days from 1 to 36500"},
                {"max-query-body",
                 0,
                 "CLICKHOUSE_ENDPOINT_MAX_QUERY_BODY",
                 "BYTES",
                 "268435456",
                 "largest request body held in memory (streamed INSERT ... FORMAT bodies are not limited)",
                 config_parse_uint64,
                 &m->config.max_query_body},
                {"max-connections",
                 0,
                 "CLICKHOUSE_ENDPOINT_MAX_CONNECTIONS",
                 "N",
                 "64",
                 "concurrent client connections",
                 config_parse_int64,
                 &m->config.max_connections,
                 1,
                 4096,
                 "a number from 1 to 4096"},
                {"engine-sessions",
                 0,
                 "CLICKHOUSE_ENDPOINT_ENGINE_SESSIONS",
                 "N",
                 "4",
                 "engine connections, i.e. statements that run at the same time",
                 config_parse_int64,
                 &m->config.engine_sessions,
                 1,
                 64,
                 "a number from 1 to 64"},
                {"shutdown-timeout",
                 0,
                 "CLICKHOUSE_ENDPOINT_SHUTDOWN_TIMEOUT",
                 "SECONDS",
                 "30",
                 "on SIGTERM, how long requests in flight may take to finish",
                 config_parse_int64,
                 &m->config.shutdown_timeout_sec,
                 0,
                 3600,
                 "a number of seconds from 0 to 3600"},
        };

        r = config_parse_environment(options, ELEMENTSOF(options));
        if (r < 0)
                return EXIT_USAGE;
        r = config_parse_argv(options, ELEMENTSOF(options), argc, argv, &action, NULL);
        if (r < 0)
                return EXIT_USAGE;
        if (action == CONFIG_ACTION_HELP) {
                config_print_help(
                        stdout,
                        "clickhouse-endpoint",
                        "[OPTIONS]",
                        "Serves the ClickHouse HTTP interface on top of the embedded ClickHouse engine (libchdb).",
                        options,
                        ELEMENTSOF(options));
                return 0;
        }
        if (action == CONFIG_ACTION_VERSION) {
                puts("clickhouse-endpoint " PROJECT_VERSION);
                return 0;
        }
        m->config.port = (uint16_t) port;
        if (check_config(m) < 0)
                return EXIT_USAGE;
        if (mkdir(m->config.data_dir, 0750) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create --data-dir %s: %m", m->config.data_dir);

        /* Signals are taken by the event loop; they must be blocked before any thread exists (the engine's
         * and libmicrohttpd's inherit the mask), or one of those threads would receive them. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");
        (void) signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to create the event loop: %m");
        r = sd_event_add_signal(m->event, NULL, SIGTERM, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, on_signal, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");

        r = engine_open(
                m->config.chdb_lib, m->config.data_dir, (unsigned) m->config.engine_sessions, &m->engine);
        if (r < 0)
                return r;
        log_info("ClickHouse %s engine opened on %s", engine_version(m->engine), m->config.data_dir);

        if (m->config.schema_dir) {
                r = schema_apply(m->engine, m->config.schema_dir);
                if (r < 0)
                        return r;
                if (m->config.logs_ttl_days > 0) {
                        r = schema_set_logs_ttl_days(m->engine, (unsigned) m->config.logs_ttl_days);
                        if (r < 0)
                                return r;
                }
        }

        r = http_frontend_start(&m->config, m->engine, &m->http);
        if (r < 0)
                return r;
        log_info("Listening on %s port %u", m->config.listen_address, http_frontend_port(m->http));
        (void) sd_notifyf(
                false,
                "READY=1\nSTATUS=Serving ClickHouse %s on port %u",
                engine_version(m->engine),
                http_frontend_port(m->http));

        r = sd_event_loop(m->event);
        (void) sd_notify(false, "STOPPING=1");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}

/* Exit status: 0 after a clean shutdown, 2 for a configuration error (reported before the engine is
 * loaded), 1 for anything that failed at run time. */
int main(int argc, char **argv) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : r;
}
