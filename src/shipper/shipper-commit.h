/* SPDX-License-Identifier: MIT */
#pragma once

/* The checkpoint cycle: the checkpoint file is written when something changed, one write at a time (on the
 * writer thread of shipper-checkpoint.c), again every second while it fails; only after a write succeeded
 * may the batches it records be sent. The committer knows no files: the manager formats their lines and
 * hears of each write through the callbacks of a CommitterConfig. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "shipper-metrics.h"

typedef struct Committer Committer;

typedef struct CommitterConfig {
        sd_event *event;
        const char *checkpoint_file;
        bool sync;
        ShipperStats *stats; /* checkpoint_writes, checkpoint_write_failures */
        /* Appends the lines of write seq to *text (checkpoint_format_entry()). 0 or a negative errno. */
        int (*format)(uint64_t seq, char **text, size_t *len, size_t *alloc, void *userdata);
        /* Write seq finished with result (0 or a negative errno). */
        void (*written)(uint64_t seq, int result, void *userdata);
        /* A write succeeded: the batches whose range it records may be sent. */
        void (*stored)(void *userdata);
        /* After each commit pass and successful write: committer_idle() may have changed. */
        void (*progress)(void *userdata);
        void *userdata;
} CommitterConfig;

int committer_new(const CommitterConfig *c, Committer **ret);
/* Joins the writer thread: a write in progress completes. */
Committer *committer_free(Committer *c);

/* Something changed: the checkpoint file is written soon. */
void committer_schedule(Committer *c);
/* No write in progress and none due. */
bool committer_idle(const Committer *c);
/* Of the last write: its negative errno, 0 when it succeeded. */
int committer_error(const Committer *c);
