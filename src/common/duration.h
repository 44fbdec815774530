/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Durations as Go writes them ("5s", "250ms", "1m30s", "1.5h", "-2us"), held as signed nanoseconds like Go's
 * time.Duration. Units: ns, us (µs, μs), ms, s, m, h; a lone "0" needs no unit. */

#define NSEC_PER_USEC INT64_C(1000)
#define NSEC_PER_MSEC INT64_C(1000000)
#define NSEC_PER_SEC INT64_C(1000000000)
#define NSEC_PER_MINUTE (60 * NSEC_PER_SEC)
#define NSEC_PER_HOUR (60 * NSEC_PER_MINUTE)

/* Returns 0, -EINVAL for malformed input (empty, no unit, unknown unit, stray characters) or -ERANGE when
 * the value does not fit in int64 nanoseconds (about 292 years). */
int parse_duration(const char *s, int64_t *ret_nsec);

/* Formats as Go's Duration.String() does: "1h2m3.5s", "250ms", "1.5µs", "0s". Needs at most
 * DURATION_STRING_MAX bytes. Returns buf. */
#define DURATION_STRING_MAX 40
char *format_duration(int64_t nsec, char *buf, size_t size);
