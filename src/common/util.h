/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Microseconds on the given clock (CLOCK_REALTIME, CLOCK_MONOTONIC, ...). */
uint64_t now_usec(clockid_t clock);
/* Nanoseconds on the given clock. */
uint64_t now_nsec(clockid_t clock);

/* 64 random bits from getrandom() (never blocks: before the kernel's pool is ready, a mix of the clock). For
 * jitter and spreading, not for secrets. */
uint64_t random_u64(void);

/* Writes data to path so that readers see either the old or the new content, even across a crash: an
 * unnamed temporary file in the same directory (O_TMPFILE; a named one where that is not possible), fsync,
 * rename over the target, fsync of the directory. When a step fails, no temporary file is left behind and
 * the old content stays. */
enum {
        WRITE_FILE_SYNC =
                1 << 0, /* fsync the file and the directory: the new content survives a power cut */
};
int write_file_atomic_full(const char *path, const void *data, size_t size, mode_t mode, unsigned flags);
/* write_file_atomic_full() with WRITE_FILE_SYNC. */
int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode);

/* Reads a whole file of at most max bytes into a NUL-terminated buffer. -EFBIG when larger. */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size);

/* write() until done, retrying on EINTR. */
int loop_write(int fd, const void *buf, size_t size);

/* mkdir -p: creates path and its missing parents with mode; existing directories are fine. */
int mkdir_p(const char *path, mode_t mode);
