/* SPDX-License-Identifier: MIT */
/* Golden-file test of the read → parse → transform path.
 *   test-shipper-golden [--update] CASE_DIR...
 * Each CASE_DIR holds in.log and out.jsonl (the expected rows), optionally
 * `filename` (the log file name the rows are attributed to, for Kubernetes
 * metadata) and `max_line` (maximum message size in bytes). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shipper-reader.h"
#include "shipper-transform.h"

#define DEFAULT_NAME                                                                                        \
        "loggen-7d9f8b6c5-x2x9z_otel-demo_loggen-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log"
#define NOW_NS 1700000000000000000LL

typedef struct Ctx {
        StrBuf prefix;
        StrBuf out;
        TransformOptions opts;
        TransformStats stats;
        uint64_t last_end;
} Ctx;

static int on_message(void *userdata, const LogMessage *msgs, size_t n, uint64_t end) {
        Ctx *c = userdata;
        if (end <= c->last_end) {
                fprintf(stderr,
                        "offsets not increasing: %llu after %llu\n",
                        (unsigned long long) end,
                        (unsigned long long) c->last_end);
                return -EINVAL;
        }
        c->last_end = end;
        for (size_t i = 0; i < n; i++) {
                int r = transform_message(
                        &c->opts, c->prefix.data, c->prefix.len, &msgs[i], NOW_NS, &c->out, &c->stats);
                if (r < 0)
                        return r;
        }
        return 0;
}

static char *read_small(const char *dir, const char *name, size_t *ret_len) {
        char path[4096];
        FILE *f;
        char *data = NULL;
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "re");
        if (!f)
                return NULL;
        FILE *m = open_memstream(&data, &len);
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                fwrite(chunk, 1, n, m);
        fclose(f);
        fclose(m);
        if (ret_len)
                *ret_len = len;
        return data;
}

static int run_case(const char *dir, int update) {
        char path[4096], *name, *expected, *maxs;
        size_t max_line = 256 * 1024, exp_len = 0;
        Ctx c = {.prefix.max = 1 << 20, .out.max = 1 << 30};
        Reader rd;
        int fd, r;

        name = read_small(dir, "filename", NULL);
        if (name)
                name[strcspn(name, "\n")] = 0;
        maxs = read_small(dir, "max_line", NULL);
        if (maxs)
                max_line = strtoul(maxs, NULL, 10);
        if (transform_resource_prefix(name ? name : DEFAULT_NAME, NULL, &c.prefix) < 0)
                return -1;
        snprintf(path, sizeof(path), "%s/in.log", dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "%s: %m\n", path);
                return -1;
        }
        if (reader_init(&rd, max_line) < 0)
                return -1;
        reader_reset(&rd, fd, 0);
        r = reader_run(&rd, SIZE_MAX, on_message, &c);
        close(fd);
        if (r != 1) {
                fprintf(stderr, "%s: reader returned %d\n", dir, r);
                return -1;
        }
        if (update) {
                snprintf(path, sizeof(path), "%s/out.jsonl", dir);
                FILE *f = fopen(path, "we");
                fwrite(c.out.data, 1, c.out.len, f);
                fclose(f);
                r = 0;
        } else {
                expected = read_small(dir, "out.jsonl", &exp_len);
                if (!expected || exp_len != c.out.len || memcmp(expected, c.out.data, exp_len) != 0) {
                        /* Show the first row that differs. */
                        size_t i = 0, line = 1, ls = 0;
                        while (expected && i < exp_len && i < c.out.len && expected[i] == c.out.data[i]) {
                                if (expected[i] == '\n') {
                                        line++;
                                        ls = i + 1;
                                }
                                i++;
                        }
                        fprintf(stderr,
                                "FAIL %s: row %zu differs from out.jsonl\nexpected: %.*s\ngot:      %.*s\n",
                                dir,
                                line,
                                expected ? (int) strcspn(expected + ls, "\n") : 0,
                                expected ? expected + ls : "",
                                (int) strcspn(c.out.data + ls, "\n"),
                                c.out.data + ls);
                        r = -1;
                } else
                        r = 0;
                free(expected);
        }
        printf("%s %s (%llu rows, %llu non-JSON, %llu truncated)\n",
               r == 0 ? "ok" : "FAIL",
               dir,
               (unsigned long long) c.stats.rows,
               (unsigned long long) c.stats.non_json,
               (unsigned long long) rd.asm_.stats.truncated);
        reader_done(&rd);
        strbuf_done(&c.prefix);
        strbuf_done(&c.out);
        free(name);
        free(maxs);
        return r;
}

int main(int argc, char **argv) {
        int update = 0, failed = 0;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--update") == 0) {
                        update = 1;
                        continue;
                }
                if (run_case(argv[i], update) < 0)
                        failed++;
        }
        return failed ? 1 : 0;
}
