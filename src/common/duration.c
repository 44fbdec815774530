/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "duration.h"
#include "macro.h"

static const struct {
        const char *name;
        uint64_t nsec;
} units[] = {
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
        {"\xce\xbcs", 1000}, /* U+03BC Greek small letter mu */
        {"ms", 1000000},
        {"s", 1000000000},
        {"m", UINT64_C(60) * 1000000000},
        {"h", UINT64_C(3600) * 1000000000},
};

#define DURATION_LIMIT (UINT64_C(1) << 63)

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* The algorithm follows Go's time.ParseDuration, so that values written for the seed's Go programs mean the
 * same here, overflow rules included: the integer part must not overflow; digits of a fraction beyond what
 * fits are ignored. */
int parse_duration(const char *s, int64_t *ret_nsec) {
        uint64_t total = 0;
        bool neg = false;

        if (!s)
                return -EINVAL;
        if (*s == '-' || *s == '+') {
                neg = *s == '-';
                s++;
        }
        if (streq(s, "0")) {
                *ret_nsec = 0;
                return 0;
        }
        if (!*s)
                return -EINVAL;

        while (*s) {
                uint64_t v = 0, f = 0, unit = 0;
                double scale = 1;
                bool pre = false, post = false;
                const char *u;
                size_t ulen;

                if (!(*s == '.' || is_digit(*s)))
                        return -EINVAL;

                for (; is_digit(*s); s++) {
                        unsigned d = (unsigned) (*s - '0');
                        if (v > (DURATION_LIMIT - d) / 10)
                                return -ERANGE;
                        v = v * 10 + d;
                        pre = true;
                }
                if (*s == '.') {
                        bool overflow = false;
                        s++;
                        for (; is_digit(*s); s++) {
                                unsigned d = (unsigned) (*s - '0');
                                post = true;
                                if (overflow)
                                        continue;
                                if (f > (DURATION_LIMIT - 1) / 10 || f * 10 + d > DURATION_LIMIT) {
                                        overflow = true;
                                        continue;
                                }
                                f = f * 10 + d;
                                scale *= 10;
                        }
                }
                if (!pre && !post)
                        return -EINVAL;

                u = s;
                while (*s && *s != '.' && !is_digit(*s))
                        s++;
                ulen = (size_t) (s - u);
                if (ulen == 0)
                        return -EINVAL;
                for (size_t i = 0; i < ELEMENTSOF(units); i++)
                        if (strlen(units[i].name) == ulen && memcmp(units[i].name, u, ulen) == 0) {
                                unit = units[i].nsec;
                                break;
                        }
                if (unit == 0)
                        return -EINVAL;

                if (v > DURATION_LIMIT / unit)
                        return -ERANGE;
                v *= unit;
                if (f > 0) {
                        v += (uint64_t) ((double) f * ((double) unit / scale));
                        if (v > DURATION_LIMIT)
                                return -ERANGE;
                }
                total += v;
                if (total > DURATION_LIMIT)
                        return -ERANGE;
        }

        if (neg) {
                *ret_nsec = total == DURATION_LIMIT ? INT64_MIN : -(int64_t) total;
                return 0;
        }
        if (total > (uint64_t) INT64_MAX)
                return -ERANGE;
        *ret_nsec = (int64_t) total;
        return 0;
}

/* Appends "<v / 10^prec>[.<fraction without trailing zeros>]" to buf. */
static int format_fixed(char *buf, size_t size, uint64_t v, unsigned prec) {
        uint64_t p = 1;
        char frac[16];
        int n;

        for (unsigned i = 0; i < prec; i++)
                p *= 10;
        n = snprintf(frac, sizeof(frac), "%0*" PRIu64, (int) prec, prec ? v % p : 0);
        while (n > 0 && frac[n - 1] == '0')
                frac[--n] = 0;
        if (prec == 0 || n == 0)
                return snprintf(buf, size, "%" PRIu64, v / p);
        return snprintf(buf, size, "%" PRIu64 ".%s", v / p, frac);
}

char *format_duration(int64_t nsec, char *buf, size_t size) {
        uint64_t u = nsec < 0 ? -(uint64_t) nsec : (uint64_t) nsec;
        const char *sign = nsec < 0 ? "-" : "";
        char num[64];

        if (size == 0)
                return buf;
        if (u == 0)
                (void) snprintf(buf, size, "0s");
        else if (u < 1000)
                (void) snprintf(buf, size, "%s%" PRIu64 "ns", sign, u);
        else if (u < 1000000) {
                (void) format_fixed(num, sizeof(num), u, 3);
                (void) snprintf(buf, size, "%s%s\xc2\xb5s", sign, num);
        } else if (u < 1000000000) {
                (void) format_fixed(num, sizeof(num), u, 6);
                (void) snprintf(buf, size, "%s%sms", sign, num);
        } else {
                uint64_t secs = u / 1000000000, h = secs / 3600, m = secs / 60 % 60;

                (void) format_fixed(num, sizeof(num), secs % 60 * 1000000000 + u % 1000000000, 9);
                if (h > 0)
                        (void) snprintf(buf, size, "%s%" PRIu64 "h%" PRIu64 "m%ss", sign, h, m, num);
                else if (m > 0)
                        (void) snprintf(buf, size, "%s%" PRIu64 "m%ss", sign, m, num);
                else
                        (void) snprintf(buf, size, "%s%ss", sign, num);
        }
        return buf;
}
