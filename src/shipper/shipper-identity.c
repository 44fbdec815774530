/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "cleanup.h"
#include "log.h"
#include "macro.h"
#include "shipper-identity.h"
#include "util.h"

uint64_t identity_hash(const void *p, size_t n) {
        const uint8_t *b = p;
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (size_t i = 0; i < n; i++) {
                h ^= b[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

int identity_fingerprint(int fd, uint32_t len, uint64_t *ret) {
        char buf[IDENTITY_FINGERPRINT_MAX];
        ssize_t n;

        if (len > sizeof(buf))
                return -EINVAL;
        n = pread(fd, buf, len, 0);
        if (n < 0)
                return -errno;
        if ((size_t) n != len)
                return -ENODATA;
        *ret = identity_hash(buf, len);
        return 0;
}

void identity_found_done(IdentityFound *found) {
        free(found->path);
        found->path = NULL;
        found->fd = safe_close(found->fd);
        found->match = IDENTITY_NONE;
}

char *identity_entry_dir(const CheckpointEntry *e) {
        _cleanup_free_ char *real = NULL, *copy = NULL;

        if (e->dir)
                return strdup(e->dir);
        if (!e->path)
                return NULL;
        /* Format 2 did not record it: where the path leads now (the symlink of a rotated kubelet log leads
         * to the next generation, in the same directory), else the path's own directory. */
        real = realpath(e->path, NULL);
        copy = strdup(real ? real : e->path);
        if (!copy)
                return NULL;
        return strdup(dirname(copy));
}

/* The content of a gzip file: whether it begins with e's first bytes, and its size. -ENODATA when it is not
 * e's, another negative errno when it cannot be read. */
static int gzip_identify(int dir_fd, const char *name, const CheckpointEntry *e, uint64_t *ret_size) {
        char buf[64 * 1024];
        uint64_t size = 0;
        gzFile gz;
        int fd, n, r = 0;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        gz = gzdopen(fd, "rb");
        if (!gz) {
                safe_close(fd);
                return -ENOMEM;
        }
        /* The first bytes first: most .gz files of a directory are not this file's. */
        while (size < e->fp_len && (n = gzread(gz, buf + size, (unsigned) (e->fp_len - size))) > 0)
                size += (uint64_t) n;
        if (gzdirect(gz) || size != e->fp_len || identity_hash(buf, e->fp_len) != e->fp_hash)
                r = -ENODATA;
        while (r == 0 && (n = gzread(gz, buf, sizeof(buf))) > 0)
                size += (uint64_t) n;
        if (r == 0 && n < 0)
                r = -EIO; /* a damaged or still growing file: what it holds is counted so far */
        gzclose(gz);
        if (r == -ENODATA)
                return r;
        *ret_size = size;
        return 0;
}

static char *path_join(const char *dir, const char *name) {
        char *p;
        return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && streq(s + a - b, suffix);
}

int identity_find(
        const CheckpointEntry *e,
        bool (*skip)(dev_t dev, ino_t ino, void *userdata),
        void *userdata,
        IdentityFound *found) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int copy_fd = -EBADF;
        _cleanup_free_ char *copy_name = NULL, *gz_name = NULL;
        struct stat copy_st = {};
        uint64_t gz_size = 0;
        struct dirent *de;
        DIR *d;

        *found = (IdentityFound){.fd = -EBADF};
        if (e->fp_len == 0 || e->fp_len > IDENTITY_FINGERPRINT_MAX)
                return 0; /* nothing identifies it */
        dir = identity_entry_dir(e);
        if (!dir)
                return -ENOMEM;
        d = opendir(dir);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                _cleanup_close_ int fd = -EBADF;
                struct stat st;
                uint64_t h;

                if (streq(de->d_name, ".") || streq(de->d_name, "..") ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
                    skip(st.st_dev, st.st_ino, userdata))
                        continue;
                bool same = (uint64_t) st.st_dev == e->dev && (uint64_t) st.st_ino == e->ino;
                if (!same && has_suffix(de->d_name, ".gz")) {
                        if (!gz_name && gzip_identify(dirfd(d), de->d_name, e, &gz_size) == 0) {
                                gz_name = strdup(de->d_name);
                                if (!gz_name)
                                        break;
                        }
                        continue;
                }
                if ((uint64_t) st.st_size < e->committed || (uint64_t) st.st_size < e->fp_len)
                        continue; /* too short to be it */
                if (!same && copy_name && (uint64_t) st.st_size <= (uint64_t) copy_st.st_size)
                        continue;
                fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd < 0 || identity_fingerprint(fd, e->fp_len, &h) < 0 || h != e->fp_hash)
                        continue;
                if (same) {
                        found->match = IDENTITY_RENAMED;
                        found->fd = TAKE_FD(fd);
                        found->st = st;
                        break;
                }
                free(copy_name);
                copy_name = strdup(de->d_name);
                safe_close(copy_fd);
                copy_fd = TAKE_FD(fd);
                copy_st = st;
        }
        if (found->match == IDENTITY_RENAMED)
                found->path = path_join(dir, de->d_name);
        else if (copy_name) {
                found->match = IDENTITY_COPY;
                found->path = path_join(dir, copy_name);
                found->fd = TAKE_FD(copy_fd);
                found->st = copy_st;
        } else if (gz_name) {
                found->match = IDENTITY_COMPRESSED;
                found->path = path_join(dir, gz_name);
                found->size = gz_size;
        }
        closedir(d);
        if (found->match != IDENTITY_NONE && !found->path) {
                identity_found_done(found);
                return -ENOMEM;
        }
        return 0;
}

static int write_part(int fd, const char *buf, uint64_t pos, uint64_t n, uint64_t lo, uint64_t hi) {
        uint64_t a = MAX(pos, lo), b = MIN(pos + n, hi);
        ssize_t k;

        for (; a < b; a += (uint64_t) k) {
                k = pwrite(fd, buf + (a - pos), (size_t) (b - a), (off_t) a);
                if (k < 0)
                        return -errno;
        }
        return 0;
}

int identity_inflate(const char *path, uint64_t keep_head, uint64_t from, const char *tmp_dir) {
        _cleanup_close_ int out = -EBADF;
        char buf[64 * 1024];
        uint64_t pos = 0;
        gzFile gz;
        int fd, n, r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        gz = gzdopen(fd, "rb");
        if (!gz) {
                safe_close(fd);
                return -ENOMEM;
        }
        out = tmp_dir ? open(tmp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600) : -EBADF;
        if (out < 0)
                out = memfd_create("shipper-compressed-log", MFD_CLOEXEC);
        if (out < 0)
                r = -errno;
        while (r == 0 && (n = gzread(gz, buf, sizeof(buf))) > 0) {
                r = write_part(out, buf, pos, (uint64_t) n, 0, keep_head);
                if (r == 0)
                        r = write_part(out, buf, pos, (uint64_t) n, from, UINT64_MAX);
                pos += (uint64_t) n;
        }
        if (r == 0 && n < 0)
                r = -EBADMSG;
        if (r == 0 && ftruncate(out, (off_t) pos) < 0)
                r = -errno;
        gzclose(gz);
        if (r < 0)
                return r;
        return TAKE_FD(out);
}

static bool newer(const struct timespec *a, const struct timespec *b) {
        return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

int identity_find_unrecorded(
        const char *path,
        const struct timespec *since,
        bool (*skip)(dev_t dev, ino_t ino, void *userdata),
        void (*found)(const char *path, int fd, const struct stat *st, void *userdata),
        void *userdata) {
        _cleanup_free_ char *real = realpath(path, NULL), *dir = NULL;
        struct dirent *de;
        const char *base;
        size_t n;
        DIR *d;

        if (!real)
                return -errno;
        base = strrchr(real, '/') + 1; /* realpath() is absolute */
        n = strlen(base);
        dir = strndup(real, MAX((size_t) (base - real) - 1, (size_t) 1));
        if (!dir)
                return -ENOMEM;
        d = opendir(dir);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;
                struct stat st;
                int fd;

                if (strncmp(de->d_name, base, n) != 0 || (de->d_name[n] != '.' && de->d_name[n] != '-') ||
                    has_suffix(de->d_name, ".gz") ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
                    !newer(&st.st_mtim, since) || skip(st.st_dev, st.st_ino, userdata))
                        continue;
                p = path_join(dir, de->d_name);
                if (!p)
                        break;
                fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd < 0 || fstat(fd, &st) < 0) {
                        safe_close(fd);
                        continue;
                }
                found(p, fd, &st, userdata);
        }
        closedir(d);
        return 0;
}
