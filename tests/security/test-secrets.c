/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "secrets.h"
#include "util.h"

/* The appliance's generated secrets (src/common/secrets.c): two fresh state directories get different
 * values, the files are private, a file once there is never replaced, and no generated value is in the
 * source tree (nothing committed holds one). */

static char *fresh_dir(void) {
        char *d = strdup("/tmp/otel-secrets-XXXXXX");
        cr_assert_not_null(mkdtemp(d));
        return d;
}

static char *secrets_in(const char *base) {
        char *p;
        cr_assert_geq(asprintf(&p, "%s/secrets", base), 0);
        return p;
}

static void read_all(const char *dir, char *vals[_SECRET_MAX]) {
        for (SecretUser u = 0; u < _SECRET_MAX; u++) {
                cr_assert_eq(secret_read(dir, u, &vals[u]), 0, "%s/%s", dir, secret_file_name(u));
                cr_assert_eq(strlen(vals[u]), 32);
                for (const char *c = vals[u]; *c; c++)
                        cr_assert(strchr("0123456789abcdef", *c), "%s", vals[u]);
        }
}

/* Whether needle is in any file under dir (the build directories and .git left out). */
static bool tree_contains(const char *dir, const char *needle) {
        DIR *d = opendir(dir);
        struct dirent *de;
        bool found = false;

        if (!d)
                return false;
        while (!found && (de = readdir(d))) {
                char *p;
                struct stat st;
                if (streq(de->d_name, ".") || streq(de->d_name, "..") || streq(de->d_name, ".git") ||
                    strncmp(de->d_name, "build", 5) == 0)
                        continue;
                cr_assert_geq(asprintf(&p, "%s/%s", dir, de->d_name), 0);
                if (lstat(p, &st) == 0) {
                        if (S_ISDIR(st.st_mode))
                                found = tree_contains(p, needle);
                        else if (S_ISREG(st.st_mode) && st.st_size < 64 * 1024 * 1024) {
                                char *buf = NULL;
                                size_t n = 0;
                                if (read_full_file(p, (size_t) st.st_size + 1, &buf, &n) >= 0)
                                        found = memmem(buf, n, needle, strlen(needle)) != NULL;
                                free(buf);
                        }
                }
                free(p);
        }
        closedir(d);
        return found;
}

Test(secrets, two_state_directories_get_different_values_never_in_the_tree) {
        char *a = fresh_dir(), *b = fresh_dir();
        char *sa = secrets_in(a), *sb = secrets_in(b);
        char *va[_SECRET_MAX], *vb[_SECRET_MAX];

        cr_assert_eq(secrets_ensure(sa), 0);
        cr_assert_eq(secrets_ensure(sb), 0);
        read_all(sa, va);
        read_all(sb, vb);
        for (SecretUser u = 0; u < _SECRET_MAX; u++) {
                for (SecretUser w = 0; w < _SECRET_MAX; w++) {
                        cr_assert_str_neq(va[u], vb[w]);
                        if (u != w)
                                cr_assert_str_neq(va[u], va[w]);
                }
                cr_assert_not(
                        tree_contains(SOURCE_ROOT, va[u]), "%s is in %s", secret_file_name(u), SOURCE_ROOT);
                cr_assert_not(
                        tree_contains(SOURCE_ROOT, vb[u]), "%s is in %s", secret_file_name(u), SOURCE_ROOT);
        }
        for (SecretUser u = 0; u < _SECRET_MAX; u++) {
                free(va[u]);
                free(vb[u]);
        }
}

Test(secrets, private_files_never_replaced) {
        char *base = fresh_dir(), *dir = secrets_in(base), *before[_SECRET_MAX], *after[_SECRET_MAX], *p;
        struct stat st;

        umask(0);
        cr_assert_eq(secrets_ensure(dir), 0);
        cr_assert_eq(stat(dir, &st), 0);
        cr_assert_eq(st.st_mode & 07777, 0700);
        for (SecretUser u = 0; u < _SECRET_MAX; u++) {
                cr_assert_geq(asprintf(&p, "%s/%s", dir, secret_file_name(u)), 0);
                cr_assert_eq(stat(p, &st), 0);
                cr_assert_eq(st.st_mode & 07777, 0600, "%s", p);
                free(p);
        }
        read_all(dir, before);
        /* Again, and from two processes at once: what is there stays. */
        for (int i = 0; i < 2; i++) {
                pid_t pid = fork();
                cr_assert_geq(pid, 0);
                if (pid == 0)
                        _exit(secrets_ensure(dir) == 0 ? 0 : 1);
        }
        cr_assert_eq(secrets_ensure(dir), 0);
        for (int i = 0; i < 2; i++) {
                int status;
                cr_assert_gt(wait(&status), 0);
                cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        read_all(dir, after);
        for (SecretUser u = 0; u < _SECRET_MAX; u++)
                cr_assert_str_eq(before[u], after[u]);
        /* One removed: only that one is new. */
        cr_assert_geq(asprintf(&p, "%s/%s", dir, secret_file_name(SECRET_READER)), 0);
        cr_assert_eq(unlink(p), 0);
        free(p);
        cr_assert_eq(secrets_ensure(dir), 0);
        read_all(dir, after);
        for (SecretUser u = 0; u < _SECRET_MAX; u++)
                if (u == SECRET_READER)
                        cr_assert_str_neq(before[u], after[u]);
                else
                        cr_assert_str_eq(before[u], after[u]);
}

Test(secrets, empty_or_binary_files_are_refused) {
        char *base = fresh_dir(), *p, *v = NULL;

        cr_assert_geq(asprintf(&p, "%s/x.password", base), 0);
        cr_assert_eq(write_file_atomic(p, "\n", 1, 0600), 0);
        cr_assert_eq(secret_read_file(p, &v), -EINVAL);
        cr_assert_eq(write_file_atomic(p, "ab\0cd\n", 6, 0600), 0);
        cr_assert_eq(secret_read_file(p, &v), -EINVAL);
        cr_assert_eq(write_file_atomic(p, "abc\r\n", 5, 0600), 0);
        cr_assert_eq(secret_read_file(p, &v), 0);
        cr_assert_str_eq(v, "abc");
}
