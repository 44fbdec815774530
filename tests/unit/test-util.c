/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"

static char dir[] = "/tmp/otel-test-util-XXXXXX";

static void setup(void) {
        cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
        char cmd[128];
        (void) snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        cr_expect_eq(system(cmd), 0);
}

TestSuite(util, .init = setup, .fini = teardown);

Test(util, atomic_write_replaces_and_leaves_no_temp) {
        _cleanup_free_ char *path = NULL, *data = NULL;
        size_t n;
        struct stat st;
        DIR *d;
        struct dirent *de;
        int entries = 0;

        cr_assert(asprintf(&path, "%s/state", dir) > 0);
        cr_assert_eq(write_file_atomic(path, "first", 5, 0600), 0);
        cr_assert_eq(write_file_atomic(path, "second", 6, 0600), 0);
        cr_assert_eq(read_full_file(path, 1024, &data, &n), 0);
        cr_assert_eq(n, 6);
        cr_assert_str_eq(data, "second");
        cr_assert_eq(stat(path, &st), 0);
        cr_assert_eq(st.st_mode & 0777, 0600);

        d = opendir(dir);
        cr_assert_not_null(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        entries++;
        closedir(d);
        cr_assert_eq(entries, 1, "temporary files must not be left behind");
}

Test(util, atomic_write_fails_cleanly) {
        _cleanup_free_ char *path = NULL;

        cr_assert(asprintf(&path, "%s/missing-dir/state", dir) > 0);
        cr_assert_eq(write_file_atomic(path, "x", 1, 0600), -ENOENT);
}

Test(util, read_full_file_limit) {
        _cleanup_free_ char *path = NULL, *data = NULL;
        char big[10000];
        size_t n;

        memset(big, 'z', sizeof(big));
        cr_assert(asprintf(&path, "%s/big", dir) > 0);
        cr_assert_eq(write_file_atomic(path, big, sizeof(big), 0644), 0);
        cr_assert_eq(read_full_file(path, 9999, &data, &n), -EFBIG);
        cr_assert_null(data);
        cr_assert_eq(read_full_file(path, 10000, &data, &n), 0);
        cr_assert_eq(n, 10000);
        cr_assert_eq(data[9999], 'z');
        cr_assert_eq(data[10000], 0);
}
