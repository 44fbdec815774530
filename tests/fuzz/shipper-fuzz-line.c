/* SPDX-License-Identifier: MIT */
/* Fuzz target for the shipper's line parser (CRI / docker json-file, partial
 * lines, truncation) and the zap → otel_logs transform. The input is a log
 * file; its first byte picks the maximum message size. Every row produced must
 * be one valid JSON object ending in '\n' — the property that keeps a hostile
 * log line from corrupting the JSONEachRow stream sent to ClickHouse. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shipper-json.h"
#include "shipper-parse.h"
#include "shipper-transform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rows(const StrBuf *out, size_t from) {
        const char *p = out->data + from, *end = out->data + out->len;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                JsonField f[32];
                size_t n, dropped;
                if (!nl || json_scan_object(p, (size_t) (nl - p), f, 32, &n, &dropped) < 0) {
                        fprintf(stderr, "invalid row: %.*s\n", (int) (nl ? nl - p : end - p), p);
                        abort();
                }
                p = nl + 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const size_t max_lines[] = {16, 64, 1024, 256 * 1024};
        LineAssembler a;
        const LogMessage *msgs;
        size_t n = 0;
        TransformOptions opts = {.seed_columns = size > 0 && (data[0] & 4)};
        TransformStats stats = {0};
        StrBuf prefix = {.max = 1 << 16}, out = {.max = 64 << 20};
        const char *p, *end;

        if (size == 0)
                return 0;
        line_assembler_init(&a, max_lines[data[0] & 3]);
        if (transform_resource_prefix(
                    "/var/log/containers/pod-x_ns_app-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log",
                    (data[0] & 8) ? "svc" : NULL,
                    &prefix) < 0)
                abort();
        p = (const char *) data + 1;
        end = (const char *) data + size;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                const char *le = nl ? nl : end;
                int r;
                if (!nl && (data[0] & 16)) {
                        /* An unterminated tail exercises the overlong path. */
                        (void) line_assembler_overlong_piece(&a, p, (size_t) (le - p));
                        r = line_assembler_overlong_end(&a, "", 0, &msgs, &n);
                } else
                        r = line_assembler_feed(&a, p, (size_t) (le - p), &msgs, &n);
                if (r >= 0 && (r == 0) != a.pending)
                        abort(); /* a boundary exactly when no stream has a message in parts */
                for (size_t i = 0; r > 0 && i < n; i++) {
                        size_t before = out.len;
                        if (msgs[i].len > a.max_line || msgs[i].len == 0)
                                abort();
                        if (transform_message(
                                    &opts,
                                    prefix.data,
                                    prefix.len,
                                    &msgs[i],
                                    1700000000000000000LL,
                                    &out,
                                    &stats) == 0)
                                check_rows(&out, before);
                }
                if (out.len > (32 << 20))
                        out.len = 0;
                p = le + 1;
        }
        line_assembler_done(&a);
        strbuf_done(&prefix);
        strbuf_done(&out);
        return 0;
}
