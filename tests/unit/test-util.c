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

static int count_entries(const char *d_path) {
        DIR *d = opendir(d_path);
        struct dirent *de;
        int entries = 0;

        cr_assert_not_null(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        entries++;
        closedir(d);
        return entries;
}

Test(util, atomic_write_fails_cleanly) {
        _cleanup_free_ char *path = NULL, *target = NULL, *data = NULL;
        size_t n;

        cr_assert(asprintf(&path, "%s/missing-dir/state", dir) > 0);
        cr_assert_eq(write_file_atomic(path, "x", 1, 0600), -ENOENT);

        /* The rename fails (a directory is in the way): nothing is left behind, with or without sync. */
        cr_assert(asprintf(&target, "%s/busy", dir) > 0);
        cr_assert_eq(mkdir(target, 0700), 0);
        cr_assert_lt(write_file_atomic(target, "x", 1, 0600), 0);
        cr_assert_lt(write_file_atomic_full(target, "x", 1, 0600, 0), 0);
        cr_assert_eq(count_entries(dir), 1, "only the directory, no temporary file");

        /* Unsynced writes replace atomically too (checkpoints with checkpoint-sync off). */
        free(path);
        cr_assert(asprintf(&path, "%s/unsynced", dir) > 0);
        cr_assert_eq(write_file_atomic_full(path, "one", 3, 0644, 0), 0);
        cr_assert_eq(write_file_atomic_full(path, "two!", 4, 0644, 0), 0);
        cr_assert_eq(read_full_file(path, 1024, &data, &n), 0);
        cr_assert_str_eq(data, "two!");
        cr_assert_eq(count_entries(dir), 2);
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
