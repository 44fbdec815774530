/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>

#include "parse-util.h"

Test(parse_util, atou64) {
        uint64_t v = 7;

        cr_assert_eq(safe_atou64("0", &v), 0);
        cr_assert_eq(v, 0);
        cr_assert_eq(safe_atou64("18446744073709551615", &v), 0);
        cr_assert_eq(v, UINT64_MAX);
        cr_assert_eq(safe_atou64("18446744073709551616", &v), -ERANGE);
        cr_assert_eq(safe_atou64("99999999999999999999999", &v), -ERANGE);
        cr_assert_eq(safe_atou64("-1", &v), -ERANGE);
        cr_assert_eq(safe_atou64("-x", &v), -EINVAL);
        v = 7;
        cr_assert_eq(safe_atou64("", &v), -EINVAL);
        cr_assert_eq(safe_atou64(NULL, &v), -EINVAL);
        cr_assert_eq(safe_atou64(" 1", &v), -EINVAL);
        cr_assert_eq(safe_atou64("1 ", &v), -EINVAL);
        cr_assert_eq(safe_atou64("+1", &v), -EINVAL);
        cr_assert_eq(safe_atou64("0x10", &v), -EINVAL);
        cr_assert_eq(safe_atou64("1e3", &v), -EINVAL);
        cr_assert_eq(safe_atou64("12abc", &v), -EINVAL);
        cr_assert_eq(v, 7, "failure must not write the result");
}

Test(parse_util, atoi64) {
        int64_t v;

        cr_assert_eq(safe_atoi64("-9223372036854775808", &v), 0);
        cr_assert_eq(v, INT64_MIN);
        cr_assert_eq(safe_atoi64("9223372036854775807", &v), 0);
        cr_assert_eq(v, INT64_MAX);
        cr_assert_eq(safe_atoi64("9223372036854775808", &v), -ERANGE);
        cr_assert_eq(safe_atoi64("-9223372036854775809", &v), -ERANGE);
        cr_assert_eq(safe_atoi64("-", &v), -EINVAL);
        cr_assert_eq(safe_atoi64("--1", &v), -EINVAL);
        cr_assert_eq(safe_atoi64("-42", &v), 0);
        cr_assert_eq(v, -42);
}

Test(parse_util, ranges) {
        int64_t v;
        uint32_t u32;
        int32_t i32;
        uint16_t u16;

        cr_assert_eq(safe_atoi64_range("10", 1, 10, &v), 0);
        cr_assert_eq(safe_atoi64_range("11", 1, 10, &v), -ERANGE);
        cr_assert_eq(safe_atoi64_range("0", 1, 10, &v), -ERANGE);
        cr_assert_eq(safe_atou32("4294967295", &u32), 0);
        cr_assert_eq(u32, UINT32_MAX);
        cr_assert_eq(safe_atou32("4294967296", &u32), -ERANGE);
        cr_assert_eq(safe_atoi32("-2147483648", &i32), 0);
        cr_assert_eq(i32, INT32_MIN);
        cr_assert_eq(safe_atoi32("2147483648", &i32), -ERANGE);
        cr_assert_eq(safe_atou16("65535", &u16), 0);
        cr_assert_eq(safe_atou16("65536", &u16), -ERANGE);
}

Test(parse_util, boolean) {
        cr_assert_eq(parse_boolean("yes"), 1);
        cr_assert_eq(parse_boolean("TRUE"), 1);
        cr_assert_eq(parse_boolean("on"), 1);
        cr_assert_eq(parse_boolean("1"), 1);
        cr_assert_eq(parse_boolean("no"), 0);
        cr_assert_eq(parse_boolean("Off"), 0);
        cr_assert_eq(parse_boolean("0"), 0);
        cr_assert_eq(parse_boolean("2"), -EINVAL);
        cr_assert_eq(parse_boolean(""), -EINVAL);
        cr_assert_eq(parse_boolean("yess"), -EINVAL);
}
