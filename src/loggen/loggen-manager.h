/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "http-server.h"
#include "loggen-random.h"
#include "strbuf.h"

typedef struct LoggenConfig {
        int64_t max_number;
        int64_t num_strings;
        int64_t sleep_nsec;
        int64_t health_port;
        char *health_address;
        int64_t rate;  /* lines per second; 0 = one line per sleep interval */
        int64_t count; /* stop after this many ticks; 0 = run until signalled */
        uint64_t seed;
        bool seed_set;
        int64_t shutdown_delay_nsec; /* /ready answers 503 this long before exit */
} LoggenConfig;

typedef struct Manager {
        sd_event *event;
        sd_event_source *tick_timer;
        sd_event_source *exit_timer;
        sd_event_source *sigterm_source;
        sd_event_source *sigint_source;
        HttpServer *health;

        LoggenConfig config;
        LoggenRandom random;
        uint64_t ticks;

        /* Pacing: lines are due at start + n × period; a late wake-up catches up by at most one second's
         * worth, so a stopped process does not burst when continued. */
        uint64_t start_usec;
        uint64_t period_nsec;
        uint64_t due;

        bool stopping;
        int exit_status;
        StrBuf out;
} Manager;

int manager_new(const LoggenConfig *config, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        if (*m)
                manager_free(*m);
}

/* Starts the health server and the loop; prints "loop started". */
int manager_start(Manager *m);
/* Runs until a signal or the --count limit ends the loop; returns the exit status. */
int manager_run(Manager *m);
/* Begins a graceful stop: no more ticks, /ready answers 503, "loop stopped" is printed, exit follows after
 * the shutdown delay. Idempotent. */
void manager_begin_stop(Manager *m, int64_t delay_nsec);
