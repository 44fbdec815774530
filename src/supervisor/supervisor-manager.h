/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "curl-glue.h"
#include "http-server.h"
#include "supervisor-clickhouse.h"
#include "supervisor-cluster.h"
#include "supervisor-config.h"
#include "supervisor-local.h"
#include "supervisor-samples.h"
#include "supervisor-state.h"

/* The daemon's one Manager: it owns the event loop and every source, the configuration, the runtime of the
 * mode (local or cluster), the ClickHouse checks and the status endpoints; it judges the state from what
 * they report and tells systemd. The runtimes report back through callbacks and never see the manager. */
typedef struct Manager {
        SupervisorConfig config;
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
        HttpServer *status_unix;
        HttpServer *status_tcp;

        LocalRuntime *local; /* local mode */
        Cluster *cluster;    /* cluster mode */

        SupervisorState state;
        char *reason;
        uint64_t since_usec;   /* CLOCK_REALTIME of the last state change */
        uint64_t started_usec; /* CLOCK_MONOTONIC */
        bool ever_ready;
        bool notified_ready;
        bool stopping;
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

/* The status document (schema "otel-supervisor/status/v1") as JSON text; caller frees. */
char *manager_status_json(Manager *m);
/* Prometheus text exposition; caller frees. */
char *manager_metrics_text(Manager *m);
