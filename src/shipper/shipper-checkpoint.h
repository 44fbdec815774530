/* SPDX-License-Identifier: MIT */
#pragma once

/* The checkpoint file: one line per tracked file with its identity, the
 * offset ClickHouse acknowledged, and the byte range of the batch in flight
 * (so that after a restart that batch is rebuilt with the same boundaries and
 * the same deduplication token). Written atomically (temp file, fsync,
 * rename) and only after acknowledgements. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct CheckpointEntry {
        uint64_t dev;
        uint64_t ino;
        uint64_t fp_hash;
        uint32_t fp_len;
        uint64_t committed;
        uint64_t pending_start, pending_end; /* equal when nothing is in flight */
        char token_id[80];
        char *path; /* informative */
        bool used;
} CheckpointEntry;

#define CHECKPOINT_HEADER "shipper-checkpoint 1\n"

void checkpoint_entries_free(CheckpointEntry *e, size_t n);
/* Parses the file's text. Malformed lines are an error (-EBADMSG) naming the line. */
int checkpoint_parse(
        const char *text, size_t size, CheckpointEntry **ret, size_t *ret_n, size_t *ret_bad_line);
/* Appends one entry's line to a malloc()ed text. */
int checkpoint_format_entry(const CheckpointEntry *e, char **text, size_t *len, size_t *alloc);
int checkpoint_load(const char *path, CheckpointEntry **ret, size_t *ret_n);
