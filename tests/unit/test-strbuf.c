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

Test(strbuf, json_escape_every_control_byte) {
        StrBuf b = STRBUF_INIT(4096);
        char in[40];
        size_t n = 0;

        for (int c = 0; c < 0x20; c++)
                in[n++] = (char) c;
        in[n++] = '"';
        in[n++] = '\\';
        in[n++] = '/';
        in[n++] = 'x';
        cr_assert_eq(strbuf_append_json_escaped(&b, in, n), 0);
        cr_assert_str_eq(
                b.data,
                "\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
                "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c"
                "\\u001d\\u001e\\u001f\\\"\\\\/x");
        /* The checked form needs only what the string takes, not the worst case. */
        strbuf_done(&b);
        b = STRBUF_INIT(10);
        cr_assert_eq(strbuf_append_json_escaped(&b, "plain text", 10), 0);
        cr_assert_eq(strbuf_append_json_escaped(&b, "x", 1), -ENOBUFS);
        strbuf_done(&b);
}

Test(strbuf, fast_path) {
        StrBuf b = STRBUF_INIT(40);

        cr_assert_eq(strbuf_reserve(&b, 40), 0);
        cr_assert_geq(b.alloc, 41, "room for the terminator too");
        strbuf_put_lit(&b, "n=");
        strbuf_put_u64(&b, 18446744073709551615u);
        strbuf_putc(&b, ' ');
        strbuf_put_u64_padded(&b, 42, 5);
        strbuf_terminate(&b);
        cr_assert_str_eq(b.data, "n=18446744073709551615 00042");
        cr_assert_eq(strbuf_reserve(&b, 13), -ENOBUFS, "28 + 13 > 40");
        cr_assert_eq(strbuf_reserve(&b, 12), 0);
        strbuf_reset(&b);
        cr_assert_eq(strbuf_reserve(&b, 0), 0);
        strbuf_put_json_escaped(&b, "a\"\n", 3);
        strbuf_terminate(&b);
        cr_assert_str_eq(b.data, "a\\\"\\n");
        strbuf_done(&b);

        /* No maximum to speak of: SIZE_MAX must not wrap around. */
        b = STRBUF_INIT(SIZE_MAX);
        cr_assert_eq(strbuf_puts(&b, "unbounded"), 0);
        cr_assert_str_eq(b.data, "unbounded");
        strbuf_done(&b);
}
