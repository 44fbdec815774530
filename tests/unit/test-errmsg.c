/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "errmsg.h"

Test(errmsg, returns_the_errno_and_hands_the_sentence_over) {
        _cleanup_free_ char *error = NULL;

        cr_assert_eq(errmsg_set(&error, -ENOENT, "%s:%u: no context \"%s\"", "k.yaml", 3u, "x"), -ENOENT);
        cr_assert_str_eq(error, "k.yaml:3: no context \"x\"");
}

Test(errmsg, positive_errno_comes_back_negative) {
        cr_assert_eq(errmsg_set(NULL, EINVAL, "bad"), -EINVAL);
}

Test(errmsg, percent_m_is_the_errno_given) {
        _cleanup_free_ char *error = NULL;

        errno = 0;
        (void) errmsg_set(&error, -EACCES, "/x: %m");
        cr_assert_str_eq(error, "/x: Permission denied");
}

Test(errmsg, replaces_an_earlier_message_and_may_wrap_it) {
        _cleanup_free_ char *error = NULL;

        (void) errmsg_set(&error, -EINVAL, "inner");
        (void) errmsg_set(&error, -EINVAL, "outer: %s", error);
        cr_assert_str_eq(error, "outer: inner");
        (void) errmsg_set(&error, -EIO, "again");
        cr_assert_str_eq(error, "again");
}

Test(errmsg, null_reterr_only_returns) {
        cr_assert_eq(errmsg_set(NULL, -E2BIG, "%s", "dropped"), -E2BIG);
}
