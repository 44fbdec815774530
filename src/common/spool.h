/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* A spool: a directory of files, one per unacknowledged batch, kept across restarts until the batch is
 * acknowledged. Each file is written atomically (write_file_atomic(): a reader after a crash sees it whole
 * or not at all, and no temporary file stays behind), so a name found in the spool always holds a complete
 * batch. Names are the caller's: when they sort in send order (a zero-padded time, say), spool_list()
 * gives them back in that order. */

/* Creates the directory (mode 0700) unless it exists. */
int spool_open(const char *dir);
/* Writes dir/name atomically (mode 0600). */
int spool_put(const char *dir, const char *name, const void *data, size_t size);
/* Reads dir/name (at most max bytes) into a malloc()ed, NUL-terminated buffer. */
int spool_get(const char *dir, const char *name, size_t max, char **ret, size_t *ret_size);
/* Removes dir/name; a missing file is fine. */
int spool_remove(const char *dir, const char *name);
/* The names in dir that start with prefix and end with suffix, sorted (strcmp), as a NULL-terminated
 * array (strv_free()). Other files (temporary ones of an interrupted write end in ".tmp.<pid>") and names
 * starting with '.' are not listed. */
int spool_list(const char *dir, const char *prefix, const char *suffix, char ***ret);
