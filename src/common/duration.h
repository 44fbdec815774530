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

#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_PER_SEC UINT64_C(1000000)

/* The one conversion from a configured duration (signed ns) to the microseconds sd-event, curl and
 * now_usec() work in; a negative duration counts as 0. */
static inline uint64_t nsec_to_usec(int64_t nsec) {
        return nsec <= 0 ? 0 : (uint64_t) nsec / (uint64_t) NSEC_PER_USEC;
}

/* Microseconds (now_usec()) to the nanoseconds timestamps are stored in. */
static inline int64_t usec_to_nsec(uint64_t usec) {
        return usec > (uint64_t) INT64_MAX / (uint64_t) NSEC_PER_USEC ? INT64_MAX
                                                                      : (int64_t) usec * NSEC_PER_USEC;
}

/* Returns 0, -EINVAL for malformed input (empty, no unit, unknown unit, stray characters) or -ERANGE when
 * the value does not fit in int64 nanoseconds (about 292 years). */
int parse_duration(const char *s, int64_t *ret_nsec);

/* Formats as Go's Duration.String() does: "1h2m3.5s", "250ms", "1.5µs", "0s". Needs at most
 * DURATION_STRING_MAX bytes. Returns buf. */
#define DURATION_STRING_MAX 40
char *format_duration(int64_t nsec, char *buf, size_t size);
