/* SPDX-License-Identifier: MIT */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "strbuf.h"
#include "supervisor-config.h"

/* The local runtime: the embedded ClickHouse endpoint, the shipper and loggen as child processes of the
 * supervisor (supervisor-process.c), started in that order, restarted with back-off when they exit, and
 * stopped in the reverse order. loggen's stdout becomes a container log file in CRI format under
 * <data_dir>/log/containers, so the shipper reads what it reads in the cluster. The manager owns the runtime
 * and is told of every change of a child; this file knows nothing of the manager. */

typedef struct LocalRuntime LocalRuntime;
/* A child changed state (started, exited, stopped). Not called while local_runtime_start() runs. */
typedef void (*LocalChanged)(void *userdata);

/* Creates data_dir and, unless clickhouse.password_file is set, the runtime's own ClickHouse password (made
 * once, kept in <data_dir>/clickhouse-password), whose path it stores in config. */
int local_runtime_prepare(SupervisorConfig *config);
/* Defines the three children (none runs yet) and points config->ch_url at the embedded endpoint. The
 * password goes to the shipper through its environment. config must outlive the runtime. */
int local_runtime_new(
        sd_event *event,
        SupervisorConfig *config,
        const char *password,
        LocalChanged changed,
        void *userdata,
        LocalRuntime **ret);
LocalRuntime *local_runtime_free(LocalRuntime *l);
static inline void local_runtime_freep(LocalRuntime **l) {
        if (*l)
                local_runtime_free(*l);
}

/* Starts every child; one that fails to start is retried after its back-off. */
void local_runtime_start(LocalRuntime *l);
/* Stops the children in the reverse order of their start, each after the one started later has exited:
 * loggen first, then the shipper (which sends what it has read while ClickHouse still answers), ClickHouse
 * last. */
void local_runtime_stop(LocalRuntime *l);
bool local_runtime_stopped(const LocalRuntime *l);
size_t local_runtime_n_processes(const LocalRuntime *l);

/* Appends "NAME is STATE (last exit status N, N restarts)" for every child not running ("; "-separated). */
void local_runtime_problems(const LocalRuntime *l, StrBuf *reasons);
/* The "processes" array of the status document (an empty array for l == NULL). */
cJSON *local_runtime_processes_json(const LocalRuntime *l);
/* The children's restarts and up gauges for /metrics. */
void local_runtime_metrics(const LocalRuntime *l, StrBuf *b);
/* Restarts the named child (SIGTERM; it starts again at once). Returns 0, -ENOENT when there is no such
 * child, or -EBUSY when it is not running, with its state in *ret_state. */
int local_runtime_restart(LocalRuntime *l, const char *name, const char **ret_state);
