/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>

#include "duration.h"
#include "macro.h"

/* Parameters are copied into criterion's worker processes, which may be re-executed at other addresses:
 * the strings are held inline, not by pointer. */
typedef struct {
        char in[48];
        int ret;
        int64_t nsec;
} DurationCase;

static const DurationCase cases[] = {
        /* Go's own ParseDuration table, and the forms users write. */
        {"0", 0, 0},
        {"5s", 0, 5 * NSEC_PER_SEC},
        {"30s", 0, 30 * NSEC_PER_SEC},
        {"1478s", 0, 1478 * NSEC_PER_SEC},
        {"-5s", 0, -5 * NSEC_PER_SEC},
        {"+5s", 0, 5 * NSEC_PER_SEC},
        {"-0", 0, 0},
        {"+0", 0, 0},
        {"5.0s", 0, 5 * NSEC_PER_SEC},
        {"5.6s", 0, 5 * NSEC_PER_SEC + 600 * NSEC_PER_MSEC},
        {"5.s", 0, 5 * NSEC_PER_SEC},
        {".5s", 0, 500 * NSEC_PER_MSEC},
        {"1.0s", 0, NSEC_PER_SEC},
        {"1.00s", 0, NSEC_PER_SEC},
        {"1.004s", 0, NSEC_PER_SEC + 4 * NSEC_PER_MSEC},
        {"100.00100s", 0, 100 * NSEC_PER_SEC + 1 * NSEC_PER_MSEC},
        {"10ns", 0, 10},
        {"11us", 0, 11 * NSEC_PER_USEC},
        {"12\xc2\xb5s", 0, 12 * NSEC_PER_USEC},
        {"12\xce\xbcs", 0, 12 * NSEC_PER_USEC},
        {"13ms", 0, 13 * NSEC_PER_MSEC},
        {"250ms", 0, 250 * NSEC_PER_MSEC},
        {"14s", 0, 14 * NSEC_PER_SEC},
        {"15m", 0, 15 * NSEC_PER_MINUTE},
        {"16h", 0, 16 * NSEC_PER_HOUR},
        {"1m30s", 0, 90 * NSEC_PER_SEC},
        {"3h30m", 0, 3 * NSEC_PER_HOUR + 30 * NSEC_PER_MINUTE},
        {"10.5s4m", 0, 4 * NSEC_PER_MINUTE + 10 * NSEC_PER_SEC + 500 * NSEC_PER_MSEC},
        {"-2m3.4s", 0, -(2 * NSEC_PER_MINUTE + 3 * NSEC_PER_SEC + 400 * NSEC_PER_MSEC)},
        {"1h2m3s4ms5us6ns",
         0,
         NSEC_PER_HOUR + 2 * NSEC_PER_MINUTE + 3 * NSEC_PER_SEC + 4 * NSEC_PER_MSEC + 5 * NSEC_PER_USEC + 6},
        {"39h9m14.425s",
         0,
         39 * NSEC_PER_HOUR + 9 * NSEC_PER_MINUTE + 14 * NSEC_PER_SEC + 425 * NSEC_PER_MSEC},
        {"52763797000ns", 0, 52763797000},
        {"0.3333333333333333333h", 0, 20 * NSEC_PER_MINUTE},
        {"9007199254740993ns", 0, 9007199254740993},
        {"9223372036854775807ns", 0, INT64_MAX},
        {"9223372036854775.807us", 0, INT64_MAX},
        {"9223372036s854ms775us807ns", 0, INT64_MAX},
        {"-9223372036854775808ns", 0, INT64_MIN},
        {"-9223372036854775.808us", 0, INT64_MIN},
        {"0.100000000000000000000h", 0, 6 * NSEC_PER_MINUTE},
        {"0.830103483285477580700h", 0, 49 * NSEC_PER_MINUTE + 48 * NSEC_PER_SEC + 372539827},
        /* Garbage. */
        {"", -EINVAL, 0},
        {"3", -EINVAL, 0},
        {"-", -EINVAL, 0},
        {"s", -EINVAL, 0},
        {".", -EINVAL, 0},
        {"-.", -EINVAL, 0},
        {".s", -EINVAL, 0},
        {"+.s", -EINVAL, 0},
        {"1d", -EINVAL, 0},
        {"5x", -EINVAL, 0},
        {"bogus", -EINVAL, 0},
        {" 5s", -EINVAL, 0},
        {"5s ", -EINVAL, 0},
        {"5 s", -EINVAL, 0},
        {"1e3s", -EINVAL, 0},
        {"--5s", -EINVAL, 0},
        {"5s5", -EINVAL, 0},
        {"5S", -EINVAL, 0},
        {"0x10s", -EINVAL, 0},
        /* Overflow. */
        {"9223372036854775808ns", -ERANGE, 0},
        {"9223372036854775.808us", -ERANGE, 0},
        {"9223372036854ms775us808ns", -ERANGE, 0},
        {"-9223372036854775809ns", -ERANGE, 0},
        {"2562048h", -ERANGE, 0},
        {"99999999999999999999s", -ERANGE, 0},
        {"3000000h", -ERANGE, 0},
        {"9223372036854775807ns1ns", -ERANGE, 0},
};

ParameterizedTestParameters(duration, parse) {
        return cr_make_param_array(DurationCase, (void *) cases, ELEMENTSOF(cases));
}

ParameterizedTest(DurationCase *c, duration, parse) {
        int64_t v = 12345;
        int r = parse_duration(c->in, &v);

        cr_assert_eq(r, c->ret, "parse_duration(\"%s\") returned %d, expected %d", c->in, r, c->ret);
        if (c->ret == 0)
                cr_assert_eq(
                        v,
                        c->nsec,
                        "parse_duration(\"%s\") = %ld, expected %ld",
                        c->in,
                        (long) v,
                        (long) c->nsec);
        else
                cr_assert_eq(v, 12345, "parse_duration(\"%s\") wrote its result on failure", c->in);
}

typedef struct {
        int64_t nsec;
        const char *out;
} FormatCase;

static const FormatCase format_cases[] = {
        {0, "0s"},
        {1, "1ns"},
        {1100, "1.1\xc2\xb5s"},
        {2200 * NSEC_PER_USEC, "2.2ms"},
        {250 * NSEC_PER_MSEC, "250ms"},
        {5 * NSEC_PER_SEC, "5s"},
        {3300 * NSEC_PER_MSEC, "3.3s"},
        {90 * NSEC_PER_SEC, "1m30s"},
        {4 * NSEC_PER_MINUTE + 5 * NSEC_PER_SEC, "4m5s"},
        {4 * NSEC_PER_MINUTE + 5001 * NSEC_PER_MSEC, "4m5.001s"},
        {NSEC_PER_HOUR, "1h0m0s"},
        {5 * NSEC_PER_HOUR + 6 * NSEC_PER_MINUTE + 7001 * NSEC_PER_MSEC, "5h6m7.001s"},
        {8 * NSEC_PER_MINUTE + 1, "8m0.000000001s"},
        {-5 * NSEC_PER_SEC, "-5s"},
        {INT64_MAX, "2562047h47m16.854775807s"},
        {INT64_MIN, "-2562047h47m16.854775808s"},
};

Test(duration, format) {
        for (size_t i = 0; i < ELEMENTSOF(format_cases); i++) {
                char buf[DURATION_STRING_MAX];
                format_duration(format_cases[i].nsec, buf, sizeof(buf));
                cr_expect_str_eq(
                        buf, format_cases[i].out, "format_duration(%ld)", (long) format_cases[i].nsec);
        }
}

Test(duration, round_trip) {
        for (size_t i = 0; i < ELEMENTSOF(format_cases); i++) {
                char buf[DURATION_STRING_MAX];
                int64_t back;

                format_duration(format_cases[i].nsec, buf, sizeof(buf));
                cr_assert_eq(parse_duration(buf, &back), 0, "parse of \"%s\" failed", buf);
                cr_expect_eq(back, format_cases[i].nsec, "\"%s\" round-tripped to %ld", buf, (long) back);
        }
}
