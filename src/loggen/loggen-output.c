/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <string.h>

#include "loggen-output.h"

int loggen_line_begin(StrBuf *b, const LoggenLine *l) {
        const char *base = strrchr(l->file, '/');

        /* Level, caller and message are program constants: no escaping needed, and none is done on this hot
         * path. */
        return strbuf_printf(
                b,
                "{\"level\":\"%s\",\"ts\":%" PRIu64 ".%06" PRIu64 ",\"caller\":\"" LOGGEN_CALLER_PREFIX
                "%s:%d\",\"msg\":\"%s\"",
                l->level,
                l->ts_usec / 1000000,
                l->ts_usec % 1000000,
                base ? base + 1 : l->file,
                l->line,
                l->msg);
}

int loggen_line_end(StrBuf *b) {
        return strbuf_append(b, "}\n", 2);
}

int loggen_format_tick(
        StrBuf *b, const LoggenLine *l, uint64_t count, uint32_t random_number, const char *random_string) {
        int r;

        r = loggen_line_begin(b, l);
        if (r < 0)
                return r;
        r = strbuf_printf(
                b,
                ",\"count\":%" PRIu64 ",\"random_number\":%" PRIu32 ",\"random_string\":\"%s\"",
                count,
                random_number,
                random_string);
        if (r < 0)
                return r;
        return loggen_line_end(b);
}
