/* SPDX-License-Identifier: MIT */
#pragma once

/* The shipper's Manager: one sd-event loop and everything on it. It tracks the files discovery finds
 * (shipper-file.c), reads the ready ones in turn, seals batches on time, has the checkpoint file written
 * before a batch may be sent (shipper-commit.c), hands batches to the sender (shipper-sender.c) and moves
 * the files' offsets when the sender reports them stored; it serves /metrics and /health (shipper-status.c),
 * looks for the files rotated while it was down (shipper-restart.c) and hosts the resource sampler
 * (src/sampler). The arrows point one way: the manager calls the parts, the parts report
 * back through callbacks. */

#include "shipper-config.h"

typedef struct Manager Manager;

int manager_new(ShipperConfig *config, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        if (*m)
                manager_free(*m);
}
int manager_start(Manager *m);
/* Runs the loop until SIGTERM/SIGINT (and the batches read so far are sent) or an error. */
int manager_run(Manager *m);
