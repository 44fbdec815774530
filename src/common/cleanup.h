/* SPDX-License-Identifier: MIT */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Scope-bound cleanup in the style of systemd's alloc-util.h/fd-util.h: a variable declared with one of
 * these attributes is released when it goes out of scope, and TAKE_PTR()/TAKE_FD() hand ownership on. */

#define _cleanup_(f) __attribute__((__cleanup__(f)))

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                             \
        static inline void func##p(type *p) {                                                               \
                if (*p)                                                                                     \
                        func(*p);                                                                           \
        }

/* free() that returns NULL, for p = mfree(p). */
static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Closes an fd, keeping errno intact, and returns -EBADF so callers can write fd = safe_close(fd). */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}

static inline void closep(int *fd) {
        (void) safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline FILE *safe_fclose(FILE *f) {
        if (f)
                (void) fclose(f);
        return NULL;
}
static inline void fclosep(FILE **f) {
        (void) safe_fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

/* Free each element of a NULL-terminated array of strings, then the array. */
static inline char **strv_free(char **l) {
        if (l) {
                for (char **i = l; *i; i++)
                        free(*i);
                free(l);
        }
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)

#define TAKE_PTR(p)                                                                                         \
        ({                                                                                                  \
                typeof(p) _tp = (p);                                                                        \
                (p) = NULL;                                                                                 \
                _tp;                                                                                        \
        })

#define TAKE_FD(fd)                                                                                         \
        ({                                                                                                  \
                int _tfd = (fd);                                                                            \
                (fd) = -EBADF;                                                                              \
                _tfd;                                                                                       \
        })

/* Allocation of n objects of type t, with the multiplication checked for overflow. */
#define new0(t, n) ((t *) calloc_multiply((n), sizeof(t)))

static inline void *calloc_multiply(size_t n, size_t size) {
        if (size != 0 && n > (size_t) -1 / size)
                return NULL;
        return calloc(n ?: 1, size);
}
