/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "shipper-checkpoint.h"
#include "shipper-config.h"
#include "shipper-json.h"
#include "shipper-logname.h"
#include "shipper-batch.h"
#include "shipper-file.h"
#include "shipper-parse.h"
#include "shipper-transform.h"

/* --- JSON tokenizer --- */

static int scan(const char *s, size_t *n) {
        JsonField f[16];
        size_t dropped;
        return json_scan_object(s, strlen(s), f, 16, n, &dropped);
}

Test(json, valid_objects) {
        size_t n;
        cr_assert_eq(scan("{}", &n), 0);
        cr_assert_eq(n, 0);
        cr_assert_eq(scan(" { \"a\" : 1 , \"b\":[1,{\"c\":null}],\"d\":\"x\\u00e9\\n\"} ", &n), 0);
        cr_assert_eq(n, 3);
        cr_assert_eq(scan("{\"n\":-0.5e+10,\"t\":true,\"f\":false}", &n), 0);
        cr_assert_eq(n, 3);
}

Test(json, invalid_objects) {
        size_t n;
        const char *bad[] = {
                "",
                "{",
                "{\"a\"}",
                "{\"a\":}",
                "{\"a\":1,}",
                "{\"a\":01}",
                "{\"a\":1.}",
                "{\"a\":tru}",
                "{\"a\":\"\\x\"}",
                "{\"a\":\"\x01\"}",
                "{\"a\":1} x",
                "[1]",
                "{a:1}",
                "{\"a\":\"\\u12\"}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                cr_expect_eq(scan(bad[i], &n), -EINVAL, "accepted %s", bad[i]);
}

Test(json, depth_limit) {
        char s[400];
        size_t n, i = 0;
        s[i++] = '{';
        memcpy(s + i, "\"a\":", 4);
        i += 4;
        for (int k = 0; k < 100; k++)
                s[i++] = '[';
        for (int k = 0; k < 100; k++)
                s[i++] = ']';
        s[i++] = '}';
        s[i] = 0;
        cr_assert_eq(scan(s, &n), -EINVAL);
}

Test(json, unescape) {
        StrBuf b = {.max = 1024};
        const char *in = "a\\\"b\\\\c\\/\\n\\u00e9\\ud83d\\ude00\\ud800x";
        cr_assert_eq(json_unescape_append(&b, in, strlen(in)), 0);
        cr_assert_eq(b.len, strlen("a\"b\\c/\n\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx"));
        cr_assert_eq(memcmp(b.data, "a\"b\\c/\n\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx", b.len), 0);
        strbuf_done(&b);
}

Test(json, escape) {
        StrBuf b = {.max = 1024};
        const char in[] = "q\"b\\\n\t\x01\xff";
        strbuf_reserve(&b, json_escape_bound(sizeof(in) - 1));
        strbuf_put_json_escaped(&b, in, sizeof(in) - 1);
        cr_assert_eq(b.len, strlen("q\\\"b\\\\\\n\\t\\u0001\xff"));
        cr_assert_eq(memcmp(b.data, "q\\\"b\\\\\\n\\t\\u0001\xff", b.len), 0);
        strbuf_done(&b);
}

Test(buf, bounded) {
        StrBuf b = {.max = 10};
        cr_assert_eq(strbuf_reserve(&b, 10), 0);
        strbuf_put(&b, "0123456789", 10);
        cr_assert_eq(strbuf_reserve(&b, 1), -ENOBUFS);
        strbuf_done(&b);
}

/* --- timestamps --- */

Test(time, rfc3339) {
        int64_t ns;
        cr_assert_eq(parse_rfc3339_ns("2024-02-18T16:00:00.123456789Z", 30, NULL, &ns), 0);
        cr_assert_eq(ns, INT64_C(1708272000123456789));
        cr_assert_eq(parse_rfc3339_ns("2024-02-18T16:00:00Z", 20, NULL, &ns), 0);
        cr_assert_eq(ns, INT64_C(1708272000000000000));
        cr_assert_eq(parse_rfc3339_ns("2024-02-18T17:30:00.5+01:30", 27, NULL, &ns), 0);
        cr_assert_eq(ns, INT64_C(1708272000500000000));
        cr_assert_eq(parse_rfc3339_ns("2024-02-18T16:00:00.1234567891Z", 31, NULL, &ns), 0);
        cr_assert_eq(ns, INT64_C(1708272000123456789));
        cr_assert_eq(parse_rfc3339_ns("2000-02-29T00:00:00Z", 20, NULL, &ns), 0);
        cr_assert_eq(ns, INT64_C(951782400000000000));
        cr_assert_eq(parse_rfc3339_ns("2024-02-18 16:00:00", 19, NULL, &ns), -EINVAL);
        cr_assert_eq(parse_rfc3339_ns("2024-13-18T16:00:00Z", 20, NULL, &ns), -EINVAL);
        cr_assert_eq(parse_rfc3339_ns("2024-02-18T16:00:00.Z", 21, NULL, &ns), -EINVAL);
        cr_assert_eq(parse_rfc3339_ns("2024-02-18T16:00:00Zx", 21, NULL, &ns), -EINVAL);
}

Test(time, rfc3339_cache) {
        LineAssembler a;
        int64_t ns;
        line_assembler_init(&a, 1024);
        cr_assert_eq(parse_rfc3339_ns("2024-02-18T16:00:00.1Z", 22, &a, &ns), 0);
        cr_assert_eq(parse_rfc3339_ns("2024-02-18T16:00:00.2Z", 22, &a, &ns), 0);
        cr_assert_eq(ns, INT64_C(1708272000200000000));
        cr_assert_eq(parse_rfc3339_ns("2024-02-18T16:00:01.2Z", 22, &a, &ns), 0);
        cr_assert_eq(ns, INT64_C(1708272001200000000));
        line_assembler_done(&a);
}

Test(time, epoch_decimal_exact) {
        int64_t ns;
        cr_assert_eq(parse_epoch_decimal_ns("1708272000.123456", 17, &ns), 0);
        cr_assert_eq(ns, INT64_C(1708272000123456000));
        cr_assert_eq(parse_epoch_decimal_ns("1708272000.987654321", 20, &ns), 0);
        cr_assert_eq(ns, INT64_C(1708272000987654321));
        cr_assert_eq(parse_epoch_decimal_ns("1708272000", 10, &ns), 0);
        cr_assert_eq(ns, INT64_C(1708272000000000000));
        cr_assert_eq(parse_epoch_decimal_ns("1.7e9", 5, &ns), -EINVAL);
        cr_assert_eq(parse_epoch_decimal_ns("-1", 2, &ns), -EINVAL);
        cr_assert_eq(parse_epoch_decimal_ns("999999999999", 12, &ns), -ERANGE);
}

/* --- line formats --- */

/* 1 and *m when the line hands out one message, 0 when it hands out none or is no boundary. */
static int feed(LineAssembler *a, const char *s, LogMessage *m) {
        const LogMessage *v;
        size_t n = 0;
        int r = line_assembler_feed(a, s, strlen(s), &v, &n);
        if (r <= 0)
                return r;
        cr_assert_leq(n, 1);
        if (n == 1)
                *m = v[0];
        return (int) n;
}

Test(parse, cri_partial_join) {
        LineAssembler a;
        LogMessage m;
        line_assembler_init(&a, 1024);
        cr_assert_eq(feed(&a, "2024-02-18T16:00:00.5Z stdout P ab", &m), 0);
        cr_assert(a.pending);
        cr_assert_eq(feed(&a, "2024-02-18T16:00:01Z stdout P cd", &m), 0);
        cr_assert_eq(feed(&a, "2024-02-18T16:00:02Z stdout F ef", &m), 1);
        cr_assert_eq(m.len, 6);
        cr_assert_eq(memcmp(m.text, "abcdef", 6), 0);
        cr_assert_eq(m.time_ns, INT64_C(1708272000500000000), "a message carries its first part's time");
        cr_assert_eq(m.stream, LOG_STREAM_STDOUT);
        cr_assert_eq(m.format, LOG_FORMAT_CRI);
        cr_assert_eq(a.stats.partials, 2);
        line_assembler_done(&a);
}

Test(parse, docker_partial_and_stream) {
        LineAssembler a;
        LogMessage m;
        line_assembler_init(&a, 1024);
        cr_assert_eq(
                feed(&a, "{\"log\":\"x\\\"y\",\"stream\":\"stderr\",\"time\":\"2024-02-18T16:00:00Z\"}", &m),
                0);
        cr_assert_eq(
                feed(&a, "{\"log\":\"z\\n\",\"stream\":\"stderr\",\"time\":\"2024-02-18T16:00:01Z\"}", &m),
                1);
        cr_assert_eq(m.len, 4);
        cr_assert_eq(memcmp(m.text, "x\"yz", 4), 0);
        cr_assert_eq(m.stream, LOG_STREAM_STDERR);
        cr_assert_eq(m.format, LOG_FORMAT_DOCKER);
        line_assembler_done(&a);
}

Test(parse, truncation_counted) {
        LineAssembler a;
        LogMessage m;
        line_assembler_init(&a, 8);
        cr_assert_eq(feed(&a, "2024-02-18T16:00:00Z stdout F 0123456789abc", &m), 1);
        cr_assert_eq(m.len, 8);
        cr_assert(m.truncated);
        cr_assert_eq(feed(&a, "2024-02-18T16:00:00Z stdout P 01234", &m), 0);
        cr_assert_eq(feed(&a, "2024-02-18T16:00:00Z stdout F 56789", &m), 1);
        cr_assert_eq(m.len, 8);
        cr_assert(m.truncated);
        cr_assert_eq(a.stats.truncated, 2);
        line_assembler_done(&a);
}

Test(parse, raw_lines) {
        LineAssembler a;
        LogMessage m;
        line_assembler_init(&a, 1024);
        cr_assert_eq(feed(&a, "hello", &m), 1);
        cr_assert_eq(m.format, LOG_FORMAT_RAW);
        cr_assert_eq(m.time_ns, 0);
        cr_assert_eq(feed(&a, "", &m), 0, "empty lines are skipped");
        cr_assert_eq(a.stats.empty, 1);
        line_assembler_done(&a);
}

/* --- Kubernetes names --- */

Test(k8s, names) {
        K8sName k;
        cr_assert(k8s_name_parse(
                "loggen-7d9f_otel-demo_loggen-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log",
                &k));
        cr_assert_eq(k.pod_len, 11);
        cr_assert_eq(strncmp(k.namespace, "otel-demo", k.namespace_len), 0);
        cr_assert_eq(k.container_len, 6);
        cr_assert_eq(strncmp(k.container, "loggen", 6), 0);
        cr_assert_eq(k.container_id_len, 64);
        cr_assert(k8s_name_parse("p_ns_my-side-car.log", &k));
        cr_assert_eq(k.container_len, strlen("my-side-car"));
        cr_assert_eq(k.container_id_len, 0);
        cr_assert_not(k8s_name_parse("p_ns.log", &k));
        cr_assert_not(k8s_name_parse("p_ns_c.txt", &k));
        cr_assert_not(k8s_name_parse("_ns_c.log", &k));
}

/* --- transform --- */

Test(transform, seed_columns) {
        TransformOptions o = {.seed_columns = true};
        TransformStats st = {0};
        StrBuf out = {.max = 1 << 20};
        const char *text =
                "{\"level\":\"info\",\"msg\":\"tick\",\"count\":7,\"random_number\":-3,\"random_string\":\"b\"}";
        LogMessage m = {.text = text, .len = strlen(text), .stream = LOG_STREAM_UNKNOWN};
        cr_assert_eq(
                transform_message(
                        &o,
                        "\"ServiceName\":\"s\",\"ResourceAttributes\":{\"a\":\"b\"",
                        45,
                        &m,
                        5,
                        &out,
                        &st),
                0);
        out.data[out.len] = 0;
        cr_assert(
                strstr(out.data, ",\"RandomNumber\":-3,\"RandomString\":\"b\",\"Count\":7,"),
                "%s",
                out.data);
        cr_assert(strstr(out.data, "\"Timestamp\":\"0.000000005\""), "%s", out.data);
        strbuf_done(&out);
}

/* --- checkpoint file --- */

Test(checkpoint, roundtrip) {
        CheckpointEntry e = {
                .dev = 64769,
                .ino = 123,
                .fp_hash = 0xdeadbeefULL,
                .fp_len = 1024,
                .committed = 100,
                .pending = {250, 300},
                .n_pending = 2,
                .size = 4096,
                .dir = (char *) "/var/log/pods/ns_a b_uid/c",
                .path = (char *) "/var/log/a b.log"};
        snprintf(e.token_id, sizeof(e.token_id), "fd01-123-00000000deadbeef");
        char *text = strdup(CHECKPOINT_HEADER);
        size_t len = strlen(text), alloc = len + 1, n, bad;
        CheckpointEntry *l;
        cr_assert_eq(checkpoint_format_entry(&e, &text, &len, &alloc), 0);
        cr_assert_eq(checkpoint_parse(text, len, &l, &n, &bad), 0);
        cr_assert_eq(n, 1);
        cr_assert_eq(l[0].ino, 123);
        cr_assert_eq(l[0].fp_hash, 0xdeadbeefULL);
        cr_assert_eq(l[0].n_pending, 2);
        cr_assert_eq(l[0].pending[0], 250);
        cr_assert_eq(l[0].pending[1], 300);
        cr_assert_str_eq(l[0].token_id, "fd01-123-00000000deadbeef");
        cr_assert_str_eq(l[0].path, "/var/log/a b.log");
        cr_assert_eq(l[0].size, 4096);
        cr_assert_str_eq(l[0].dir, "/var/log/pods/ns_a b_uid/c");
        checkpoint_entries_free(l, n);
        free(text);
}

/* A checkpoint file of format 2 (before the size and the directory) is read; the next write is format 3. */
Test(checkpoint, format_2) {
        const char *v2 = "shipper-checkpoint 2\n"
                         "64769 123 deadbeef 1024 100 2 250 300 fd01-123-00000000deadbeef /var/log/a b.log\n"
                         "1 2 3 4 5 0 t\n";
        CheckpointEntry *l;
        size_t n, bad;
        cr_assert_eq(checkpoint_parse(v2, strlen(v2), &l, &n, &bad), 0);
        cr_assert_eq(n, 2);
        cr_assert_eq(l[0].committed, 100);
        cr_assert_eq(l[0].pending[1], 300);
        cr_assert_eq(l[0].size, 0);
        cr_assert_null(l[0].dir);
        cr_assert_str_eq(l[0].token_id, "fd01-123-00000000deadbeef");
        cr_assert_str_eq(l[0].path, "/var/log/a b.log");
        cr_assert_null(l[1].path);

        char *text = strdup(CHECKPOINT_HEADER);
        size_t len = strlen(text), alloc = len + 1;
        cr_assert_eq(checkpoint_format_entry(&l[0], &text, &len, &alloc), 0);
        cr_assert_str_eq(
                text,
                "shipper-checkpoint 3\n"
                "64769 123 deadbeef 1024 100 0 2 250 300 fd01-123-00000000deadbeef 0  /var/log/a b.log\n");
        checkpoint_entries_free(l, n);
        free(text);
}

Test(checkpoint, malformed) {
        const char *bad[] = {
                "nope\n",
                CHECKPOINT_HEADER "1 2 3\n",
                CHECKPOINT_HEADER "1 2 zz 4 5 0 0 t 0 \n",
                CHECKPOINT_HEADER "1 2 3 4 5 0 2 9 7 t 0 \n",   /* pending range backwards */
                CHECKPOINT_HEADER "1 2 3 4 5 0 2 5 8 t 0 \n",   /* an empty range at the committed offset */
                CHECKPOINT_HEADER "1 2 3 4 5 9 0 t 0 p",        /* no newline */
                CHECKPOINT_HEADER "1 2 3 4 5 9 0 t 9 /short\n", /* directory longer than the line */
                CHECKPOINT_HEADER "1 2 3 4 5 9 0 t 2 /dir p\n", /* directory not followed by a space */
                CHECKPOINT_HEADER "1 2 3 4 5 9 0 t\n",          /* no directory length */
                CHECKPOINT_HEADER_V2 "1 2 zz 4 5 5 5 t\n",
                CHECKPOINT_HEADER_V2 "1 2 3 4 5 9 7 t\n", /* pending range backwards */
                CHECKPOINT_HEADER_V2 "1 2 3 4 5 6 8 t\n",
                CHECKPOINT_HEADER_V2 "1 2 3 4 5 5 5 t", /* no newline */
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                CheckpointEntry *l;
                size_t n, line;
                cr_expect_eq(
                        checkpoint_parse(bad[i], strlen(bad[i]), &l, &n, &line),
                        -EBADMSG,
                        "accepted %s",
                        bad[i]);
        }
}

/* --- batches --- */

static const BatchBodyConfig json_plain = {
        .format = INSERT_FORMAT_JSON_EACH_ROW,
        .compression = COMPRESSION_NONE,
        .max_line = 1024,
};

/* A batch of n rows {"i":N}; its rows also rebuilt as JSONEachRow lines (as the file does for a refused
 * batch), so that it can be bisected. */
static Batch *batch_with_rows(BatchPool *pool, unsigned n) {
        Batch *b = batch_new(pool, 1 << 20, "fd01-5-00000000000000aa", 0, 10);
        static const char prefix[] = "\"ServiceName\":\"s\",\"ResourceAttributes\":{";
        TransformOptions opts = {};
        TransformStats st = {};
        LogRow *row = malloc(sizeof(LogRow));
        char text[32], line[32];
        const void *body;
        size_t size;

        cr_assert_not_null(b);
        cr_assert_not_null(row);
        for (unsigned i = 0; i < n; i++) {
                LogMessage m = {.text = text, .stream = LOG_STREAM_UNKNOWN};
                m.len = (size_t) snprintf(text, sizeof(text), "{\"i\":%u}", i);
                transform_parse(&m, 1, row, &st);
                cr_assert_eq(batch_add_row(b, &opts, prefix, strlen(prefix), NULL, row, 1000 + i), 0);
        }
        batch_set_end(b, 20);
        cr_assert_eq(batch_finish(b), 0);
        batch_body(b, &body, &size);
        cr_assert_eq(batch_size(b), size, "uncompressed: the body is the rows");
        for (unsigned i = 0; i < n; i++) {
                int l = snprintf(line, sizeof(line), "{\"i\":%u}\n", i);
                cr_assert_eq(strbuf_reserve(batch_rows(b), (size_t) l), 0);
                strbuf_put(batch_rows(b), line, (size_t) l);
        }
        free(row);
        return b;
}

Test(batch, token) {
        BatchPool *pool;
        cr_assert_eq(batch_pool_new(&json_plain, &pool), 0);
        Batch *b = batch_with_rows(pool, 8);
        char t[BATCH_TOKEN_MAX];

        batch_token(b, t, sizeof(t));
        cr_assert_str_eq(t, "fd01-5-00000000000000aa-10-20");
        cr_assert_eq(batch_first_row_usec(b), 1000, "the time of the first row");
        cr_assert_eq(batch_bisect_start(b), 0);
        cr_assert_eq(batch_part_split(b), 0);
        cr_assert_eq(batch_part_split(b), 0);
        batch_token(b, t, sizeof(t));
        cr_assert_str_eq(t, "fd01-5-00000000000000aa-10-20-r0-2");
        batch_free(b);
        batch_pool_free(pool);
}

/* A refused batch is sent in halves until the bad row is alone; every row is covered exactly once. */
Test(batch, bisection_covers_every_row_once) {
        BatchPool *pool;
        Batch *b;
        const char *p;
        size_t len;
        unsigned seen[7] = {0};
        RowRange r;

        cr_assert_eq(batch_pool_new(&json_plain, &pool), 0);
        b = batch_with_rows(pool, 7);
        cr_assert_eq(batch_bisect_start(b), 0);
        r = batch_part(b);
        cr_assert(r.lo == 0 && r.hi == 7);
        /* Refuse every part holding row 4, accept the others. */
        for (;;) {
                r = batch_part(b);
                batch_part_bytes(b, &p, &len);
                cr_assert_eq(memcmp(p, "{\"i\":", 5), 0);
                cr_assert_eq(p[len - 1], '\n');
                if (r.lo <= 4 && 4 < r.hi && r.hi - r.lo > 1) {
                        cr_assert_eq(batch_part_split(b), 0);
                        continue;
                }
                for (uint32_t i = r.lo; i < r.hi; i++)
                        seen[i]++;
                if (r.hi - r.lo == 1 && r.lo == 4) {
                        batch_row_bytes(b, 4, &p, &len);
                        cr_assert_eq(len, 7);
                        cr_assert_eq(memcmp(p, "{\"i\":4}", 7), 0, "the row without its newline");
                        cr_assert_eq(batch_part_split(b), -EINVAL, "a single row cannot be split");
                }
                if (!batch_part_next(b))
                        break;
        }
        for (unsigned i = 0; i < 7; i++)
                cr_assert_eq(seen[i], 1, "row %u sent %u times", i, seen[i]);
        batch_free(b);
        b = batch_new(pool, 1 << 20, "x", 0, 0);
        cr_assert_eq(batch_size(b), 0);
        batch_free(b);
        batch_pool_free(pool);
}

/* --- files --- */

static unsigned notified_commits;

static void count_notify(ShipperFile *f, ShipperFileEvent event, uint64_t arg, void *userdata) {
        notified_commits += event == SHIPPER_FILE_COMMIT;
}

static ShipperFile *open_file(
        ShipperFileContext *ctx, const char *path, CheckpointEntry *restored, size_t n) {
        ShipperFile *f;
        struct stat st;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        cr_assert_geq(fd, 0);
        cr_assert_eq(fstat(fd, &st), 0);
        cr_assert_eq(shipper_file_open(ctx, path, fd, &st, restored, n, NULL, &f), 0);
        return f;
}

/* After a restart, the batches recorded before it are rebuilt with the same boundaries. Until they are, the
 * checkpoint keeps their ranges: a second restart must rebuild them the same way (same tokens), or rows
 * ClickHouse stored without an acknowledgement reaching us would be stored twice. */
Test(file, restored_ranges_stay_recorded_until_rebuilt) {
        char path[] = "/tmp/shipper-file-XXXXXX";
        ShipperConfig config;
        ShipperStats stats = {};
        ShipperFileContext ctx = {.config = &config, .stats = &stats, .notify = count_notify};
        CheckpointEntry first, restored, e;
        ShipperFile *f;
        char line[16];
        int fd;

        shipper_config_init(&config);
        cr_assert_eq(batch_pool_new(&json_plain, &ctx.pool), 0);
        fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        for (int i = 0; i < 30; i++) {
                snprintf(line, sizeof(line), "line-%03d\n", i);
                cr_assert_eq(write(fd, line, 9), 9);
        }
        close(fd);

        /* The identity as a first run recorded it. */
        f = open_file(&ctx, path, NULL, 0);
        cr_assert(shipper_file_checkpoint_entry(f, 1, &first));
        restored = first;
        restored.path = NULL;
        restored.committed = 0;
        restored.pending[0] = 90;
        restored.pending[1] = 180;
        restored.n_pending = 2;
        shipper_file_free(f);

        f = open_file(&ctx, path, &restored, 1);
        cr_assert(restored.used);
        cr_assert(shipper_file_checkpoint_entry(f, 2, &e));
        cr_assert_eq(e.committed, 0);
        cr_assert_eq(e.n_pending, 2, "ranges not rebuilt yet are kept");
        cr_assert_eq(e.pending[0], 90);
        cr_assert_eq(e.pending[1], 180);
        cr_assert_str_eq(e.token_id, first.token_id);

        /* Reading rebuilds both (sealed at exactly 90 and 180), then the rest as a batch of its own. */
        cr_assert_eq(shipper_file_read(f, SIZE_MAX), 1);
        cr_assert_eq(shipper_file_queue_length(f), 2);
        cr_assert(shipper_file_checkpoint_entry(f, 3, &e));
        cr_assert_eq(e.n_pending, 2);
        cr_assert_eq(e.pending[0], 90);
        cr_assert_eq(e.pending[1], 180);
        cr_assert_null(shipper_file_next_to_send(f), "nothing is sent before its range is on disk");
        shipper_file_checkpoint_written(f, 3, 0);
        Batch *b = shipper_file_next_to_send(f);
        cr_assert_not_null(b);
        cr_assert_eq(batch_start(b), 0);
        cr_assert_eq(batch_end(b), 90);
        cr_assert_eq(batch_n_rows(b), 10);
        /* Refused: its rows again, from the file's bytes [0, 90). */
        cr_assert_eq(shipper_file_rebuild_rows(f, b), 0);
        cr_assert_eq(batch_bisect_start(b), 0);
        {
                const char *p;
                size_t len;
                batch_row_bytes(b, 9, &p, &len);
                cr_assert_not_null(memmem(p, len, "\"Body\":\"line-009\"", 17), "%.*s", (int) len, p);
        }
        shipper_file_batch_done(f, b);
        cr_assert_eq(shipper_file_committed(f), 90);
        cr_assert_gt(notified_commits, 0);

        shipper_file_free(f);
        unlink(path);
        batch_pool_free(ctx.pool);
        shipper_config_done(&config);
}

/* --- configuration --- */

static char *write_tmp(const char *content) {
        char *path = strdup("/tmp/shipper-config-XXXXXX");
        int fd = mkstemp(path);
        cr_assert(fd >= 0);
        cr_assert_eq(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        close(fd);
        return path;
}

Test(config, yaml_values_and_list) {
        ShipperConfig c;
        size_t n;
        char *p = write_tmp(
                "# comment\npaths:\n  - /a/*.log\n  - /b/*.log\nbatch-rows: 123\nflush-interval: 250ms\n"
                "compression: gzip\nbatch-bytes: 8M\nseed-columns: true\n");
        shipper_config_init(&c);
        const ConfigOption *o = shipper_config_options(&c, &n);
        cr_assert_eq(shipper_config_load_yaml(o, n, p), 0);
        cr_assert_str_eq(c.paths, "/a/*.log,/b/*.log");
        cr_assert_eq(c.batch_rows, 123);
        cr_assert_eq(c.flush_interval_nsec, 250000000);
        cr_assert_eq(c.compression, COMPRESSION_GZIP);
        cr_assert_eq(c.batch_bytes, 8 * 1024 * 1024);
        cr_assert(c.seed_columns);
        char **g = shipper_config_globs(&c);
        cr_assert_str_eq(g[0], "/a/*.log");
        cr_assert_str_eq(g[1], "/b/*.log");
        cr_assert_null(g[2]);
        strv_free(g);
        shipper_config_done(&c);
        unlink(p);
        free(p);
}

static void expect_yaml_error(const char *yaml, const char *needle) {
        ShipperConfig c;
        size_t n;
        char *p = write_tmp(yaml), buf[1024] = {0};
        shipper_config_init(&c);
        const ConfigOption *o = shipper_config_options(&c, &n);
        fflush(stderr);
        cr_assert_lt(shipper_config_load_yaml(o, n, p), 0);
        fflush(stderr);
        FILE *err = cr_get_redirected_stderr();
        size_t k = fread(buf, 1, sizeof(buf) - 1, err);
        buf[k] = 0;
        cr_assert(strstr(buf, needle), "\"%s\" not in: %s", needle, buf);
        cr_assert(strstr(buf, p), "file name not in: %s", buf);
        shipper_config_done(&c);
        unlink(p);
        free(p);
}

Test(config, unknown_key, .init = cr_redirect_stderr) {
        expect_yaml_error("batch-rows: 5\nbatch-rowz: 5\n", ":2: unknown key \"batch-rowz\"");
}

Test(config, bad_value_names_key, .init = cr_redirect_stderr) {
        expect_yaml_error("\n\ncompression: lz4\n", ":3: compression");
}

Test(config, bad_duration, .init = cr_redirect_stderr) {
        expect_yaml_error("flush-interval: 5\n", ":1: flush-interval");
}

Test(config, nested_mapping, .init = cr_redirect_stderr) {
        expect_yaml_error("table:\n  url: x\n", ":1: table: expected a single value, got a mapping");
}

Test(config, duplicate_key, .init = cr_redirect_stderr) {
        expect_yaml_error(
                "batch-rows: 5\ntable: t\nbatch-rows: 6\n",
                ":3: duplicate key \"batch-rows\" (first at line 1)");
}

Test(config, list_only_for_paths, .init = cr_redirect_stderr) {
        expect_yaml_error("table:\n  - a\n  - b\n", ":1: table: expected a single value, got a list");
}

/* The defaults come from the option table only: what --help shows is what applies. */
Test(config, defaults_from_the_table) {
        ShipperConfig c;

        cr_assert_eq(shipper_config_init(&c), 0);
        cr_assert_str_eq(c.paths, "/var/log/containers/loggen-*.log");
        cr_assert_str_eq(c.clickhouse_url, "http://127.0.0.1:8123");
        cr_assert_str_eq(c.password, "");
        cr_assert_null(c.config_file);
        cr_assert_eq(c.listen_port, 2020);
        cr_assert_eq(c.batch_rows, 100000);
        cr_assert_eq(c.batch_bytes, 64 * 1024 * 1024);
        cr_assert_eq(c.insert_format, INSERT_FORMAT_NATIVE);
        cr_assert_eq(c.max_line_bytes, 256 * 1024);
        cr_assert_eq(c.buffer_bytes, 24 * 1024 * 1024);
        cr_assert_eq(c.flush_interval_nsec, 1000000000);
        cr_assert_eq(c.retry_initial_nsec, 250000000);
        cr_assert_eq(c.compression, COMPRESSION_ZSTD);
        cr_assert_eq(c.compression_level, 1);
        cr_assert(c.checkpoint_sync);
        cr_assert_not(c.seed_columns);
        cr_assert_str_eq(c.sampler.targets, "");
        cr_assert_str_eq(c.sampler.table, "metrics_raw");
        cr_assert_eq(c.sampler.interval_nsec, 100000000);
        cr_assert_eq(c.sampler.spool_max, 1000);
        cr_assert_eq(c.sampler.net_counter_bits, 64);
        cr_assert_null(c.sampler.host_name, "empty: the machine's host name");
        shipper_config_done(&c);

        SamplerConfig sc;
        cr_assert_eq(sampler_config_init(&sc), 0);
        cr_assert_str_eq(sc.proc_root, "/proc");
        cr_assert_eq(sc.batch_samples, 600);
        sampler_config_done(&sc);
}

Test(config, env_over_file_flag_over_env) {
        ShipperConfig c;
        ConfigAction a;
        char *p = write_tmp("batch-rows: 10\ntable: from_file\n");
        char *argv[] = {
                (char *) "shipper", (char *) "--config", p, (char *) "--table", (char *) "from_flag", NULL};
        setenv("SHIPPER_BATCH_ROWS", "20", 1);
        setenv("SHIPPER_TABLE", "from_env", 1);
        shipper_config_init(&c);
        cr_assert_eq(shipper_config_parse(&c, 5, argv, &a), 0);
        cr_assert_eq(c.batch_rows, 20);
        cr_assert_str_eq(c.table, "from_flag");
        unsetenv("SHIPPER_BATCH_ROWS");
        unsetenv("SHIPPER_TABLE");
        shipper_config_done(&c);
        unlink(p);
        free(p);
}
