/* SPDX-License-Identifier: MIT */
#pragma once

#include <cjson/cJSON.h>
#include <stdio.h>
#include <time.h>

/* Prints the status document as a table for people; `now` makes ages reproducible in tests. */
void otelctl_render_status(FILE *f, const cJSON *status, time_t now);

/* Prints one row of `otelctl logs` for people, on one line: time (UTC, milliseconds), pod (or service),
 * severity, body and the attributes (but level and ts, which the line shows already) as key=value, with
 * control characters escaped so that a row never spans lines. */
void otelctl_render_log_row(FILE *f, const cJSON *row);
