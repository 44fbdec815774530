/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "macro.h"
#include "spool.h"

static char dir[64];

static void setup(void) {
        char tmpl[] = "/tmp/test-spool-XXXXXX";
        cr_assert_not_null(mkdtemp(tmpl));
        snprintf(dir, sizeof(dir), "%s/spool", tmpl);
}

static void teardown(void) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int) (strrchr(dir, '/') - dir), dir);
        cr_assert_eq(system(cmd), 0);
}

Test(spool, put_list_get_remove, .init = setup, .fini = teardown) {
        _cleanup_strv_free_ char **names = NULL;
        char *data = NULL, path[128];
        size_t size;
        struct stat st;
        int fd;

        cr_assert_eq(spool_open(dir), 0);
        cr_assert_eq(spool_open(dir), 0, "an existing spool is fine");
        cr_assert_eq(stat(dir, &st), 0);
        cr_assert_eq(st.st_mode & 0777, 0700);
        cr_assert_eq(spool_put(dir, "samples-h-1700000000200-3.batch", "b", 1), 0);
        cr_assert_eq(spool_put(dir, "samples-h-1700000000100-2.batch", "aa", 2), 0);
        cr_assert_eq(spool_put(dir, "samples-h-1700000000300-1.batch", "ccc", 3), 0);
        /* What an interrupted write or someone else leaves is not a batch. */
        snprintf(path, sizeof(path), "%s/samples-h-1700000000050-9.batch.tmp.123", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        cr_assert_geq(fd, 0);
        close(fd);
        cr_assert_eq(spool_put(dir, "other.batch", "x", 1), 0);

        cr_assert_eq(spool_list(dir, "samples-", ".batch", &names), 0);
        cr_assert_str_eq(names[0], "samples-h-1700000000100-2.batch");
        cr_assert_str_eq(names[1], "samples-h-1700000000200-3.batch");
        cr_assert_str_eq(names[2], "samples-h-1700000000300-1.batch");
        cr_assert_null(names[3]);

        cr_assert_eq(spool_get(dir, names[0], 1024, &data, &size), 0);
        cr_assert_eq(size, 2);
        cr_assert_str_eq(data, "aa");
        free(data);
        cr_assert_eq(spool_get(dir, names[2], 2, &data, &size), -EFBIG);

        cr_assert_eq(spool_remove(dir, names[1]), 0);
        cr_assert_eq(spool_remove(dir, names[1]), 0, "already gone is fine");
        names = strv_free(names);
        cr_assert_eq(spool_list(dir, "samples-", ".batch", &names), 0);
        cr_assert_str_eq(names[1], "samples-h-1700000000300-1.batch");
        cr_assert_null(names[2]);
}

Test(spool, names_stay_inside, .init = setup, .fini = teardown) {
        cr_assert_eq(spool_open(dir), 0);
        cr_assert_eq(spool_put(dir, "../escape", "x", 1), -EINVAL);
        cr_assert_eq(spool_put(dir, "", "x", 1), -EINVAL);
        cr_assert_eq(spool_remove(dir, ".."), -EINVAL);
}

Test(spool, failed_write_leaves_nothing, .init = setup, .fini = teardown) {
        _cleanup_strv_free_ char **names = NULL;
        char path[128];

        cr_assert_eq(spool_open(dir), 0);
        /* A directory where the batch should go: the rename fails. */
        snprintf(path, sizeof(path), "%s/samples-x.batch", dir);
        cr_assert_eq(mkdir(path, 0700), 0);
        cr_assert_lt(spool_put(dir, "samples-x.batch", "data", 4), 0);
        cr_assert_eq(spool_list(dir, "", "", &names), 0);
        cr_assert_str_eq(names[0], "samples-x.batch");
        cr_assert_null(names[1], "no temporary file left behind: %s", names[1] ?: "");
}

Test(spool, missing_directory) {
        char **names = NULL;
        cr_assert_eq(spool_list("/nonexistent/spool", "", "", &names), -ENOENT);
        cr_assert_null(names);
}
