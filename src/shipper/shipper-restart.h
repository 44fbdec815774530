/* SPDX-License-Identifier: MIT */
#pragma once

/* The search after a restart for the files the shipper was reading when it stopped: the files of the
 * checkpoint that the globs no longer lead to (rotated while the shipper was down: renamed, the copy of a
 * copytruncate, or compressed) and the generations created and rotated away meanwhile, which no checkpoint
 * recorded. It finds them (shipper-identity.c) and says what was lost; the manager tracks what it hands
 * back, through the callbacks of a RestartSearch. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "shipper-checkpoint.h"
#include "shipper-metrics.h"

typedef struct RestartSearch {
        CheckpointEntry *restored; /* the checkpoint's lines; those already used are not looked for */
        size_t n_restored;
        struct timespec restored_mtime; /* of the checkpoint file read at start; 0 when there was none */
        const char *checkpoint_file;    /* a compressed file is read through an unnamed copy next to it */
        ShipperStats *stats;            /* rotated_lost_files, rotated_lost_bytes */
        /* Whether the file dev:ino is tracked already (it is no candidate). */
        bool (*is_tracked)(dev_t dev, ino_t ino, void *userdata);
        /* Tracks a file found at path, open as fd (taken over on success only): e's file found again, or
         * with e NULL a generation of the file named name never recorded, read from its start. 0 or a
         * negative errno. */
        int (*adopt)(
                CheckpointEntry *e,
                const char *name,
                const char *path,
                int fd,
                const struct stat *st,
                void *userdata);
        void *userdata;
} RestartSearch;

/* The files of the checkpoint not tracked yet are looked for in their directory under any name and read to
 * their end from where they were left. One that was deleted (or cannot be read) before it was read to its
 * end is lost: that is logged and counted, never silent. */
void restart_find_rotated(const RestartSearch *s);

/* The generations of the files named names[0..n) (those the globs found) that were written after the
 * checkpoint file and are in no checkpoint line. Nothing on a first start (no checkpoint file). */
void restart_find_unrecorded(const RestartSearch *s, const char *const *names, size_t n);
