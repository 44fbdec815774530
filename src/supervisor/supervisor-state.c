/* SPDX-License-Identifier: MIT */
#include "supervisor-state.h"

const char *supervisor_state_to_string(SupervisorState s) {
        static const char *const names[_STATE_MAX] = {
                [STATE_STARTING] = "starting",
                [STATE_STARTING_CLUSTER] = "starting-cluster",
                [STATE_LOADING_IMAGES] = "loading-images",
                [STATE_APPLYING] = "applying",
                [STATE_WAITING_ROLLOUT] = "waiting-rollout",
                [STATE_READY] = "ready",
                [STATE_DEGRADED] = "degraded",
                [STATE_FAILED] = "failed",
        };
        return s < _STATE_MAX ? names[s] : "unknown";
}
