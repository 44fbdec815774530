/* SPDX-License-Identifier: MIT */
#pragma once

/* Reads a log file from an offset in large chunks, splits physical lines and
 * hands complete messages to a callback together with the file offset just
 * after the message's last line. Offsets are only reported where no message
 * is in parts, so any reported offset is a safe place to resume from. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "shipper-parse.h"

/* Called for each complete message (m != NULL) and for each consumed line that
 * completed nothing while no part is pending (m == NULL), with end = offset
 * after that line. Return 0 to go on, 1 to stop after this line (pause), <0
 * to fail. */
typedef int (*ReaderCallback)(void *userdata, const LogMessage *m, uint64_t end);

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
