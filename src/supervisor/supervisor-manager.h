/* SPDX-License-Identifier: MIT */
#pragma once

#include "supervisor-config.h"

/* The daemon's one Manager: it owns the event loop and every source, the configuration, the runtime of the
 * mode (local or cluster), the ClickHouse checks and the status endpoints; it judges the state from what
 * they report and tells systemd. The runtimes report back through callbacks and never see the manager. */
typedef struct Manager Manager;

int manager_new(const SupervisorConfig *config, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        if (*m)
                manager_free(*m);
}
int manager_start(Manager *m);
int manager_run(Manager *m);
