/* SPDX-License-Identifier: MIT */
#pragma once

/* The appliance's state as the status document, /healthz, /metrics and systemd's STATUS= show it. The
 * manager owns the current state (supervisor-manager.c); the cluster driver names the phases of bringing the
 * stack up (supervisor-cluster.c). */
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

const char *supervisor_state_to_string(SupervisorState s);
