/* SPDX-License-Identifier: MIT */
#pragma once

/* A log file's identity: device, inode and a fingerprint (FNV-1a) of its first bytes, since inodes are
 * reused once a file is deleted. And the search for a file of the checkpoint whose name no longer leads to
 * it after a restart: rotated while the shipper was down, it lives on in the same directory under another
 * name (renamed: the kubelet's 0.log.<timestamp>, logrotate's .1; copied: a copytruncate's copy), or
 * compressed (.gz), when it can no longer be read. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "shipper-checkpoint.h"

/* How much of a file's beginning identifies it, besides device and inode. */
#define IDENTITY_FINGERPRINT_MAX 1024

uint64_t identity_hash(const void *p, size_t n);
/* The fingerprint of the first len bytes of fd; -ENODATA when it has fewer. */
int identity_fingerprint(int fd, uint32_t len, uint64_t *ret);

typedef enum IdentityMatch {
        IDENTITY_NONE,       /* not found (deleted, or moved out of its directory) */
        IDENTITY_RENAMED,    /* the same inode and first bytes under another name */
        IDENTITY_COPY,       /* another inode with the same first bytes, holding the offset (copytruncate) */
        IDENTITY_COMPRESSED, /* a gzip file whose content begins with the same bytes (read through a copy) */
} IdentityMatch;

typedef struct IdentityFound {
        IdentityMatch match;
        char *path; /* where it was found (malloc()ed), for all but IDENTITY_NONE */
        int fd;     /* RENAMED and COPY: open for reading; else -EBADF */
        struct stat st;
        uint64_t size; /* COMPRESSED: the size of its content */
} IdentityFound;

void identity_found_done(IdentityFound *found);

/* The directory e's file really lives in: e->dir, or for a line of format 2 the directory its path leads
 * to (malloc()ed; NULL without memory). */
char *identity_entry_dir(const CheckpointEntry *e);

/* Looks for e's file among the files of its directory. skip(dev, ino) tells files already tracked, which
 * are not candidates. A renamed file wins over a copy; of several copies the largest; only a file that
 * still holds e's committed offset is a candidate. Returns 0 (found->match tells what was found) or a
 * negative errno (the directory cannot be read: -ENOENT when it is gone). */
int identity_find(
        const CheckpointEntry *e,
        bool (*skip)(dev_t dev, ino_t ino, void *userdata),
        void *userdata,
        IdentityFound *found);

/* The content of the gzip file at path, for reading it from offset from on: an unnamed file (O_TMPFILE in
 * tmp_dir, else memfd) of the content's size holding the first keep_head bytes and the bytes from offset
 * from, at their own offsets (the bytes between are a hole: they take no room). Returns the descriptor or a
 * negative errno (-EBADMSG: damaged). */
int identity_inflate(const char *path, uint64_t keep_head, uint64_t from, const char *tmp_dir);

/* The siblings of the file at path (in the directory it really lives in) named <its name>.* or <its name>-*,
 * not compressed, not skipped, and modified after since: generations that were created and rotated away
 * while the shipper was down, which no checkpoint ever recorded. found() gets each one's path, an open
 * descriptor (it takes it over) and its stat. Returns 0 or a negative errno. */
int identity_find_unrecorded(
        const char *path,
        const struct timespec *since,
        bool (*skip)(dev_t dev, ino_t ino, void *userdata),
        void (*found)(const char *path, int fd, const struct stat *st, void *userdata),
        void *userdata);
