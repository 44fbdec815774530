/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
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
        bool busy;
        /* named sessions (session_id) only: */
        char *id;
        unsigned timeout_sec;
        uint64_t expires_usec;
        bool close_after;
};

struct Engine {
        void *dl;
        ChdbApi api;
        char *path_arg;
        EngineSession sessions[ENGINE_SESSIONS_MAX];
        unsigned n_sessions;
        EngineSession named[ENGINE_NAMED_MAX];
        pthread_mutex_t lock; /* guards busy flags */
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

int engine_open(const char *lib_path, const char *data_dir, unsigned n_sessions, Engine **ret) {
        _cleanup_(engine_freep) Engine *e = NULL;
        int r;

        if (n_sessions < 1 || n_sessions > ENGINE_SESSIONS_MAX)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "Engine sessions must be from 1 to %d",
                        ENGINE_SESSIONS_MAX);
        e = new0(Engine, 1);
        if (!e)
                return log_oom();
        (void) pthread_mutex_init(&e->lock, NULL);
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

        if (asprintf(&e->path_arg, "--path=%s", data_dir) < 0)
                return log_oom();
        char *argv[] = {(char *) "clickhouse", e->path_arg, NULL};
        /* The first connection boots the engine on the directory; the others share it, each with its own
         * session. */
        for (unsigned i = 0; i < n_sessions; i++) {
                e->sessions[i].conn = e->api.connect(2, argv);
                if (!e->sessions[i].conn || !*e->sessions[i].conn) {
                        e->sessions[i].conn = NULL;
                        return log_error_errno(
                                SYNTHETIC_ERRNO(EIO),
                                "Failed to open the ClickHouse engine on %s",
                                data_dir);
                }
                e->n_sessions++;
        }

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
         * data directory is left consistent. Callers have released every session by now. */
        for (unsigned i = 0; i < ENGINE_NAMED_MAX; i++)
                if (e->named[i].conn) {
                        e->api.close_conn(e->named[i].conn);
                        free(e->named[i].id);
                }
        for (unsigned i = e->n_sessions; i > 0; i--)
                e->api.close_conn(e->sessions[i - 1].conn);
        free(e->path_arg);
        /* The library is never dlclose()d: its threads and static destructors outlive the connection. */
        (void) pthread_cond_destroy(&e->freed);
        (void) pthread_mutex_destroy(&e->lock);
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

EngineSession *engine_acquire(Engine *e) {
        EngineSession *s = NULL;

        pthread_mutex_lock(&e->lock);
        named_sweep(e);
        for (;;) {
                for (unsigned i = 0; i < e->n_sessions && !s; i++)
                        if (!e->sessions[i].busy)
                                s = &e->sessions[i];
                if (s)
                        break;
                pthread_cond_wait(&e->freed, &e->lock);
        }
        s->busy = true;
        pthread_mutex_unlock(&e->lock);
        return s;
}

static bool is_named(Engine *e, EngineSession *s) {
        return s >= e->named && s < e->named + ENGINE_NAMED_MAX;
}

static void named_close(Engine *e, EngineSession *s) {
        e->api.close_conn(s->conn);
        free(s->id);
        *s = (EngineSession){};
}

void engine_release(Engine *e, EngineSession *s) {
        pthread_mutex_lock(&e->lock);
        s->busy = false;
        if (is_named(e, s)) {
                s->expires_usec = now_usec(CLOCK_MONOTONIC) + (uint64_t) s->timeout_sec * 1000000;
                if (s->close_after)
                        named_close(e, s);
        } else
                pthread_cond_signal(&e->freed);
        pthread_mutex_unlock(&e->lock);
}

int engine_acquire_named(
        Engine *e,
        const char *id,
        unsigned timeout_sec,
        bool must_exist,
        bool close_after,
        EngineSession **ret) {
        EngineSession *s = NULL, *free_slot = NULL;
        int r = 0;

        pthread_mutex_lock(&e->lock);
        named_sweep(e);
        for (unsigned i = 0; i < ENGINE_NAMED_MAX; i++) {
                EngineSession *n = &e->named[i];
                if (n->conn && streq(n->id, id))
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
                char *argv[] = {(char *) "clickhouse", e->path_arg, NULL};
                s = free_slot;
                s->id = strdup(id);
                if (!s->id)
                        r = -ENOMEM;
                else {
                        s->conn = e->api.connect(2, argv);
                        if (!s->conn || !*s->conn) {
                                free(s->id);
                                *s = (EngineSession){};
                                r = -EIO;
                        }
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

        EngineSession *s = engine_acquire(e);
        r = engine_session_query(e, s, query, size, format, ret);
        engine_release(e, s);
        return r;
}

void engine_result_done(Engine *e, EngineResult *r) {
        if (r->handle)
                e->api.destroy_query_result(r->handle);
        free(r->error);
        *r = (EngineResult){};
}
