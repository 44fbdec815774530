/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "clickhouse-endpoint.h"
#include "log.h"
#include "macro.h"
#include "util.h"

/* The part of chdb.h (chdb-io/chdb-core programs/local/chdb.h, connection API) this program uses. The
 * library is loaded with dlopen() so that building needs neither the header nor the 560 MB library; the
 * types are opaque handles, so declaring them here is enough. */
typedef struct chdb_result_ chdb_result;
typedef struct chdb_connection_ *chdb_connection;

typedef struct ChdbApi {
        chdb_connection *(*connect)(int argc, char **argv);
        void (*close_conn)(chdb_connection *conn);
        chdb_result *(*query_n)(
                chdb_connection conn, const char *q, size_t q_len, const char *fmt, size_t fmt_len);
        void (*destroy_query_result)(chdb_result *r);
        char *(*result_buffer)(chdb_result *r);
        size_t (*result_length)(chdb_result *r);
        double (*result_elapsed)(chdb_result *r);
        uint64_t (*result_rows_read)(chdb_result *r);
        uint64_t (*result_bytes_read)(chdb_result *r);
        uint64_t (*result_storage_rows_read)(chdb_result *r);
        uint64_t (*result_storage_bytes_read)(chdb_result *r);
        uint64_t (*result_rows_written)(chdb_result *r);
        uint64_t (*result_bytes_written)(chdb_result *r);
        const char *(*result_error)(chdb_result *r);
        void (*set_signal_handlers_enabled)(int enabled); /* optional: chdb >= 26.3 */
} ChdbApi;

#define ENGINE_SESSIONS_MAX 64
#define ENGINE_NAMED_MAX 32

struct EngineSession {
        chdb_connection *conn;
        /* named sessions (session_id) only: */
        bool named, busy;
        char *id;
        EngineRole role;
        unsigned readonly;
        unsigned timeout_sec;
        uint64_t expires_usec;
        bool close_after;
};

struct Engine {
        void *dl;
        ChdbApi api;
        char *path_arg; /* --path=<data dir>, for every further connection */
        /* The first connection: it boots the engine and keeps it up; the endpoint's own statements (schema,
         * retention, version) run on it with the admin role. */
        EngineSession anchor;
        pthread_mutex_t anchor_lock;
        /* Request sessions: at most max_running open at once. */
        unsigned max_running, running;
        /* Sessions clients name (session_id): kept between requests until idle for their timeout. */
        EngineSession named[ENGINE_NAMED_MAX];
        pthread_mutex_t lock; /* guards running and the named sessions */
        pthread_cond_t freed;
        char version[64];
};
static int load_symbol(void *dl, const char *name, bool required, void *ret) {
        void *p = dlsym(dl, name);
        if (!p && required)
                return log_error_errno(
                        SYNTHETIC_ERRNO(ENOENT), "libchdb has no symbol %s (unsupported version?)", name);
        memcpy(ret, &p, sizeof(p));
        return 0;
}

/* The engine's access control, written to <data dir>/endpoint-access.xml at every start and loaded as the
 * engine's configuration (it holds no secret: the endpoint authenticates the clients itself).
 *
 * libchdb authenticates every connection as the one user "default", so the endpoint's users are roles
 * granted to it: a request session sets its user's role (SET ROLE, which the endpoint does not let a
 * client send) and, for readers and GET requests, readonly=2, which a session cannot undo. The engine then
 * checks every statement against the role's grants, exactly as clickhouse-server does for a user:
 *  - no role has the SOURCES grants (file(), url(), remote(), s3(), the File and URL engines, the local
 *    file-system database), nor dictionaries, functions, SYSTEM SHUTDOWN & co., introspection;
 *  - settings that name files or evaluate expressions are constant. */
#define ENGINE_ACCESS_XML                                                                                                                                                                                                                                                                \
        "<clickhouse>\n"                                                                                                                                                                                                                                                                 \
        "  <users_config>%s</users_config>\n"                                                                                                                                                                                                                                            \
        "  <profiles>\n"                                                                                                                                                                                                                                                                 \
        "    <default>\n"                                                                                                                                                                                                                                                                \
        "      <!-- VALUES rows are literals: an INSERT's rows never run functions. -->\n"                                                                                                                                                                                               \
        "      <input_format_values_interpret_expressions>0</input_format_values_interpret_expressions>\n"                                                                                                                                                                               \
        "      <input_format_values_deduce_templates_of_expressions>0</input_format_values_deduce_templates_of_expressions>\n"                                                                                                                                                           \
        "      <allow_settings_after_format_in_insert>0</allow_settings_after_format_in_insert>\n"                                                                                                                                                                                       \
        "      <constraints>\n"                                                                                                                                                                                                                                                          \
        "        <input_format_values_interpret_expressions><const/></input_format_values_interpret_expressions>\n"                                                                                                                                                                      \
        "        <input_format_values_deduce_templates_of_expressions><const/></input_format_values_deduce_templates_of_expressions>\n"                                                                                                                                                  \
        "        <allow_settings_after_format_in_insert><const/></allow_settings_after_format_in_insert>\n"                                                                                                                                                                              \
        "        <!-- Settings that name files (the engine would open any path) or evaluate SQL. -->\n"                                                                                                                                                                                  \
        "        <format_schema><const/></format_schema>\n"                                                                                                                                                                                                                              \
        "        <format_schema_source><const/></format_schema_source>\n"                                                                                                                                                                                                                \
        "        <output_format_schema><const/></output_format_schema>\n"                                                                                                                                                                                                                \
        "        <format_template_resultset><const/></format_template_resultset>\n"                                                                                                                                                                                                      \
        "        <format_template_row><const/></format_template_row>\n"                                                                                                                                                                                                                  \
        "        <input_format_record_errors_file_path><const/></input_format_record_errors_file_path>\n"                                                                                                                                                                                \
        "        <additional_table_filters><const/></additional_table_filters>\n"                                                                                                                                                                                                        \
        "        <additional_result_filter><const/></additional_result_filter>\n"                                                                                                                                                                                                        \
        "        <parallel_replicas_custom_key><const/></parallel_replicas_custom_key>\n"                                                                                                                                                                                                \
        "      </constraints>\n"                                                                                                                                                                                                                                                         \
        "    </default>\n"                                                                                                                                                                                                                                                               \
        "  </profiles>\n"                                                                                                                                                                                                                                                                \
        "  <quotas><default></default></quotas>\n"                                                                                                                                                                                                                                       \
        "  <roles>\n"                                                                                                                                                                                                                                                                    \
        "    <otel_admin>\n"                                                                                                                                                                                                                                                             \
        "      <grants>\n"                                                                                                                                                                                                                                                               \
        "        <query>GRANT SHOW, SELECT, INSERT, ALTER, CREATE DATABASE, CREATE TABLE, CREATE VIEW, CREATE TEMPORARY TABLE, DROP DATABASE, DROP TABLE, DROP VIEW, TRUNCATE, OPTIMIZE, KILL QUERY, SYSTEM VIEWS, SYSTEM MERGES, SYSTEM TTL MERGES, SYSTEM FLUSH LOGS ON *.*</query>\n" \
        "      </grants>\n"                                                                                                                                                                                                                                                              \
        "    </otel_admin>\n"                                                                                                                                                                                                                                                            \
        "    <otel_ingest>\n"                                                                                                                                                                                                                                                            \
        "      <grants>\n"                                                                                                                                                                                                                                                               \
        "        <query>GRANT INSERT ON default.otel_logs</query>\n"                                                                                                                                                                                                                     \
        "        <query>GRANT INSERT ON default.metrics_raw</query>\n"                                                                                                                                                                                                                   \
        "      </grants>\n"                                                                                                                                                                                                                                                              \
        "    </otel_ingest>\n"                                                                                                                                                                                                                                                           \
        "    <otel_reader>\n"                                                                                                                                                                                                                                                            \
        "      <grants>\n"                                                                                                                                                                                                                                                               \
        "        <query>GRANT SELECT ON default.*</query>\n"                                                                                                                                                                                                                             \
        "        <query>GRANT CREATE TEMPORARY TABLE ON *.*</query>\n"                                                                                                                                                                                                                   \
        "      </grants>\n"                                                                                                                                                                                                                                                              \
        "    </otel_reader>\n"                                                                                                                                                                                                                                                           \
        "  </roles>\n"                                                                                                                                                                                                                                                                   \
        "  <users>\n"                                                                                                                                                                                                                                                                    \
        "    <default>\n"                                                                                                                                                                                                                                                                \
        "      <password></password>\n"                                                                                                                                                                                                                                                  \
        "      <profile>default</profile>\n"                                                                                                                                                                                                                                             \
        "      <quota>default</quota>\n"                                                                                                                                                                                                                                                 \
        "      <grants><query>GRANT otel_admin, otel_ingest, otel_reader</query></grants>\n"                                                                                                                                                                                             \
        "    </default>\n"                                                                                                                                                                                                                                                               \
        "  </users>\n"                                                                                                                                                                                                                                                                   \
        "</clickhouse>\n"

static const char *const role_names[_ENGINE_ROLE_MAX] = {
        [ENGINE_ROLE_ADMIN] = "otel_admin",
        [ENGINE_ROLE_INGEST] = "otel_ingest",
        [ENGINE_ROLE_READER] = "otel_reader",
};

const char *engine_role_name(EngineRole role) {
        return role >= 0 && role < _ENGINE_ROLE_MAX ? role_names[role] : NULL;
}

static int write_access_config(const char *data_dir, char **ret_path) {
        _cleanup_free_ char *path = NULL, *xml = NULL;
        int r;

        if (asprintf(&path, "%s/endpoint-access.xml", data_dir) < 0 || strchr(path, '<') ||
            strchr(path, '&'))
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "Unusable --data-dir for the engine's configuration: %s",
                        data_dir);
        if (asprintf(&xml, ENGINE_ACCESS_XML, path) < 0)
                return log_oom();
        r = write_file_atomic(path, xml, strlen(xml), 0600);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path);
        *ret_path = TAKE_PTR(path);
        return 0;
}

static int connect_session(Engine *e, int argc, char **argv, EngineSession *ret) {
        chdb_connection *c = e->api.connect(argc, argv);

        if (!c || !*c)
                return -EIO;
        ret->conn = c;
        return 0;
}

/* Runs a statement that must succeed on a fresh session (its role, readonly). */
static int session_setup(Engine *e, EngineSession *s, const char *sql) {
        EngineResult res = {};
        int r;

        r = engine_session_query(e, s, sql, strlen(sql), "TabSeparated", &res);
        if (r < 0)
                return r;
        if (res.error) {
                log_error("Engine session setup '%s' failed: %s", sql, res.error);
                engine_result_done(e, &res);
                return -EIO;
        }
        engine_result_done(e, &res);
        return 0;
}

int engine_open(const char *lib_path, const char *data_dir, unsigned max_running, Engine **ret) {
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_free_ char *config_path = NULL, *config_arg = NULL;
        int r;

        if (max_running < 1 || max_running > ENGINE_SESSIONS_MAX)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "Engine sessions must be from 1 to %d",
                        ENGINE_SESSIONS_MAX);
        e = new0(Engine, 1);
        if (!e)
                return log_oom();
        e->max_running = max_running;
        (void) pthread_mutex_init(&e->lock, NULL);
        (void) pthread_mutex_init(&e->anchor_lock, NULL);
        (void) pthread_cond_init(&e->freed, NULL);

        /* The engine takes its server time zone from $TZ and cannot load POSIX strings such as "GMT+12";
         * like the server in the VM it runs in UTC, whatever the environment says. */
        if (setenv("TZ", "UTC", /* overwrite= */ 1) < 0)
                return log_error_errno(errno, "Failed to set TZ: %m");

        e->dl = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
        if (!e->dl)
                return log_error_errno(
                        SYNTHETIC_ERRNO(ENOENT),
                        "Failed to load libchdb from %s: %s (run scripts/deps/chdb.sh, or set --chdb-lib/CHDB_LIB)",
                        lib_path,
                        dlerror());

        struct {
                const char *name;
                void *dest;
                bool required;
        } syms[] = {
                {"chdb_connect", &e->api.connect, true},
                {"chdb_close_conn", &e->api.close_conn, true},
                {"chdb_query_n", &e->api.query_n, true},
                {"chdb_destroy_query_result", &e->api.destroy_query_result, true},
                {"chdb_result_buffer", &e->api.result_buffer, true},
                {"chdb_result_length", &e->api.result_length, true},
                {"chdb_result_elapsed", &e->api.result_elapsed, true},
                {"chdb_result_rows_read", &e->api.result_rows_read, true},
                {"chdb_result_bytes_read", &e->api.result_bytes_read, true},
                {"chdb_result_storage_rows_read", &e->api.result_storage_rows_read, true},
                {"chdb_result_storage_bytes_read", &e->api.result_storage_bytes_read, true},
                {"chdb_result_rows_written", &e->api.result_rows_written, true},
                {"chdb_result_bytes_written", &e->api.result_bytes_written, true},
                {"chdb_result_error", &e->api.result_error, true},
                {"chdb_set_signal_handlers_enabled", &e->api.set_signal_handlers_enabled, false},
        };
        FOREACH_ARRAY(s, syms, ELEMENTSOF(syms)) {
                r = load_symbol(e->dl, s->name, s->required, s->dest);
                if (r < 0)
                        return r;
        }

        /* The engine would otherwise install handlers for SIGSEGV & co. that sleep before dying; this
         * process wants plain crashes (and the sanitizers' reports). */
        if (e->api.set_signal_handlers_enabled)
                e->api.set_signal_handlers_enabled(0);

        r = write_access_config(data_dir, &config_path);
        if (r < 0)
                return r;
        if (asprintf(&e->path_arg, "--path=%s", data_dir) < 0 ||
            asprintf(&config_arg, "--config-file=%s", config_path) < 0)
                return log_oom();
        /* The first connection boots the engine on the directory with the configuration; later ones share
         * it, each with its own session. */
        char *argv[] = {(char *) "clickhouse", e->path_arg, config_arg, NULL};
        if (connect_session(e, 3, argv, &e->anchor) < 0)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EIO), "Failed to open the ClickHouse engine on %s", data_dir);
        r = session_setup(e, &e->anchor, "SET ROLE otel_admin");
        if (r < 0)
                return r;

        EngineResult v = {};
        r = engine_query(e, "SELECT version()", strlen("SELECT version()"), "TabSeparated", &v);
        if (r < 0)
                return r;
        if (v.error) {
                log_error("Failed to query the engine's version: %s", v.error);
                engine_result_done(e, &v);
                return -EIO;
        }
        size_t n = MIN(v.size, sizeof(e->version) - 1);
        memcpy(e->version, v.data, n);
        e->version[n] = 0;
        e->version[strcspn(e->version, "\r\n")] = 0;
        engine_result_done(e, &v);

        *ret = TAKE_PTR(e);
        return 0;
}

Engine *engine_free(Engine *e) {
        if (!e)
                return NULL;
        /* Closing the last connection shuts the engine down in order: parts in flight are finished and the
         * data directory is left consistent. Callers have closed every request session by now. */
        for (unsigned i = 0; i < ENGINE_NAMED_MAX; i++)
                if (e->named[i].conn) {
                        e->api.close_conn(e->named[i].conn);
                        free(e->named[i].id);
                }
        if (e->anchor.conn)
                e->api.close_conn(e->anchor.conn);
        /* The library is never dlclose()d: its threads and static destructors outlive the connection. */
        (void) pthread_cond_destroy(&e->freed);
        (void) pthread_mutex_destroy(&e->lock);
        (void) pthread_mutex_destroy(&e->anchor_lock);
        free(e->path_arg);
        free(e);
        return NULL;
}

const char *engine_version(const Engine *e) {
        return e->version;
}

static void named_close(Engine *e, EngineSession *s);

/* Ends the named sessions idle past their timeout, as the server ends them. Called with the lock held. */
static void named_sweep(Engine *e) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        for (unsigned i = 0; i < ENGINE_NAMED_MAX; i++) {
                EngineSession *n = &e->named[i];
                if (n->conn && !n->busy && n->expires_usec <= now)
                        named_close(e, n);
        }
}

/* Opens a connection with a role's rights and readonly level: SET ROLE and SET readonly, which a client
 * cannot send (SET ROLE is refused by the endpoint) or undo (readonly cannot be lowered). */
static int session_connect(Engine *e, EngineRole role, unsigned readonly, EngineSession *s) {
        char sql[64];
        int r;

        char *argv[] = {(char *) "clickhouse", e->path_arg, NULL};
        r = connect_session(e, 2, argv, s);
        if (r >= 0) {
                (void) snprintf(sql, sizeof(sql), "SET ROLE %s", engine_role_name(role));
                r = session_setup(e, s, sql);
        }
        if (r >= 0 && readonly > 0) {
                (void) snprintf(sql, sizeof(sql), "SET readonly = %u", readonly);
                r = session_setup(e, s, sql);
        }
        if (r < 0 && s->conn) {
                e->api.close_conn(s->conn);
                s->conn = NULL;
        }
        return r;
}

int engine_session_open(Engine *e, EngineRole role, unsigned readonly, EngineSession **ret) {
        _cleanup_free_ EngineSession *s = NULL;
        int r;

        if (!engine_role_name(role) || readonly > 2)
                return -EINVAL;
        s = new0(EngineSession, 1);
        if (!s)
                return -ENOMEM;

        pthread_mutex_lock(&e->lock);
        named_sweep(e);
        while (e->running >= e->max_running)
                pthread_cond_wait(&e->freed, &e->lock);
        e->running++;
        pthread_mutex_unlock(&e->lock);

        /* A connection costs about 0.3 ms and 300 KiB: every request gets a fresh one, so nothing a request
         * sets (SET, USE, readonly) can outlive it, as on the server without session_id. */
        r = session_connect(e, role, readonly, s);
        if (r < 0) {
                engine_release(e, TAKE_PTR(s));
                return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

static void named_close(Engine *e, EngineSession *s) {
        e->api.close_conn(s->conn);
        free(s->id);
        *s = (EngineSession){};
}

void engine_release(Engine *e, EngineSession *s) {
        if (!s)
                return;
        pthread_mutex_lock(&e->lock);
        if (s->named) {
                s->busy = false;
                s->expires_usec = now_usec(CLOCK_MONOTONIC) + (uint64_t) s->timeout_sec * 1000000;
                if (s->close_after)
                        named_close(e, s);
                pthread_mutex_unlock(&e->lock);
                return;
        }
        e->running--;
        pthread_cond_signal(&e->freed);
        pthread_mutex_unlock(&e->lock);
        if (s->conn)
                e->api.close_conn(s->conn);
        free(s);
}

int engine_acquire_named(
        Engine *e,
        const char *id,
        EngineRole role,
        unsigned readonly,
        unsigned timeout_sec,
        bool must_exist,
        bool close_after,
        EngineSession **ret) {
        EngineSession *s = NULL, *free_slot = NULL;
        int r = 0;

        if (!engine_role_name(role) || readonly > 2)
                return -EINVAL;
        pthread_mutex_lock(&e->lock);
        named_sweep(e);
        /* A session belongs to the user who opened it, with its readonly level: the same id by another
         * user, or over GET by a user whose POST requests may write, is another session. */
        for (unsigned i = 0; i < ENGINE_NAMED_MAX; i++) {
                EngineSession *n = &e->named[i];
                if (n->conn && streq(n->id, id) && n->role == role && n->readonly == readonly)
                        s = n;
                else if (!n->conn && !free_slot)
                        free_slot = n;
        }
        if (s && s->busy)
                r = -EBUSY;
        else if (!s && must_exist)
                r = -ENOENT;
        else if (!s && !free_slot)
                r = -EUSERS;
        else if (!s) {
                s = free_slot;
                *s = (EngineSession){.named = true, .role = role, .readonly = readonly};
                s->id = strdup(id);
                if (!s->id)
                        r = -ENOMEM;
                else
                        r = session_connect(e, role, readonly, s);
                if (r < 0) {
                        free(s->id);
                        *s = (EngineSession){};
                }
        }
        if (r >= 0) {
                s->busy = true;
                s->timeout_sec = timeout_sec;
                s->close_after = close_after;
                *ret = s;
        }
        pthread_mutex_unlock(&e->lock);
        return r;
}

int engine_session_query(
        Engine *e, EngineSession *s, const char *query, size_t size, const char *format, EngineResult *ret) {
        chdb_result *res;

        *ret = (EngineResult){};
        res = e->api.query_n(*s->conn, query, size, format, strlen(format));
        if (!res)
                return -ENOMEM;

        const char *err = e->api.result_error(res);
        if (err) {
                ret->error = strdup(err);
                e->api.destroy_query_result(res);
                return ret->error ? 0 : -ENOMEM;
        }

        ret->handle = res;
        ret->data = e->api.result_buffer(res);
        ret->size = ret->data ? e->api.result_length(res) : 0;
        ret->read_rows = e->api.result_storage_rows_read(res);
        ret->read_bytes = e->api.result_storage_bytes_read(res);
        ret->written_rows = e->api.result_rows_written(res);
        ret->written_bytes = e->api.result_bytes_written(res);
        ret->result_rows = e->api.result_rows_read(res);
        ret->result_bytes = e->api.result_bytes_read(res);
        double el = e->api.result_elapsed(res);
        ret->elapsed_ns = el > 0 ? (uint64_t) (el * 1e9) : 0;
        return 0;
}

int engine_query(Engine *e, const char *query, size_t size, const char *format, EngineResult *ret) {
        int r;

        pthread_mutex_lock(&e->anchor_lock);
        r = engine_session_query(e, &e->anchor, query, size, format, ret);
        pthread_mutex_unlock(&e->anchor_lock);
        return r;
}

void engine_result_done(Engine *e, EngineResult *r) {
        if (r->handle)
                e->api.destroy_query_result(r->handle);
        free(r->error);
        *r = (EngineResult){};
}
