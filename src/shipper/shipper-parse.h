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
        uint64_t truncated; /* messages cut at max_line */
        uint64_t empty;     /* messages with no text, skipped */
        uint64_t format[_LOG_FORMAT_MAX];
} LineStats;

typedef struct LineAssembler {
        size_t max_line;
        StrBuf partial;  /* joined text of a message still in parts */
        StrBuf scratch;  /* unescaped docker "log" value */
        StrBuf overlong; /* first bytes of a physical line longer than the read buffer */
        bool pending;    /* partial holds the start of a message */
        bool truncated;
        bool in_overlong;
        LogStream stream;
        LogFormat format;
        int64_t time_ns;
        /* "YYYY-MM-DDTHH:MM:SS" of the last parsed timestamp and its epoch
         * seconds: consecutive lines almost always share it. */
        char tcache[19];
        int64_t tcache_sec;
        LineStats stats;
} LineAssembler;

int line_assembler_init(LineAssembler *a, size_t max_line);
void line_assembler_done(LineAssembler *a);
/* Forgets a message in parts (file truncated or reopened). */
void line_assembler_reset(LineAssembler *a);

/* Feeds one physical line without its '\n'. Returns 1 and fills *ret when a
 * message is complete (valid until the next call), 0 when the line was
 * consumed without completing one (a part, or an empty message), or a
 * negative errno. */
int line_assembler_feed(LineAssembler *a, const char *line, size_t len, LogMessage *ret);

/* For physical lines longer than the reader's buffer: feed the pieces with
 * _overlong_piece(), then the last piece with line_assembler_feed_overlong_end().
 * The result is one truncated raw message. */
int line_assembler_overlong_piece(LineAssembler *a, const char *p, size_t len);
int line_assembler_overlong_end(LineAssembler *a, const char *p, size_t len, LogMessage *ret);

/* RFC 3339 timestamp (`2024-02-18T12:00:00.123456789Z`, offsets `+hh:mm`
 * allowed, fraction optional, up to 9 digits used) → ns since the epoch.
 * cache may be NULL. Returns 0 or -EINVAL. */
int parse_rfc3339_ns(const char *p, size_t len, LineAssembler *cache, int64_t *ret);

/* Epoch seconds as a decimal number text (`1708272000.123456`) → ns, exact
 * to the digit. Returns 0 or -EINVAL/-ERANGE. */
int parse_epoch_decimal_ns(const char *p, size_t len, int64_t *ret);
