/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "supervisor-clickhouse.h"
#include "supervisor-cluster.h"
#include "supervisor-config.h"
#include "supervisor-local.h"
#include "supervisor-samples.h"
#include "supervisor-state.h"

/* The status document and the Prometheus text, rendered from what the manager knows. Rendering reads only:
 * the manager fills a StatusSources for each request (it is cheap), so this file does not know the
 * manager, and each runtime (local or cluster) renders its own part. */

typedef struct StatusSources {
        const SupervisorConfig *config;
        SupervisorState state;
        const char *reason;    /* NULL when there is nothing to say */
        uint64_t since_usec;   /* CLOCK_REALTIME of the last state change */
        uint64_t started_usec; /* CLOCK_MONOTONIC of the start */
        const ClickHouseChecker *clickhouse;
        const SampleChecker *samples; /* may be NULL */
        const LocalRuntime *local;    /* NULL in cluster mode */
        Cluster *cluster;             /* NULL in local mode */
} StatusSources;

/* The status document (schema "otel-supervisor/status/v1") as JSON text; caller frees. NULL on OOM. */
char *status_render_json(const StatusSources *s);
/* The Prometheus text exposition of /metrics; caller frees. */
char *status_render_metrics(const StatusSources *s);
