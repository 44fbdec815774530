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

/* Processes buffered lines, reading more until EOF, until `budget` bytes were
 * read, or until the callback asks to stop. Returns 1 if it stopped at EOF,
 * 0 if it stopped for budget or callback, negative errno on failure. */
int reader_run(Reader *r, size_t budget, ReaderCallback cb, void *userdata);
