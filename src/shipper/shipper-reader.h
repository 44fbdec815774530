/* SPDX-License-Identifier: MIT */
#pragma once

/* Reads a log file from an offset in large chunks, splits physical lines and
 * hands complete messages to a callback together with a file offset. Offsets
 * are only reported at boundaries, where no stream has a message in parts
 * (shipper-parse.h), with the messages completed since the previous one: any
 * reported offset is a safe place to resume from, and reading again from it
 * gives the same messages at the same offsets. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "shipper-parse.h"

/* Called at each boundary, with end = the offset after its line and the n
 * messages completed since the previous boundary (n == 0: the lines since
 * completed nothing), in the order they completed. Return 0 to go on, 1 to
 * stop after this line (pause), <0 to fail. */
typedef int (*ReaderCallback)(void *userdata, const LogMessage *msgs, size_t n, uint64_t end);

typedef struct Reader {
        int fd; /* not owned */
        char *buf;
        size_t cap;
        size_t start, end; /* unprocessed bytes are buf[start, end) */
        uint64_t buf_off;  /* file offset of buf[0] */
        uint64_t cut_at;   /* a line ending here is made a boundary (0: none) */
        LineAssembler asm_;
} Reader;

int reader_init(Reader *r, size_t max_line);
void reader_done(Reader *r);
/* Positions at `offset` of fd (forgets buffered data and parts). */
void reader_reset(Reader *r, int fd, uint64_t offset);
/* Offset of the next byte not yet read from the file. */
static inline uint64_t reader_file_pos(const Reader *r) {
        return r->buf_off + r->end;
}

/* The line ending at `offset` will be a boundary even with messages in parts: they are cut there (marked
 * truncated). For an offset that was a boundary when the file was read before, maybe by a cut (a batch's
 * end recorded before a restart): a reread from an earlier boundary then reaches it in the same state,
 * and cutting there again gives the same messages. 0 for none. */
static inline void reader_cut_at(Reader *r, uint64_t offset) {
        r->cut_at = offset;
}
/* Cuts the messages in parts after the last complete line read (e.g. at the end of a file that no longer
 * grows): the callback gets them with that offset. Returns what the callback returned, 0 when nothing was
 * in parts. */
int reader_cut(Reader *r, ReaderCallback cb, void *userdata);

/* Processes buffered lines, reading more until EOF, until `budget` bytes were
 * read, or until the callback asks to stop. Returns 1 if it stopped at EOF,
 * 0 if it stopped for budget or callback, negative errno on failure. */
int reader_run(Reader *r, size_t budget, ReaderCallback cb, void *userdata);
