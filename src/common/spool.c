/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "macro.h"
#include "spool.h"
#include "util.h"

static int spool_path(const char *dir, const char *name, char **ret) {
        /* Names come from the caller's own tokens, but a '/' would leave the directory. */
        if (isempty(name) || strchr(name, '/') || streq(name, ".") || streq(name, ".."))
                return -EINVAL;
        return asprintf(ret, "%s/%s", dir, name) < 0 ? -ENOMEM : 0;
}

int spool_open(const char *dir) {
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int spool_put(const char *dir, const char *name, const void *data, size_t size) {
        _cleanup_free_ char *path = NULL;
        int r = spool_path(dir, name, &path);
        return r < 0 ? r : write_file_atomic(path, data, size, 0600);
}

int spool_get(const char *dir, const char *name, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *path = NULL;
        int r = spool_path(dir, name, &path);
        return r < 0 ? r : read_full_file(path, max, ret, ret_size);
}

int spool_remove(const char *dir, const char *name) {
        _cleanup_free_ char *path = NULL;
        int r = spool_path(dir, name, &path);
        if (r < 0)
                return r;
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int spool_list(const char *dir, const char *prefix, const char *suffix, char ***ret) {
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_strv_free_ char **names = NULL;
        size_t n = 0, sl = strlen(suffix);
        struct dirent *de;

        d = opendir(dir);
        if (!d)
                return -errno;
        names = new0(char *, 1);
        if (!names)
                return -ENOMEM;
        while ((errno = 0, de = readdir(d))) {
                size_t l = strlen(de->d_name);
                char **a;

                if (de->d_name[0] == '.' || !startswith(de->d_name, prefix) || l < strlen(prefix) + sl ||
                    !streq(de->d_name + l - sl, suffix))
                        continue;
                a = reallocarray(names, n + 2, sizeof(char *));
                if (!a)
                        return -ENOMEM;
                names = a;
                names[n] = strdup(de->d_name);
                if (!names[n])
                        return -ENOMEM;
                names[++n] = NULL;
        }
        if (errno != 0)
                return -errno;
        qsort(names, n, sizeof(char *), name_cmp);
        *ret = TAKE_PTR(names);
        return 0;
}
