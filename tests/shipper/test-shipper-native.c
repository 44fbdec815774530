/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clickhouse-client.h"
#include "curl-glue.h"
#include "duration.h"
#include "macro.h"
#include "shipper-body.h"
#include "shipper-native.h"
#include "shipper-transform.h"
#include "util.h"

/* The Native writer against the real engine (the embedded endpoint on libchdb, started by with-endpoint.py):
 * the same messages inserted as JSONEachRow (the transform's rows) and as Native (the writer's blocks) into
 * two tables of the otel_logs DDL must read back as the same rows, column for column. */

#define BIG (200 * 1024)
/* The runtime's time of the lines (2025-12-06): JSONEachRow cannot carry times before 1973 as epoch seconds.
 */
#define T0 1765000000000000000
#define FILE_PATH                                                                                           \
        "/var/log/containers/loggen-7d9f_otel-demo_loggen-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log"

typedef struct Outcome {
        bool done;
        ClickHouseResult result;
        char *body;
        char error[700];
} Outcome;

static sd_event *event;
static CurlGlue *glue;
static ClickHouseClient *client;

static void setup(void) {
        const char *u = getenv("CLICKHOUSE_URL");
        cr_assert_not_null(u, "run through with-endpoint.py");
        cr_assert_eq(sd_event_new(&event), 0);
        cr_assert_eq(curl_glue_new(event, &glue), 0);
        cr_assert_eq(
                clickhouse_client_new(
                        glue,
                        &(ClickHouseClientConfig){
                                .url = u,
                                .user = getenv("CLICKHOUSE_USER"),
                                .password = getenv("CLICKHOUSE_PASSWORD"),
                                .database = "default",
                                .timeout_usec = 120 * USEC_PER_SEC,
                        },
                        &client),
                0);
}

static void teardown(void) {
        clickhouse_client_free(client);
        curl_glue_free(glue);
        sd_event_unref(event);
}

static void on_done(ClickHouseRequest *req, const ClickHouseReply *reply, void *userdata) {
        Outcome *o = userdata;
        o->done = true;
        o->result = reply->result;
        o->body = strndup(reply->body, reply->body_size);
        snprintf(o->error, sizeof(o->error), "%s", strempty(reply->error));
}

static void wait_for(Outcome *o) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + 120 * USEC_PER_SEC;
        while (!o->done) {
                cr_assert_lt(now_usec(CLOCK_MONOTONIC), deadline, "no completion within 120 s");
                cr_assert_geq(sd_event_run(event, 100000), 0);
        }
}

/* The reply of a query (caller frees). */
static char *query(const char *sql) {
        Outcome o = {};
        cr_assert_eq(
                clickhouse_query(
                        client,
                        &(ClickHouseQuery){.sql = sql, .reply_max = 64 * 1024 * 1024},
                        on_done,
                        &o,
                        NULL),
                0);
        wait_for(&o);
        cr_assert_eq(o.result, CLICKHOUSE_OK, "%s: %s", sql, o.error);
        return o.body;
}

static void insert_body(
        const char *table, const char *format, Compression comp, bool precompressed, const StrBuf *body) {
        Outcome o = {};
        ClickHouseInsert ins = {
                .table = table,
                .format = format,
                .compression = comp,
                .precompressed = precompressed,
                .compression_level = 3,
                .data = body->data,
                .size = body->len,
        };
        cr_assert_eq(clickhouse_insert(client, &ins, on_done, &o, NULL), 0);
        wait_for(&o);
        cr_assert_eq(o.result, CLICKHOUSE_OK, "INSERT %s FORMAT %s: %s", table, format, o.error);
        free(o.body);
}

static void insert(const char *table, const char *format, Compression comp, const StrBuf *body) {
        insert_body(table, format, comp, false, body);
}

/* The project's otel_logs DDL (the variant for every version), as a table of another name. */
static void create_otel_logs(const char *name) {
        char path[4096], *ddl = NULL, *p, *sql;
        size_t size;
        const char *dir = getenv("SCHEMA_DIR");
        cr_assert_not_null(dir);
        snprintf(path, sizeof(path), "%s/10-otel_logs.compat.sql", dir);
        cr_assert_eq(read_full_file(path, 1024 * 1024, &ddl, &size), 0, "%s", path);
        p = strstr(ddl, "CREATE TABLE IF NOT EXISTS default.otel_logs");
        cr_assert_not_null(p);
        p = strstr(p, "default.otel_logs");
        cr_assert_not_null(p);
        cr_assert_geq(
                asprintf(
                        &sql,
                        "%.*sdefault.%s%s",
                        (int) (p - ddl),
                        ddl,
                        name,
                        p + strlen("default.otel_logs")),
                0);
        free(query(sql));
        free(sql);
        free(ddl);
        /* The rows are of fixed dates, which the schema's retention would drop as they arrive. */
        cr_assert_geq(asprintf(&sql, "ALTER TABLE default.%s REMOVE TTL", name), 0);
        free(query(sql));
        free(sql);
}

typedef struct Case {
        const char *text;
        size_t len; /* 0: strlen */
        int64_t time_ns;
        LogStream stream;
        bool truncated;
} Case;

/* Every shape of value the transform handles, and what the engine must store alike either way. */
static const Case cases[] = {
        {"{\"level\":\"info\",\"ts\":1765000000.123456789,\"caller\":\"loggen/loop.c:42\",\"msg\":\"tick\","
         "\"count\":1,\"random_number\":42,\"random_string\":\"gamma\"}",
         0,
         T0 + 1,
         LOG_STREAM_STDOUT,
         false},
        {"{\"level\":\"warn\",\"ts\":\"2026-12-06T10:00:00.5Z\",\"msg\":\"quote \\\" backslash \\\\ nl \\n tab "
         "\\t e \\u00e9 pair \\ud83d\\ude00 nul \\u0000 slash \\/ ctl \\u001f\",\"k\\u00e9y\":\"v\\\\\\\"\","
         "\"obj\":{\"a\":[1,2,{\"b\":\"c\\\"d\"}]},\"arr\":[1,\"x\"],\"t\":true,\"f\":false,\"n\":null,"
         "\"num\":-1.5e3}",
         0,
         T0 + 2,
         LOG_STREAM_STDERR,
         false},
        /* Levels: unknown (upper-cased), escaped (decoded, not upper-cased), every known one. */
        {"{\"level\":\"Notice\",\"ts\":1765000001,\"msg\":\"n\"}", 0, T0 + 3, LOG_STREAM_STDOUT, false},
        {"{\"level\":\"w\\u0061rn\",\"ts\":1765000002,\"msg\":\"e\"}", 0, T0 + 4, LOG_STREAM_STDOUT, false},
        {"{\"level\":\"DPANIC\",\"ts\":1765000003,\"msg\":\"d\"}", 0, T0 + 5, LOG_STREAM_UNKNOWN, false},
        {"{\"level\":\"debug\",\"ts\":1765000004,\"msg\":\"d\",\"level2\":\"error\"}",
         0,
         T0 + 6,
         LOG_STREAM_STDOUT,
         false},
        /* Invalid UTF-8, raw in a JSON string and in a line that is not JSON. */
        {"{\"level\":\"error\",\"ts\":1765000005,\"msg\":\"bad \xff\xfe\xc3 utf8\",\"v\":\"\x80\x81\"}",
         0,
         T0 + 7,
         LOG_STREAM_STDOUT,
         false},
        {"not json \xff\xc0\x01 with \"quotes\" and \\ and \x1b[0m", 0, T0 + 8, LOG_STREAM_STDERR, false},
        /* Empty maps: no attributes at all (plain line, only msg, empty object). */
        {"plain line", 0, T0 + 9, LOG_STREAM_UNKNOWN, false},
        {"{\"msg\":\"only a message\"}", 0, T0 + 10, LOG_STREAM_STDOUT, false},
        {"{}", 0, T0 + 11, LOG_STREAM_STDOUT, false},
        /* Body that is not a string; duplicate keys; number forms of ts. */
        {"{\"msg\":{\"nested\":[1,2]},\"ts\":1.765000012e9}", 0, T0 + 12, LOG_STREAM_STDOUT, false},
        {"{\"msg\":12.5,\"a\":\"1\",\"a\":\"2\",\"ts\":\"1765000013.5\"}",
         0,
         T0 + 13,
         LOG_STREAM_STDOUT,
         false},
        /* No time in the message: the runtime's; below, none at all (now). */
        {"{\"msg\":\"runtime time\",\"level\":\"info\"}", 0, 1765000014999999999, LOG_STREAM_STDOUT, false},
        {"{\"msg\":\"no time\"}", 0, 0, LOG_STREAM_STDOUT, false},
        /* Large messages and truncation (filled in by big_case()). */
        {NULL, 0, T0 + 15, LOG_STREAM_STDOUT, false},
        {NULL, 0, T0 + 16, LOG_STREAM_STDERR, true},
        {NULL, 0, T0 + 17, LOG_STREAM_STDOUT, true},
};

static char *big_text(size_t i) {
        char *t = malloc(BIG + BIG / 1000 + 256);
        size_t n;
        cr_assert_not_null(t);
        if (i == 15) {
                /* A 200 KiB zap message (decoded) with an escaped newline every 1000 bytes. */
                n = (size_t) snprintf(t, 64, "{\"level\":\"info\",\"ts\":1765000015,\"msg\":\"");
                for (size_t k = 0; k < BIG; k++)
                        if (k % 1000 == 999) {
                                t[n++] = '\\';
                                t[n++] = 'n';
                        } else
                                t[n++] = (char) ('a' + k % 26);
                n += (size_t) snprintf(t + n, 64, "\",\"case\":\"big\"}");
        } else if (i == 16) {
                /* A 200 KiB plain line, cut (truncated). */
                for (n = 0; n < BIG; n++)
                        t[n] = (char) (n % 97 == 0 ? '\t' : 'A' + n % 26);
        } else {
                /* A truncated zap line still parses (the cut happened after a whole object here). */
                n = (size_t) snprintf(t, 64, "{\"msg\":\"");
                memset(t + n, 'z', BIG);
                n += BIG;
                n += (size_t) snprintf(t + n, 64, "\",\"case\":\"cut\"}");
        }
        t[n] = 0;
        return t;
}

#define NOW_NS 1765000099000000000

static void build_bodies(bool seed, size_t block_rows, StrBuf *json, StrBuf *native) {
        TransformOptions opts = {.seed_columns = seed};
        TransformStats st = {};
        TransformResource res;
        NativeResource nres;
        NativeBlock nb;
        StrBuf prefix = {.max = 64 * 1024};
        LogRow *row = malloc(sizeof(LogRow));

        cr_assert_not_null(row);
        cr_assert_eq(transform_resource_init(FILE_PATH, NULL, &res), 0);
        cr_assert_eq(native_resource_init(&res, &nres), 0);
        cr_assert_eq(transform_resource_prefix(FILE_PATH, NULL, &prefix), 0);
        native_block_init(&nb, seed, 16 * 1024 * 1024);
        *json = (StrBuf){.max = 64 * 1024 * 1024};
        *native = (StrBuf){.max = 64 * 1024 * 1024};
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *big = cases[i].text ? NULL : big_text(i);
                const char *text = big ?: cases[i].text;
                LogMessage m = {
                        .text = text,
                        .len = cases[i].len ?: strlen(text),
                        .time_ns = cases[i].time_ns,
                        .stream = cases[i].stream,
                        .truncated = cases[i].truncated,
                };
                cr_assert_eq(transform_message(&opts, prefix.data, prefix.len, &m, NOW_NS, json, &st), 0);
                transform_parse(&m, NOW_NS, row, &st);
                cr_assert_eq(native_block_add(&nb, &nres, row), 0);
                /* Several blocks in one body, as the shipper writes a large batch. */
                if (nb.rows >= block_rows) {
                        size_t before = native->len, size = native_block_size(&nb);
                        cr_assert_eq(native_block_write_buf(&nb, native), 0);
                        cr_assert_eq(native->len - before, size);
                }
                free(big);
        }
        cr_assert_eq(native_block_write_buf(&nb, native), 0);
        cr_assert_eq(st.rows, ELEMENTSOF(cases));
        native_block_done(&nb);
        native_resource_done(&nres);
        transform_resource_done(&res);
        strbuf_done(&prefix);
        free(row);
}

static void assert_same_rows(const char *a, const char *b, const char *columns) {
        char sql[1024];
        char *ra, *rb;
        snprintf(
                sql,
                sizeof(sql),
                "SELECT %s FROM %s ORDER BY Timestamp, Body FORMAT TabSeparated",
                columns,
                a);
        ra = query(sql);
        snprintf(
                sql,
                sizeof(sql),
                "SELECT %s FROM %s ORDER BY Timestamp, Body FORMAT TabSeparated",
                columns,
                b);
        rb = query(sql);
        cr_assert_gt(strlen(ra), (size_t) 3 * BIG, "the rows were not stored");
        if (strcmp(ra, rb) != 0) {
                size_t k = 0;
                while (ra[k] && ra[k] == rb[k])
                        k++;
                size_t from = k > 300 ? k - 300 : 0;
                cr_assert_fail(
                        "%s and %s differ at byte %zu:\n%s: %.400s\n%s: %.400s",
                        a,
                        b,
                        k,
                        a,
                        ra + from,
                        b,
                        rb + from);
        }
        free(ra);
        free(rb);
}

static void expect(const char *sql, const char *want) {
        char *got = query(sql);
        cr_assert_str_eq(got, want, "%s\ngot:  %.300s\nwant: %.300s", sql, got, want);
        free(got);
}

/* The same messages through two BodyWriters (JSONEachRow and Native, compressed as they come, in blocks of
 * block_bytes), as the shipper builds its batches. */
static void build_streamed(Compression comp, size_t block_bytes, StrBuf *json, StrBuf *native) {
        TransformOptions opts = {};
        TransformStats st = {};
        TransformResource res;
        NativeResource nres;
        StrBuf prefix = {.max = 64 * 1024};
        LogRow *row = malloc(sizeof(LogRow));
        BodyWriter wj, wn;

        cr_assert_not_null(row);
        cr_assert_eq(transform_resource_init(FILE_PATH, NULL, &res), 0);
        cr_assert_eq(native_resource_init(&res, &nres), 0);
        cr_assert_eq(transform_resource_prefix(FILE_PATH, NULL, &prefix), 0);
        cr_assert_eq(
                body_writer_init(
                        &wj, INSERT_FORMAT_JSON_EACH_ROW, comp, 3, false, block_bytes, 64 << 20, BIG),
                0);
        cr_assert_eq(
                body_writer_init(&wn, INSERT_FORMAT_NATIVE, comp, 3, false, block_bytes, 64 << 20, BIG), 0);
        /* Twice: the second body reuses the writers' buffers and compressors. */
        for (int round = 0; round < 2; round++) {
                cr_assert_eq(body_writer_begin(&wj), 0);
                cr_assert_eq(body_writer_begin(&wn), 0);
                for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                        char *big = cases[i].text ? NULL : big_text(i);
                        const char *text = big ?: cases[i].text;
                        LogMessage m = {
                                .text = text,
                                .len = cases[i].len ?: strlen(text),
                                .time_ns = cases[i].time_ns,
                                .stream = cases[i].stream,
                                .truncated = cases[i].truncated,
                        };
                        transform_parse(&m, NOW_NS, row, &st);
                        cr_assert_eq(body_writer_add(&wj, &opts, prefix.data, prefix.len, &nres, row), 0);
                        cr_assert_eq(body_writer_add(&wn, &opts, prefix.data, prefix.len, &nres, row), 0);
                        free(big);
                }
                cr_assert_eq(wn.n_rows, ELEMENTSOF(cases));
                cr_assert_gt(body_writer_raw_bytes(&wj), body_writer_raw_bytes(&wn));
                cr_assert_eq(body_writer_finish(&wj), 0);
                cr_assert_eq(body_writer_finish(&wn), 0);
                if (comp != COMPRESSION_NONE)
                        cr_assert_lt(
                                wn.body.len,
                                wn.raw_bytes / 4,
                                "compressed: %zu of %llu",
                                wn.body.len,
                                (unsigned long long) wn.raw_bytes);
        }
        *json = body_writer_take(&wj);
        *native = body_writer_take(&wn);
        cr_assert_eq(wn.body.len, 0);
        body_writer_done(&wj);
        body_writer_done(&wn);
        native_resource_done(&nres);
        transform_resource_done(&res);
        strbuf_done(&prefix);
        free(row);
}

static void check_values(const char *tn);

static void same_rows_streamed(Compression comp, size_t block_bytes, const char *suffix) {
        char tj[64], tn[64];
        StrBuf json, native;

        snprintf(tj, sizeof(tj), "json_%s", suffix);
        snprintf(tn, sizeof(tn), "native_%s", suffix);
        create_otel_logs(tj);
        create_otel_logs(tn);
        build_streamed(comp, block_bytes, &json, &native);
        insert_body(tj, "JSONEachRow", comp, true, &json);
        insert_body(tn, "Native", comp, true, &native);
        assert_same_rows(
                tj, tn, "*, `__hdx_materialized_k8s.pod.name`, `__hdx_materialized_k8s.container.name`");
        check_values(tn);
        strbuf_done(&json);
        strbuf_done(&native);
}

Test(native, streamed_zstd_small_blocks, .init = setup, .fini = teardown) {
        same_rows_streamed(COMPRESSION_ZSTD, 4096, "stream_zstd");
}

Test(native, streamed_gzip, .init = setup, .fini = teardown) {
        same_rows_streamed(COMPRESSION_GZIP, 256 * 1024, "stream_gzip");
}

Test(native, streamed_none, .init = setup, .fini = teardown) {
        same_rows_streamed(COMPRESSION_NONE, 1024, "stream_none");
}

static void same_rows(Compression comp, size_t block_rows, const char *suffix) {
        char tj[64], tn[64];
        StrBuf json, native;

        snprintf(tj, sizeof(tj), "json_%s", suffix);
        snprintf(tn, sizeof(tn), "native_%s", suffix);
        create_otel_logs(tj);
        create_otel_logs(tn);
        build_bodies(false, block_rows, &json, &native);
        insert(tj, "JSONEachRow", comp, &json);
        insert(tn, "Native", comp, &native);
        /* Every column, the DEFAULT ones (from LogAttributes) and the MATERIALIZED ones included. */
        assert_same_rows(
                tj, tn, "*, `__hdx_materialized_k8s.pod.name`, `__hdx_materialized_k8s.container.name`");
        check_values(tn);
        strbuf_done(&json);
        strbuf_done(&native);
}

/* The values are the ones meant, not merely equal. */
static void check_values(const char *tn) {
        char sql[512];

        snprintf(sql, sizeof(sql), "SELECT count(), countIf(empty(LogAttributes)) FROM %s FORMAT TSV", tn);
        expect(sql, "18\t5\n");
        snprintf(
                sql,
                sizeof(sql),
                "SELECT length(Body), countSubstrings(Body, '\\n') FROM %s WHERE LogAttributes['case'] = 'big' FORMAT TSV",
                tn);
        expect(sql, "204800\t204\n");
        snprintf(
                sql,
                sizeof(sql),
                "SELECT hex(Body), LogAttributes['v'] FROM %s WHERE SeverityNumber = 17 FORMAT TSV",
                tn);
        expect(sql, "62616420FFFEC32075746638\t\x80\x81\n");
        snprintf(
                sql,
                sizeof(sql),
                "SELECT Body, LogAttributes['k\\xC3\\xA9y'], LogAttributes['obj'], LogAttributes['num'], "
                "LogAttributes['t'], LogAttributes['n'], Timestamp FROM %s WHERE SeverityText = 'WARN' AND "
                "ResourceAttributes['log.iostream'] = 'stderr' FORMAT TSV",
                tn);
        expect(sql,
               "quote \" backslash \\\\ nl \\n tab \\t e \xc3\xa9 pair \xf0\x9f\x98\x80 nul \\0 slash / ctl \x1f\t"
               "v\\\\\"\t{\"a\":[1,2,{\"b\":\"c\\\\\"d\"}]}\t-1.5e3\ttrue\tnull\t2026-12-06 10:00:00.500000000\n");
        snprintf(
                sql,
                sizeof(sql),
                "SELECT SeverityText, SeverityNumber FROM %s WHERE Body IN ('n', 'e', 'd') ORDER BY Timestamp FORMAT TSV",
                tn);
        expect(sql, "NOTICE\t0\nwarn\t0\nFATAL\t21\nDEBUG\t5\n");
        snprintf(
                sql,
                sizeof(sql),
                "SELECT RandomNumber, RandomString, Count, ServiceName, ResourceAttributes['k8s.pod.name'] FROM %s WHERE Body = 'tick' FORMAT TSV",
                tn);
        expect(sql, "42\tgamma\t1\tloggen\tloggen-7d9f\n");
        snprintf(
                sql,
                sizeof(sql),
                "SELECT toUnixTimestamp64Nano(Timestamp) FROM %s WHERE Body IN ('runtime time', 'no time') ORDER BY Timestamp FORMAT TSV",
                tn);
        expect(sql, "1765000014999999999\n1765000099000000000\n");
}

Test(native, same_rows_as_json_uncompressed, .init = setup, .fini = teardown) {
        same_rows(COMPRESSION_NONE, 1000, "none");
}

Test(native, same_rows_as_json_zstd_in_blocks, .init = setup, .fini = teardown) {
        same_rows(COMPRESSION_ZSTD, 4, "zstd");
}

Test(native, same_rows_as_json_gzip_one_row_blocks, .init = setup, .fini = teardown) {
        same_rows(COMPRESSION_GZIP, 1, "gzip");
}

/* The seed columns, for a table that does not derive them: absent values are the types' defaults, as a
 * JSONEachRow row without them stores. */
Test(native, seed_columns, .init = setup, .fini = teardown) {
        static const char ddl[] =
                "CREATE TABLE %s (Timestamp DateTime64(9), SeverityText LowCardinality(String), SeverityNumber "
                "UInt8, ServiceName LowCardinality(String), ResourceAttributes Map(LowCardinality(String), "
                "String), Body String, LogAttributes Map(LowCardinality(String), String), RandomNumber Int32, "
                "RandomString LowCardinality(String), Count UInt64) ENGINE = MergeTree ORDER BY Timestamp";
        char sql[1024];
        StrBuf json, native;

        snprintf(sql, sizeof(sql), ddl, "seed_json");
        free(query(sql));
        snprintf(sql, sizeof(sql), ddl, "seed_native");
        free(query(sql));
        build_bodies(true, 5, &json, &native);
        insert("seed_json", "JSONEachRow", COMPRESSION_ZSTD, &json);
        insert("seed_native", "Native", COMPRESSION_ZSTD, &native);
        assert_same_rows("seed_json", "seed_native", "*");
        expect("SELECT RandomNumber, RandomString, Count FROM seed_native WHERE Body = 'tick' FORMAT TSV",
               "42\tgamma\t1\n");
        strbuf_done(&json);
        strbuf_done(&native);
}

/* A block that would pass the column limit is refused whole and leaves the block as it was. */
Test(native, column_limit) {
        TransformResource res;
        NativeResource nres;
        NativeBlock nb;
        TransformStats st = {};
        LogRow *row = malloc(sizeof(LogRow));
        char *big = big_text(15);
        LogMessage small = {.text = "{\"msg\":\"x\"}", .len = 11, .stream = LOG_STREAM_STDOUT};
        LogMessage large = {.text = big, .len = strlen(big), .stream = LOG_STREAM_STDOUT};
        StrBuf out = {.max = 1024 * 1024};

        cr_assert_eq(transform_resource_init(FILE_PATH, "svc", &res), 0);
        cr_assert_eq(native_resource_init(&res, &nres), 0);
        native_block_init(&nb, false, 64 * 1024);
        transform_parse(&small, 1, row, &st);
        cr_assert_eq(native_block_add(&nb, &nres, row), 0);
        size_t size = native_block_size(&nb);
        transform_parse(&large, 2, row, &st);
        cr_assert_eq(native_block_add(&nb, &nres, row), -ENOBUFS);
        cr_assert_eq(nb.rows, 1);
        cr_assert_eq(native_block_size(&nb), size);
        cr_assert_eq(native_block_write_buf(&nb, &out), 0);
        cr_assert_eq(out.len, size);
        cr_assert_eq(nb.rows, 0);
        cr_assert_eq(native_block_size(&nb), 0);
        /* Header: 7 columns, 1 row, then "Timestamp" "DateTime64(9)" and its 8 bytes. */
        cr_assert_eq(
                memcmp(out.data,
                       "\x07\x01\x09Timestamp\x0d"
                       "DateTime64(9)\x01\0\0\0\0\0\0\0",
                       34),
                0);
        strbuf_done(&out);
        native_block_done(&nb);
        native_resource_done(&nres);
        transform_resource_done(&res);
        free(big);
        free(row);
}
