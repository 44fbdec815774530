/* SPDX-License-Identifier: MIT */
#pragma once

/* The answers of /health and /metrics, rendered from what the manager knows. Rendering reads only: the
 * manager fills a ShipperStatus for each request (it is cheap), so this file does not know the manager. */

#include "http-server.h"
#include "sampler.h"
#include "shipper-config.h"
#include "shipper-metrics.h"
#include "shipper-sender.h"

typedef struct ShipperStatus {
        const ShipperConfig *config; /* names the checkpoint and dead-letter files */
        const Sender *sender;
        Sampler *sampler;
        const ShipperStats *stats;
        const TransformStats *tstats;
        int ckpt_error; /* of the last checkpoint write, 0 when it succeeded */
        /* The files' part, summed by the manager: files_tracked, files_paused, batches_queued, lag_bytes,
         * buffered_bytes. The rest is filled here. */
        ShipperGauges gauges;
} ShipperStatus;

/* The readiness of the shipper: 200 "ok", or 503 "degraded: <why>" (the supervisor shows that line). */
int shipper_status_health(const ShipperStatus *s, HttpResponse *resp);
/* The counters and gauges, then the sampler's, in Prometheus text format. */
int shipper_status_metrics(const ShipperStatus *s, HttpResponse *resp);
