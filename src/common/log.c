/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "parse-util.h"

/* One line at most this long; longer messages are cut, never split across writes. */
#define LOG_LINE_MAX 4096

static const char *program_name = "otel";
static int max_level = LOG_INFO;
static int journal_stream = -1; /* -1 unknown, 0 no, 1 yes */

void log_set_program_name(const char *name) {
        program_name = name;
}

const char *log_get_program_name(void) {
        return program_name;
}

void log_set_max_level(int level) {
        max_level = CLAMP(level, LOG_EMERG, LOG_DEBUG);
}

int log_get_max_level(void) {
        return max_level;
}

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg",
        [LOG_ALERT] = "alert",
        [LOG_CRIT] = "crit",
        [LOG_ERR] = "err",
        [LOG_WARNING] = "warning",
        [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",
        [LOG_DEBUG] = "debug",
};

int log_level_from_string(const char *s) {
        uint32_t u;

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (streq(s, level_names[i]))
                        return (int) i;
        if (streq(s, "error"))
                return LOG_ERR;
        if (streq(s, "warn"))
                return LOG_WARNING;
        if (safe_atou32(s, &u) >= 0 && u <= LOG_DEBUG)
                return (int) u;
        return -EINVAL;
}

void log_parse_environment(void) {
        const char *e = getenv("OTEL_LOG_LEVEL");
        int l;

        if (isempty(e))
                return;
        l = log_level_from_string(e);
        if (l < 0) {
                log_warning("Unknown log level in $OTEL_LOG_LEVEL: \"%s\", ignoring.", e);
                return;
        }
        max_level = l;
}

/* $JOURNAL_STREAM is "device:inode" of the stream systemd connected to stdout/stderr; only when it matches
 * our stderr is the "<N>" prefix understood by the reader. */
static bool stderr_is_journal(void) {
        const char *e;
        struct stat st;
        unsigned long long dev, ino;
        char *colon;

        if (journal_stream >= 0)
                return journal_stream;

        journal_stream = 0;
        e = getenv("JOURNAL_STREAM");
        if (!e || fstat(STDERR_FILENO, &st) < 0)
                return false;
        colon = strchr(e, ':');
        if (!colon)
                return false;
        {
                char devbuf[32];
                size_t n = (size_t) (colon - e);
                uint64_t d, i;

                if (n == 0 || n >= sizeof(devbuf))
                        return false;
                memcpy(devbuf, e, n);
                devbuf[n] = 0;
                if (safe_atou64(devbuf, &d) < 0 || safe_atou64(colon + 1, &i) < 0)
                        return false;
                dev = d;
                ino = i;
        }
        journal_stream = (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
        return journal_stream;
}

int log_internal(
        int level, int error, const char *file, int line, const char *func, const char *format, ...) {
        char buf[LOG_LINE_MAX];
        size_t n = 0;
        int k, saved_errno = errno;
        va_list ap;

        error = ERRNO_VALUE(error);
        if (level > max_level)
                goto finish;

        if (stderr_is_journal())
                k = snprintf(buf, sizeof(buf), "<%d>", level);
        else
                k = snprintf(buf, sizeof(buf), "%s: ", program_name);
        if (k > 0)
                n = MIN((size_t) k, sizeof(buf) - 1);

        if (max_level >= LOG_DEBUG) {
                const char *base = strrchr(file, '/');

                k = snprintf(buf + n, sizeof(buf) - n, "(%s:%d %s) ", base ? base + 1 : file, line, func);
                if (k > 0)
                        n = MIN(n + (size_t) k, sizeof(buf) - 1);
        }

        /* %m refers to the error passed in, not whatever errno happens to hold. */
        errno = error;
        va_start(ap, format);
        k = vsnprintf(buf + n, sizeof(buf) - n, format, ap);
        va_end(ap);
        if (k > 0)
                n = MIN(n + (size_t) k, sizeof(buf) - 2);

        /* Keep one message on one line so the journal and grep see it whole. */
        for (size_t i = 0; i < n; i++)
                if (buf[i] == '\n')
                        buf[i] = ' ';
        buf[n++] = '\n';

        {
                size_t off = 0;
                while (off < n) {
                        ssize_t w = write(STDERR_FILENO, buf + off, n - off);
                        if (w < 0) {
                                if (errno == EINTR)
                                        continue;
                                break;
                        }
                        off += (size_t) w;
                }
        }

finish:
        errno = saved_errno;
        return -error;
}
