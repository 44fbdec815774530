/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "curl-glue.h"
#include "http-server.h"
#include "supervisor-clickhouse.h"
#include "supervisor-config.h"
#include "supervisor-samples.h"
#include "supervisor-process.h"

typedef enum SupervisorState {
        STATE_STARTING,
        STATE_STARTING_CLUSTER,
        STATE_LOADING_IMAGES,
        STATE_APPLYING,
        STATE_WAITING_ROLLOUT,
        STATE_READY,
        STATE_DEGRADED,
        STATE_FAILED,
        _STATE_MAX,
} SupervisorState;

typedef struct Cluster Cluster;

typedef struct Manager {
        SupervisorConfig config;
        char *ch_password;

        sd_event *event;
        sd_event_source *poll_timer;
        sd_event_source *sigterm_source, *sigint_source;
        sd_event_source *stop_timer;
        CurlGlue *glue;
        ClickHouseChecker *clickhouse;
        SampleChecker *samples; /* resource samples' data quality (supervisor-samples.c) */
        HttpServer *status_unix;
        HttpServer *status_tcp;

        /* local mode */
        Process **processes;
        size_t n_processes;

        /* cluster mode */
        Cluster *cluster;

        SupervisorState state;
        char *reason;
        uint64_t since_usec;   /* CLOCK_REALTIME of the last state change */
        uint64_t started_usec; /* CLOCK_MONOTONIC */
        bool ever_ready;
        bool notified_ready;
        bool stopping;
        bool starting_processes;
        char *last_status_line; /* what STATUS= said last */
        int exit_status;
} Manager;

int manager_new(const SupervisorConfig *config, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        if (*m)
                manager_free(*m);
}
int manager_start(Manager *m);
int manager_run(Manager *m);

/* Re-evaluates the state from what is known and tells systemd about changes. Cheap; called after every
 * event that may change something. */
void manager_update_state(Manager *m);
/* Sets the state of the cluster phases (used by the cluster driver). */
void manager_set_phase(Manager *m, SupervisorState s, const char *reason);

const char *supervisor_state_to_string(SupervisorState s);

/* Seconds the ClickHouse check under way has waited for an answer, when that is too long; 0 otherwise. */
double clickhouse_silence(Manager *m);
/* Children's state changes (supervisor-process.c) end here. */
void on_process_change(Process *p, void *userdata);

/* supervisor-status.c: the status document ("otel-supervisor/status/v1") as JSON text; caller frees. */
char *manager_status_json(Manager *m);
/* supervisor-status.c: Prometheus text exposition; caller frees. */
char *manager_metrics_text(Manager *m);
