/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Strict number parsing: decimal digits only, no leading or trailing white space, no '+', no empty string,
 * no overflow. A '-' is accepted by the signed forms only. Returns 0 and writes *ret on success, -EINVAL for
 * anything that is not a number, -ERANGE for a number out of the type's range (including a negative number
 * given to an unsigned form). *ret is left alone on failure. */

int safe_atou64(const char *s, uint64_t *ret);
int safe_atoi64(const char *s, int64_t *ret);
int safe_atou32(const char *s, uint32_t *ret);
int safe_atoi32(const char *s, int32_t *ret);
int safe_atou16(const char *s, uint16_t *ret);

/* Bounded forms: -ERANGE unless min <= value <= max. */
int safe_atoi64_range(const char *s, int64_t min, int64_t max, int64_t *ret);

/* "1", "yes", "y", "true", "t", "on" → 1; "0", "no", "n", "false", "f", "off" → 0 (case-insensitive);
 * anything else → -EINVAL. */
int parse_boolean(const char *s);
