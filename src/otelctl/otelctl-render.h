/* SPDX-License-Identifier: MIT */
#pragma once

#include <cjson/cJSON.h>
#include <stdio.h>
#include <time.h>

/* Prints the status document as a table for people; `now` makes ages reproducible in tests. */
void otelctl_render_status(FILE *f, const cJSON *status, time_t now);
