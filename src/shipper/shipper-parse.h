/* SPDX-License-Identifier: MIT */
#pragma once

/* Container log line formats: CRI (`<RFC3339Nano> <stream> <P|F> <text>`) and
 * docker json-file (`{"log":"…\n","stream":…,"time":…}`), detected per line,
 * with partial lines joined back into one message. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

typedef enum LogStream {
        LOG_STREAM_STDOUT,
        LOG_STREAM_STDERR,
        LOG_STREAM_UNKNOWN,
        _LOG_STREAM_MAX,
} LogStream;

typedef enum LogFormat {
        LOG_FORMAT_CRI,
        LOG_FORMAT_DOCKER,
        LOG_FORMAT_RAW, /* neither: the physical line is the message */
        _LOG_FORMAT_MAX,
} LogFormat;

const char *log_stream_to_string(LogStream s);

typedef struct LogMessage {
        const char *text;
        size_t len;
        int64_t time_ns; /* runtime's timestamp; 0 when the line had none */
        LogStream stream;
        LogFormat format;
        bool truncated; /* longer than max_line; text holds the first max_line bytes */
} LogMessage;

typedef struct LineStats {
        uint64_t lines;     /* physical lines fed */
        uint64_t partials;  /* physical lines that were a part (P / no newline) */
        uint64_t truncated; /* messages cut at max_line, or cut to hand out held ones (below) */
        uint64_t cut;       /* messages in parts cut because the messages held reached their bound */
        uint64_t empty;     /* messages with no text, skipped */
        uint64_t format[_LOG_FORMAT_MAX];
} LineStats;

/* A message of one stream whose parts are being joined. */
typedef struct PartialMessage {
        StrBuf text;
        bool pending; /* text holds the start of a message */
        bool truncated;
        LogFormat format;
        int64_t time_ns; /* its first part's */
} PartialMessage;

/* Joins parts per stream: a part of stdout and one of stderr may come between each other's parts (each
 * stream's runtime writer splits its own long lines). A line is a "boundary" when, after it, no stream has
 * a message in parts; only there are messages handed out, all those completed since the last boundary
 * together, in the order they completed. A message completed while another stream's is in parts is held
 * (copied) until then. So whatever the reader reports at a boundary only depends on the bytes since the
 * previous boundary: reading again from any boundary gives the same messages at the same boundaries.
 *
 * The messages held are bounded: when holding one more would pass max_line bytes (each message counted
 * with LINE_ASSEMBLER_HELD_OVERHEAD bytes more), the messages still in parts are cut there, marked
 * truncated, and everything is handed out: that line is a boundary. A stream's later parts then start a
 * new message. */
#define LINE_ASSEMBLER_HELD_OVERHEAD 64

typedef struct LineAssembler {
        size_t max_line;
        PartialMessage partial[_LOG_STREAM_MAX]; /* per stream */
        StrBuf scratch;                          /* unescaped docker "log" value */
        StrBuf overlong;  /* first bytes of a physical line longer than the read buffer */
        StrBuf held_text; /* texts of the messages held, one after the other */
        LogMessage *held; /* messages completed since the last boundary; handed out there */
        size_t n_held, held_alloc;
        size_t held_bytes; /* text + overhead of the copied messages held */
        size_t n_copied;   /* held[0, n_copied) have their text in held_text */
        bool handed_out;   /* held was handed out: forget it at the next line */
        bool pending;      /* some stream has a message in parts: not a boundary */
        bool in_overlong;
        /* "YYYY-MM-DDTHH:MM:SS" of the last parsed timestamp and its epoch
         * seconds: consecutive lines almost always share it. */
        char tcache[19];
        int64_t tcache_sec;
        LineStats stats;
} LineAssembler;

int line_assembler_init(LineAssembler *a, size_t max_line);
void line_assembler_done(LineAssembler *a);
/* Forgets messages in parts and held (file truncated or reopened). */
void line_assembler_reset(LineAssembler *a);

/* Feeds one physical line without its '\n'. Returns 1 when the line is a boundary: *ret_msgs holds the
 * *ret_n (possibly 0) messages completed since the previous boundary, valid until the next call; 0 when
 * some stream still has a message in parts (what the line completed is held); or a negative errno. */
int line_assembler_feed(
        LineAssembler *a, const char *line, size_t len, const LogMessage **ret_msgs, size_t *ret_n);

/* Makes the end of the last line fed a boundary: the messages in parts are cut there (marked truncated) and
 * handed out after those held. Returns 1 with them in *ret_msgs, *ret_n, or 0 when nothing was in parts
 * (then it is a boundary already). For the reader, at an offset that must be a boundary. */
int line_assembler_cut(LineAssembler *a, const LogMessage **ret_msgs, size_t *ret_n);

/* For physical lines longer than the reader's buffer: feed the pieces with
 * _overlong_piece(), then the last piece with line_assembler_overlong_end(), which
 * returns like line_assembler_feed(). The line is one truncated raw message. */
int line_assembler_overlong_piece(LineAssembler *a, const char *p, size_t len);
int line_assembler_overlong_end(
        LineAssembler *a, const char *p, size_t len, const LogMessage **ret_msgs, size_t *ret_n);

/* RFC 3339 timestamp (`2024-02-18T12:00:00.123456789Z`, offsets `+hh:mm`
 * allowed, fraction optional, up to 9 digits used) → ns since the epoch.
 * cache may be NULL. Returns 0 or -EINVAL. */
int parse_rfc3339_ns(const char *p, size_t len, LineAssembler *cache, int64_t *ret);

/* Epoch seconds as a decimal number text (`1708272000.123456`) → ns, exact
 * to the digit. Returns 0 or -EINVAL/-ERANGE. */
int parse_epoch_decimal_ns(const char *p, size_t len, int64_t *ret);
