/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "duration.h"
#include "macro.h"
#include "util.h"

uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / (uint64_t) NSEC_PER_USEC;
}

uint64_t now_nsec(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * (uint64_t) NSEC_PER_SEC + (uint64_t) ts.tv_nsec;
}

uint64_t random_u64(void) {
        uint64_t v = 0;

        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t) sizeof(v))
                v = now_nsec(CLOCK_MONOTONIC) * UINT64_C(0x9e3779b97f4a7c15);
        return v;
}

int loop_write(int fd, const void *buf, size_t size) {
        const char *p = buf;

        while (size > 0) {
                ssize_t k = write(fd, p, size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                size -= (size_t) k;
        }
        return 0;
}

static int write_and_sync(int fd, const void *data, size_t size, unsigned flags) {
        int r = loop_write(fd, data, size);
        if (r >= 0 && (flags & WRITE_FILE_SYNC) && fsync(fd) < 0)
                r = -errno;
        return r;
}

/* The data goes into an unnamed file of the target's directory (O_TMPFILE): a crash or a failed write
 * leaves nothing behind. Only for the rename it gets a name, for microseconds. -EOPNOTSUPP when the file
 * system or /proc does not allow it. */
static int write_via_tmpfile(
        const char *path, const char *dir, const void *data, size_t size, mode_t mode, unsigned flags) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *tmp = NULL;
        char proc[64];
        int r;

        fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
        if (fd < 0)
                return errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL ? -EOPNOTSUPP : -errno;
        r = write_and_sync(fd, data, size, flags);
        if (r < 0)
                return r;
        if (asprintf(&tmp, "%s.tmp.%d.%016" PRIx64, path, (int) getpid(), random_u64()) < 0)
                return -ENOMEM;
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0)
                return errno == ENOENT && access("/proc/self/fd", F_OK) < 0 ? -EOPNOTSUPP : -errno;
        if (rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

/* Without O_TMPFILE: a named temporary file, removed again when any step fails. */
static int write_via_named(const char *path, const void *data, size_t size, mode_t mode, unsigned flags) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (asprintf(&tmp, "%s.tmp.%d.%016" PRIx64, path, (int) getpid(), random_u64()) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        r = write_and_sync(fd, data, size, flags);
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

int write_file_atomic_full(const char *path, const void *data, size_t size, mode_t mode, unsigned flags) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int dfd = -EBADF;
        const char *slash;
        int r;

        slash = strrchr(path, '/');
        dir = slash ? strndup(path, slash == path ? 1 : (size_t) (slash - path)) : strdup(".");
        if (!dir)
                return -ENOMEM;
        r = write_via_tmpfile(path, dir, data, size, mode, flags);
        if (r == -EOPNOTSUPP)
                r = write_via_named(path, data, size, mode, flags);
        if (r < 0 || !(flags & WRITE_FILE_SYNC))
                return r;

        /* The rename is durable only once the directory entry is. */
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode) {
        return write_file_atomic_full(path, data, size, mode, WRITE_FILE_SYNC);
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t k;

                if (size + 1 >= alloc) {
                        size_t a = MIN(MAX(alloc * 2, (size_t) 4096), max + 2);
                        char *p;
                        if (a <= size + 1)
                                return -EFBIG;
                        p = realloc(buf, a);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        alloc = a;
                }
                k = read(fd, buf + size, alloc - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > max)
                        return -EFBIG;
        }
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        if (mkdir(p, mode) < 0 && errno != EEXIST)
                                return -errno;
                        *s = '/';
                }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}
