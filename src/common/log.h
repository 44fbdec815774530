/* SPDX-License-Identifier: MIT */
#pragma once

#include <syslog.h>

#include "macro.h"

/* Logging for the daemons and tools: one line per message on stderr. When stderr is connected to the
 * journal (systemd sets $JOURNAL_STREAM), each line carries a "<N>" syslog priority prefix, which journald
 * turns into the entry's priority; otherwise lines read "program: message".
 *
 * The log_*_errno() forms take a negative or positive errno, make it available to %m, and return it as a
 * negative errno, so an edge can log and return in one step:  return log_error_errno(r, "Failed to x: %m");
 * Library code logs at debug level only; the caller decides what is worth an error. */

void log_set_program_name(const char *name);
const char *log_get_program_name(void);
void log_set_max_level(int level);
int log_get_max_level(void);
/* Reads $OTEL_LOG_LEVEL (debug, info, notice, warning, err, crit or 0..7). Unknown values are ignored with a
 * warning. */
void log_parse_environment(void);
/* Parses a level name or number; returns the level or -EINVAL. */
int log_level_from_string(const char *s);

int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...)
        _printf_(6, 7);

#define log_full_errno(level, error, ...)                                                                   \
        log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(level, ...) (void) log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, (error), __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, (error), __VA_ARGS__)
#define log_notice_errno(error, ...) log_full_errno(LOG_NOTICE, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, (error), __VA_ARGS__)

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")
