/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/* zap's production JSON encoding, field for field: level, ts (float seconds, microsecond precision),
 * caller, msg, then the fields of the message. Each line is appended to a buffer and ends in '\n'. */

#define LOGGEN_CALLER_PREFIX "loggen/"

typedef struct LoggenLine {
        const char *level;
        uint64_t ts_usec; /* CLOCK_REALTIME */
        const char *file; /* source file of the call site, reduced to its base name */
        int line;
        const char *msg;
} LoggenLine;

/* Writes `{"level":…,"ts":…,"caller":…,"msg":…` without the closing brace. */
int loggen_line_begin(StrBuf *b, const LoggenLine *l);
int loggen_line_end(StrBuf *b);

int loggen_format_tick(
        StrBuf *b, const LoggenLine *l, uint64_t count, uint32_t random_number, const char *random_string);
