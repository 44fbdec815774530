/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>

#include "strbuf.h"

Test(strbuf, bounded) {
        StrBuf b = STRBUF_INIT(10);

        cr_assert_eq(strbuf_puts(&b, "hello"), 0);
        cr_assert_eq(strbuf_printf(&b, "%d", 12345), 0);
        cr_assert_eq(b.len, 10);
        cr_assert_str_eq(b.data, "hello12345");
        cr_assert_eq(strbuf_puts(&b, "x"), -ENOBUFS, "must refuse to grow past its maximum");
        cr_assert_eq(strbuf_printf(&b, "%s", "y"), -ENOBUFS);
        cr_assert_str_eq(b.data, "hello12345", "a refused append leaves the content alone");
        strbuf_reset(&b);
        cr_assert_eq(b.len, 0);
        cr_assert_eq(strbuf_printf(&b, "%s", "0123456789"), 0);
        cr_assert_eq(strbuf_printf(&b, "%s", ""), 0);
        strbuf_done(&b);
}

Test(strbuf, printf_grows) {
        StrBuf b = STRBUF_INIT(1 << 20);
        char big[5000];

        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        for (int i = 0; i < 3; i++)
                cr_assert_eq(strbuf_printf(&b, "%s|", big), 0);
        cr_assert_eq(b.len, 3 * sizeof(big));
        cr_assert_eq(b.data[sizeof(big) - 1], '|');
        cr_assert_eq(b.data[b.len], 0);
        strbuf_done(&b);
}

Test(strbuf, json_escape) {
        StrBuf b = STRBUF_INIT(1024);
        const char in[] = "a\"b\\c\nd\te\x01\x1f\xce\xb1";

        cr_assert_eq(strbuf_append_json_escaped(&b, in, sizeof(in) - 1), 0);
        cr_assert_str_eq(b.data, "a\\\"b\\\\c\\nd\\te\\u0001\\u001f\xce\xb1");
        strbuf_done(&b);
}

Test(strbuf, steal) {
        StrBuf b = STRBUF_INIT(16);
        size_t n = 99;
        char *s = strbuf_steal(&b, &n);

        cr_assert_not_null(s);
        cr_assert_str_eq(s, "");
        cr_assert_eq(n, 0);
        free(s);
        cr_assert_eq(strbuf_puts(&b, "abc"), 0);
        s = strbuf_steal(&b, &n);
        cr_assert_str_eq(s, "abc");
        cr_assert_eq(n, 3);
        cr_assert_null(b.data);
        free(s);
}
