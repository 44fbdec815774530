/* SPDX-License-Identifier: MIT */
#pragma once

/* The checkpoint file: one line per tracked file with its identity (device, inode, fingerprint of its first
 * bytes), the offset ClickHouse acknowledged, the byte ranges of the batches not yet acknowledged (so that
 * after a restart they are rebuilt with the same boundaries and the same deduplication tokens), the size
 * last seen and the directory the file really lives in (where a file renamed or copied while the shipper
 * was down is looked for). Written atomically (temp file, fsync, rename).
 *
 * Format 3, one line per file, fields separated by one space:
 *   dev ino fp_hash(hex) fp_len committed size n_pending pending… token_id dir_len dir path
 * dir is dir_len bytes (it may hold spaces), path is the rest of the line. Format 2 (the same without
 * size, dir_len and dir) is still read: size 0 (unknown), dir NULL (taken from the path); the next write
 * is in format 3. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Batches of one file recorded before they are sent (one in flight, the
 * following ones waiting). */
#define CHECKPOINT_MAX_PENDING 4

typedef struct CheckpointEntry {
        uint64_t dev;
        uint64_t ino;
        uint64_t fp_hash;
        uint32_t fp_len;
        uint64_t committed;
        /* Batches not yet acknowledged: [committed, pending[0]), [pending[0], pending[1]), … */
        uint64_t pending[CHECKPOINT_MAX_PENDING];
        unsigned n_pending;
        uint64_t size; /* of the file when the line was written; 0: unknown */
        char token_id[80];
        char *dir;  /* the real directory of the file; NULL: unknown (format 2) */
        char *path; /* the name it was found under (its Kubernetes metadata comes from it) */
        bool used;
} CheckpointEntry;

#define CHECKPOINT_HEADER "shipper-checkpoint 3\n"
#define CHECKPOINT_HEADER_V2 "shipper-checkpoint 2\n"

void checkpoint_entries_free(CheckpointEntry *e, size_t n);
/* Parses the file's text (format 3 or 2). Malformed lines are an error (-EBADMSG) naming the line. */
int checkpoint_parse(
        const char *text, size_t size, CheckpointEntry **ret, size_t *ret_n, size_t *ret_bad_line);
/* Appends one entry's line to a malloc()ed text. */
int checkpoint_format_entry(const CheckpointEntry *e, char **text, size_t *len, size_t *alloc);
int checkpoint_load(const char *path, CheckpointEntry **ret, size_t *ret_n);

/* Writes checkpoint files on a thread of its own, so that fsync() never
 * stalls the event loop. One write at a time; its completion is signalled on
 * an eventfd. */
typedef struct CheckpointWriter CheckpointWriter;

int checkpoint_writer_new(const char *path, bool sync, CheckpointWriter **ret);
CheckpointWriter *checkpoint_writer_free(CheckpointWriter *w);
int checkpoint_writer_fd(const CheckpointWriter *w);
/* Takes over text (malloc()ed). -EBUSY while the previous write runs. */
int checkpoint_writer_submit(CheckpointWriter *w, char *text, size_t len, uint64_t seq);
/* After the eventfd became readable: the sequence number and result (0 or a
 * negative errno) of the write that finished. -EAGAIN if none finished. */
int checkpoint_writer_collect(CheckpointWriter *w, uint64_t *ret_seq, int *ret_result);
