/* SPDX-License-Identifier: MIT */
/* The restart search: the checkpoint's files rotated while the shipper was down, and those never recorded.
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "macro.h"
#include "shipper-identity.h"
#include "shipper-restart.h"

static void lost_rotated(
        const RestartSearch *s,
        const CheckpointEntry *e,
        const char *what,
        const char *where,
        uint64_t end) {
        s->stats->rotated_lost_files++;
        s->stats->rotated_lost_bytes += end - e->committed;
        log_error(
                "%s: %s%s before it was read to its end: bytes %" PRIu64 "-%" PRIu64 " (%" PRIu64
                " bytes) of it are lost",
                e->path,
                what,
                where,
                e->committed,
                end,
                end - e->committed);
}

/* Tracks e's file, found again at path (open as fd). */
static int track_found(const RestartSearch *s, CheckpointEntry *e, const char *path, int fd) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        return s->adopt(e, e->path, path, fd, &st, s->userdata);
}

/* A compressed file is read through an unnamed copy of what it holds from e's offset on, next to the
 * checkpoint file (on disk, not in memory). */
static int track_compressed(const RestartSearch *s, CheckpointEntry *e, const char *path) {
        _cleanup_free_ char *copy = strdup(s->checkpoint_file);
        int fd, r;

        if (!copy)
                return -ENOMEM;
        fd = identity_inflate(path, e->fp_len, e->committed, dirname(copy));
        if (fd < 0)
                return fd;
        r = track_found(s, e, path, fd);
        if (r < 0)
                safe_close(fd);
        return r;
}

void restart_find_rotated(const RestartSearch *s) {
        for (size_t i = 0; i < s->n_restored; i++) {
                CheckpointEntry *e = &s->restored[i];
                IdentityFound found;
                int r;

                if (e->used || !e->path)
                        continue;
                r = identity_find(e, s->is_tracked, s->userdata, &found);
                if (r < 0 && r != -ENOENT) {
                        log_warning_errno(r, "%s: cannot look for it in its directory: %m", e->path);
                        continue;
                }
                switch (r < 0 ? IDENTITY_NONE : found.match) {
                case IDENTITY_RENAMED:
                case IDENTITY_COPY:
                        r = track_found(s, e, found.path, found.fd);
                        if (r >= 0)
                                found.fd = -EBADF;
                        else {
                                log_error_errno(r, "%s: cannot read %s: %m", e->path, found.path);
                                lost_rotated(
                                        s,
                                        e,
                                        "unreadable as ",
                                        found.path,
                                        MAX(e->size, (uint64_t) found.st.st_size));
                        }
                        break;
                case IDENTITY_COMPRESSED:
                        if (found.size <= e->committed) {
                                log_info(
                                        "%s: compressed to %s, read to its end before", e->path, found.path);
                                break;
                        }
                        r = track_compressed(s, e, found.path);
                        if (r < 0) {
                                log_error_errno(r, "%s: cannot decompress %s: %m", e->path, found.path);
                                lost_rotated(s, e, "unreadable as ", found.path, found.size);
                        }
                        break;
                case IDENTITY_NONE:
                        if (e->size > e->committed)
                                lost_rotated(s, e, "deleted", "", e->size);
                        else
                                log_info("%s: gone (no unread bytes known)", e->path);
                        break;
                }
                identity_found_done(&found);
        }
}

/* identity_find_unrecorded()'s userdata: the search, and the name of the file whose siblings are looked at.
 */
typedef struct Sibling {
        const RestartSearch *search;
        const char *name;
} Sibling;

static bool is_tracked_sibling(dev_t dev, ino_t ino, void *userdata) {
        const Sibling *sib = userdata;
        return sib->search->is_tracked(dev, ino, sib->search->userdata);
}

static void on_unrecorded(const char *path, int fd, const struct stat *st, void *userdata) {
        const Sibling *sib = userdata;
        const RestartSearch *s = sib->search;
        int r;

        r = s->adopt(NULL, sib->name, path, fd, st, s->userdata);
        if (r < 0) {
                safe_close(fd);
                log_error_errno(r, "%s: cannot track %s: %m", sib->name, path);
                return;
        }
        log_info(
                "%s: %s was written while the shipper was down and never recorded: reading it from the start",
                sib->name,
                path);
}

/* A generation that was created and rotated away while the shipper was down is in no checkpoint. It is told
 * by its name (the current file's, with a suffix), by being in no checkpoint line, and by having been
 * written after the checkpoint file (a file let go since was read to its end before that write, and left the
 * checkpoint with it). */
void restart_find_unrecorded(const RestartSearch *s, const char *const *names, size_t n) {
        if (s->restored_mtime.tv_sec == 0 && s->restored_mtime.tv_nsec == 0)
                return; /* a first start: rotated files from before are not ours */
        for (size_t i = 0; i < n; i++) {
                Sibling sib = {.search = s, .name = names[i]};
                int r = identity_find_unrecorded(
                        names[i], &s->restored_mtime, is_tracked_sibling, on_unrecorded, &sib);
                if (r < 0)
                        log_debug_errno(r, "%s: cannot look for its rotated files: %m", names[i]);
        }
}
