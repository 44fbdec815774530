/* SPDX-License-Identifier: MIT */
#pragma once

#include "curl-glue.h"

/* A health endpoint of a child, asked on the loop (GET, short timeout, a bounded answer): the local
 * runtime's shipper says on its /health what it cannot fix by retrying (ClickHouse refusing its password,
 * say), which its process state does not show. One request at a time; the last answer is kept. */

typedef struct HealthProbe HealthProbe;
typedef void (*HealthProbeDone)(void *userdata);

int health_probe_new(CurlGlue *glue, const char *url, HealthProbe **ret);
HealthProbe *health_probe_free(HealthProbe *p);
static inline void health_probe_freep(HealthProbe **p) {
        if (*p)
                health_probe_free(*p);
}
/* Starts a request unless one runs (-EBUSY); done is called when it completes. */
int health_probe_run(HealthProbe *p, HealthProbeDone done, void *userdata);
/* The HTTP status of the last answer, 0 when the last request got none. */
long health_probe_status(const HealthProbe *p);
/* The first line of the last answer's body ("" when none). */
const char *health_probe_answer(const HealthProbe *p);
