/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <strings.h>

#include "macro.h"
#include "parse-util.h"

/* Parses the magnitude: digits only, at least one, with overflow detection. */
static int parse_digits(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!s || !*s)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                unsigned d;

                if (*p < '0' || *p > '9')
                        return -EINVAL;
                d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

int safe_atou64(const char *s, uint64_t *ret) {
        uint64_t v;
        int r;

        if (s && s[0] == '-') {
                /* "-0" is still garbage-free; call it out of range like any negative number. */
                r = parse_digits(s + 1, &v);
                return r < 0 ? r : -ERANGE;
        }
        r = parse_digits(s, &v);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

int safe_atoi64(const char *s, int64_t *ret) {
        bool neg = s && s[0] == '-';
        uint64_t v;
        int r;

        r = parse_digits(neg ? s + 1 : s, &v);
        if (r < 0)
                return r;
        if (neg) {
                if (v > (uint64_t) INT64_MAX + 1)
                        return -ERANGE;
                *ret = v == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) v;
        } else {
                if (v > (uint64_t) INT64_MAX)
                        return -ERANGE;
                *ret = (int64_t) v;
        }
        return 0;
}

int safe_atoi64_range(const char *s, int64_t min, int64_t max, int64_t *ret) {
        int64_t v;
        int r;

        r = safe_atoi64(s, &v);
        if (r < 0)
                return r;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int safe_atou32(const char *s, uint32_t *ret) {
        uint64_t v;
        int r = safe_atou64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

int safe_atoi32(const char *s, int32_t *ret) {
        int64_t v;
        int r = safe_atoi64_range(s, INT32_MIN, INT32_MAX, &v);
        if (r < 0)
                return r;
        *ret = (int32_t) v;
        return 0;
}

int safe_atou16(const char *s, uint16_t *ret) {
        uint64_t v;
        int r = safe_atou64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT16_MAX)
                return -ERANGE;
        *ret = (uint16_t) v;
        return 0;
}

int parse_boolean(const char *s) {
        static const char *const yes[] = {"1", "yes", "y", "true", "t", "on"};
        static const char *const no[] = {"0", "no", "n", "false", "f", "off"};

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}
