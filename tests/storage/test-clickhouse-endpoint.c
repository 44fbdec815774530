/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "cleanup.h"
#include "clickhouse-endpoint.h"
#include "macro.h"
#include "strbuf.h"

/* --- SQL ------------------------------------------------------------------------------------------------
 */

static void expect_point(const char *q, const char *want_rest) {
        size_t at = 0;
        bool ok = sql_insert_infile_point(q, strlen(q), &at);
        if (!want_rest) {
                cr_expect_not(ok, "expected no INFILE point in: %s", q);
                return;
        }
        cr_assert(ok, "expected an INFILE point in: %s", q);
        cr_expect_str_eq(q + at, want_rest, "for: %s", q);
}

Test(sql, insert_infile_point) {
        expect_point("INSERT INTO otel_logs FORMAT JSONEachRow", "FORMAT JSONEachRow");
        expect_point("insert into default.otel_logs format JSONEachRow\n", "format JSONEachRow\n");
        expect_point("INSERT INTO t (a, b) FORMAT CSV;", "FORMAT CSV;");
        expect_point(
                "INSERT INTO t SETTINGS insert_deduplication_token = 'x FORMAT y' FORMAT JSONEachRow",
                "SETTINGS insert_deduplication_token = 'x FORMAT y' FORMAT JSONEachRow");
        expect_point(
                "INSERT INTO `my table` FORMAT TSV -- trailing comment", "FORMAT TSV -- trailing comment");
        expect_point("/* c */ INSERT INTO TABLE t FORMAT Native", "FORMAT Native");
        expect_point("INSERT INTO FUNCTION remote('x', 'y') FORMAT Values", "FORMAT Values");

        expect_point("INSERT INTO t VALUES (1)", NULL);
        expect_point("INSERT INTO t SELECT * FROM input('a Int8') FORMAT CSV", NULL);
        expect_point("INSERT INTO t FORMAT JSONEachRow {\"a\":1}", NULL);
        expect_point("INSERT INTO t FROM INFILE '/etc/passwd' FORMAT CSV", NULL);
        expect_point("INSERT INTO t (x) WITH 1 AS y SELECT y", NULL);
        expect_point("SELECT 1 FORMAT JSON", NULL);
        expect_point("INSERT INTO t", NULL);
        expect_point("INSERT INTO t FORMAT", NULL);
        expect_point("INSERT t FORMAT CSV", NULL);
        expect_point("", NULL);
        expect_point("INSERT INTO t FORMAT 'x'", NULL);
        expect_point("INSERT INTO t ('unterminated FORMAT CSV", NULL);
}

Test(sql, read_only) {
        cr_expect(sql_is_read_only("SELECT 1", 8));
        cr_expect(sql_is_read_only("  with x as (select 1) select * from x", 38));
        cr_expect(sql_is_read_only("-- c\n(SELECT 1)", 15));
        cr_expect(sql_is_read_only("DESC otel_logs", 14));
        cr_expect(sql_is_read_only("SHOW TABLES", 11));
        cr_expect(sql_is_read_only("EXPLAIN SELECT 1", 16));
        cr_expect_not(sql_is_read_only("INSERT INTO t VALUES (1)", 24));
        cr_expect_not(sql_is_read_only("DROP TABLE t", 12));
        cr_expect_not(sql_is_read_only("SELECTX 1", 9));
        cr_expect_not(sql_is_read_only("", 0));
}

Test(sql, setting_names) {
        cr_expect(sql_valid_setting_name("max_threads"));
        cr_expect(sql_valid_setting_name("param_x1"));
        cr_expect(sql_valid_setting_name("_x"));
        cr_expect_not(sql_valid_setting_name(""));
        cr_expect_not(sql_valid_setting_name("1abc"));
        cr_expect_not(sql_valid_setting_name("a-b"));
        cr_expect_not(sql_valid_setting_name("a = 1; DROP TABLE t"));
        cr_expect_not(sql_valid_setting_name("a.b"));
}

/* --- errors ---------------------------------------------------------------------------------------------
 */

Test(error, parse_plain) {
        _cleanup_free_ char *t = NULL;
        int code = clickhouse_error_parse("Code: 60. DB::Exception: Unknown table x. (UNKNOWN_TABLE)", &t);
        cr_assert_eq(code, 60);
        cr_expect_str_eq(t, "Code: 60. DB::Exception: Unknown table x. (UNKNOWN_TABLE)");
}

Test(error, parse_unwraps_file_insert) {
        _cleanup_free_ char *t = NULL;
        int code = clickhouse_error_parse(
                "Code: 27. DB::Exception: Code: 27. DB::Exception: Cannot parse input: (at row 2)\n: (in file/uri "
                "/proc/self/fd/35): While executing ParallelParsingBlockInputFormat: While executing File: data for INSERT "
                "was parsed from file. (CANNOT_PARSE_INPUT_ASSERTION_FAILED) (version 26.5.1.1). "
                "(CANNOT_PARSE_INPUT_ASSERTION_FAILED)",
                &t);
        cr_assert_eq(code, 27);
        cr_expect_str_eq(
                t,
                "Code: 27. DB::Exception: Cannot parse input: (at row 2): While executing ParallelParsingBlockInputFormat. "
                "(CANNOT_PARSE_INPUT_ASSERTION_FAILED)");
}

Test(error, parse_foreign_message) {
        _cleanup_free_ char *t = NULL;
        cr_assert_eq(clickhouse_error_parse("something broke", &t), 1001);
        cr_expect_str_eq(t, "Code: 1001. DB::Exception: something broke. (STD_EXCEPTION)");
        free(TAKE_PTR(t));
        cr_assert_eq(clickhouse_error_parse("Code: x. DB::Exception: y", &t), 1001);
}

Test(error, names_and_status) {
        char buf[64];
        cr_expect_str_eq(
                clickhouse_error_name("Code: 1. DB::Exception: a (b). (SYNTAX_ERROR)\n", buf, sizeof(buf)),
                "SYNTAX_ERROR");
        cr_expect_str_eq(clickhouse_error_name("no name here", buf, sizeof(buf)), "");
        cr_expect_str_eq(clickhouse_error_name("(lower)", buf, sizeof(buf)), "");
        cr_expect_eq(clickhouse_error_http_status("AUTHENTICATION_FAILED"), 403);
        cr_expect_eq(clickhouse_error_http_status("REQUIRED_PASSWORD"), 401);
        cr_expect_eq(clickhouse_error_http_status("SYNTAX_ERROR"), 400);
        cr_expect_eq(clickhouse_error_http_status("UNKNOWN_TABLE"), 404);
        cr_expect_eq(clickhouse_error_http_status("QUERY_IS_TOO_LARGE"), 413);
        cr_expect_eq(clickhouse_error_http_status("TIMEOUT_EXCEEDED"), 408);
        cr_expect_eq(clickhouse_error_http_status("MEMORY_LIMIT_EXCEEDED"), 500);
        cr_expect_eq(clickhouse_error_http_status(""), 500);
}

/* --- schema file selection ------------------------------------------------------------------------------
 */

static char schema_dir[] = "/tmp/test-schema-XXXXXX";

static void touch(const char *name) {
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", schema_dir, name);
        FILE *f = fopen(p, "w");
        cr_assert_not_null(f);
        fputs("SELECT 1", f);
        fclose(f);
}

static void schema_setup(void) {
        cr_assert_not_null(mkdtemp(schema_dir));
        touch("10-otel_logs.sql");
        touch("10-otel_logs.compat.sql");
        touch("20-hourly.sql");
        touch("05-first.sql");
        touch("README.md");
        touch("system-logs.xml");
}

static void schema_teardown(void) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", schema_dir);
        cr_expect_eq(system(cmd), 0);
}

static void expect_files(char **files, const char *const *want) {
        size_t i = 0;
        for (; want[i]; i++) {
                cr_assert_not_null(files[i], "missing %s", want[i]);
                const char *base = strrchr(files[i], '/') + 1;
                cr_expect_str_eq(base, want[i]);
        }
        cr_expect_null(files[i]);
}

Test(schema, select_by_version, .init = schema_setup, .fini = schema_teardown) {
        _cleanup_strv_free_ char **new_files = NULL, **old_files = NULL, **boundary = NULL;
        unsigned major, minor;

        cr_assert_eq(schema_parse_version("26.5.1.1", &major, &minor), 0);
        cr_expect_eq(major, 26);
        cr_expect_eq(minor, 5);
        cr_expect_lt(schema_parse_version("26", &major, &minor), 0);
        cr_expect_lt(schema_parse_version("x.y", &major, &minor), 0);

        cr_assert_eq(schema_list_files(schema_dir, 26, 5, &new_files), 0);
        expect_files(
                new_files, (const char *const[]){"05-first.sql", "10-otel_logs.sql", "20-hourly.sql", NULL});
        cr_assert_eq(schema_list_files(schema_dir, 26, 2, &boundary), 0);
        expect_files(
                boundary, (const char *const[]){"05-first.sql", "10-otel_logs.sql", "20-hourly.sql", NULL});
        cr_assert_eq(schema_list_files(schema_dir, 25, 8, &old_files), 0);
        expect_files(
                old_files,
                (const char *const[]){"05-first.sql", "10-otel_logs.compat.sql", "20-hourly.sql", NULL});
}

Test(schema, repository_files) {
        _cleanup_strv_free_ char **files = NULL;
        cr_assert_eq(schema_list_files(SCHEMA_DIR, 26, 5, &files), 0);
        size_t n = 0, want = 0;
        for (char **f = files; *f; f++) {
                n++;
                cr_expect_null(strstr(*f, ".compat.sql"), "%s on a 26.5 server", *f);
        }
        /* Every X.sql of the directory, and no X.compat.sql, on 26.5. */
        DIR *d = opendir(SCHEMA_DIR);
        cr_assert_not_null(d);
        for (struct dirent *de; (de = readdir(d));) {
                size_t l = strlen(de->d_name);
                if (l > 4 && streq(de->d_name + l - 4, ".sql") && !strstr(de->d_name, ".compat.sql"))
                        want++;
        }
        closedir(d);
        cr_expect_gt(want, 10);
        cr_expect_eq(n, want);
        cr_expect_lt(schema_list_files("/nonexistent", 26, 5, &files), 0);
}

/* --- body decoding --------------------------------------------------------------------------------------
 */

static const char text[] = "INSERT INTO t FORMAT JSONEachRow {\"a\":1}\n{\"a\":2}\n";

static void decode(
        BodyEncoding enc, const void *data, size_t size, size_t max, int want_feed, int want_finish) {
        BodyDecoder *d = NULL;
        const char *out;
        size_t out_size;

        cr_assert_eq(body_decoder_new(enc, max, &d), 0);
        /* Byte by byte: chunk boundaries must not matter. */
        int r = 0;
        for (size_t i = 0; i < size && r == 0; i++)
                r = body_decoder_feed(d, (const char *) data + i, 1);
        cr_expect_eq(r, want_feed);
        if (r == 0) {
                cr_expect_eq(body_decoder_finish(d, &out, &out_size), want_finish);
                if (want_finish == 0) {
                        cr_expect_eq(out_size, strlen(text));
                        cr_expect_str_eq(out, text);
                }
        }
        body_decoder_free(d);
}

Test(body, encodings) {
        cr_expect_eq(body_encoding_from_string(NULL), BODY_IDENTITY);
        cr_expect_eq(body_encoding_from_string("GZIP"), BODY_GZIP);
        cr_expect_eq(body_encoding_from_string("zstd"), BODY_ZSTD);
        cr_expect_eq(body_encoding_from_string("br"), _BODY_ENCODING_INVALID);
        cr_expect_str_eq(body_encoding_to_compression(BODY_GZIP), "gzip");
        cr_expect_null(body_encoding_to_compression(BODY_IDENTITY));
}

Test(body, identity_and_limit) {
        decode(BODY_IDENTITY, text, strlen(text), 1024, 0, 0);
        decode(BODY_IDENTITY, text, strlen(text), 10, -E2BIG, 0);
}

Test(body, gzip) {
        unsigned char z[512];
        z_stream s = {};
        cr_assert_eq(deflateInit2(&s, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
        s.next_in = (Bytef *) text;
        s.avail_in = strlen(text);
        s.next_out = z;
        s.avail_out = sizeof(z);
        cr_assert_eq(deflate(&s, Z_FINISH), Z_STREAM_END);
        size_t n = sizeof(z) - s.avail_out;
        deflateEnd(&s);
        decode(BODY_GZIP, z, n, 1024, 0, 0);
        decode(BODY_GZIP, z, n, 10, -E2BIG, 0);
        decode(BODY_GZIP, z, n - 4, 1024, 0, -EBADMSG); /* truncated */
        decode(BODY_GZIP, "garbage!", 8, 1024, -EBADMSG, 0);
}

Test(body, zstd) {
        char z[512];
        size_t n = ZSTD_compress(z, sizeof(z), text, strlen(text), 3);
        cr_assert_not(ZSTD_isError(n));
        decode(BODY_ZSTD, z, n, 1024, 0, 0);
        decode(BODY_ZSTD, z, n, 10, -E2BIG, 0);
        decode(BODY_ZSTD, z, n - 3, 1024, 0, -EBADMSG);
        decode(BODY_ZSTD, "garbage!", 8, 1024, -EBADMSG, 0);
}

/* --- robustness on arbitrary input ----------------------------------------------------------------------
 */

/* Everything here reads text that comes from clients (queries, headers, bodies) or the engine. Random and
 * mutated inputs must never crash or read out of bounds (the sanitizer build checks the latter). */
Test(robustness, random_inputs) {
        static const char *const seeds[] = {
                "INSERT INTO t SETTINGS a = 'x' FORMAT JSONEachRow",
                "SELECT (1, [2, 'a\\'b'], `c`) -- x\n/* y */",
                "Code: 27. DB::Exception: Code: 27. DB::Exception: m (version 1). (NAME)",
                "\"unterminated `quote 'in (nested [brackets",
        };
        unsigned state = 12345;
        char buf[256];

        for (unsigned iter = 0; iter < 20000; iter++) {
                size_t n;
                state = state * 1103515245u + 12345u;
                if (iter % 2 == 0) {
                        /* mutate a seed */
                        const char *s = seeds[(state >> 8) % ELEMENTSOF(seeds)];
                        n = strlen(s);
                        memcpy(buf, s, n);
                        for (unsigned k = 0; k < 4; k++) {
                                state = state * 1103515245u + 12345u;
                                buf[(state >> 8) % n] = (char) (state >> 16);
                        }
                        n = (state >> 4) % (n + 1);
                } else {
                        n = (state >> 8) % 64;
                        for (size_t k = 0; k < n; k++) {
                                state = state * 1103515245u + 12345u;
                                buf[k] = "INSERTOFMA ()'\"`\\-/*#;\n:.0123"[(state >> 16) % 30];
                        }
                }
                /* Exact-size copies so that any overread is caught. */
                char *q = malloc(n + 1);
                cr_assert_not_null(q);
                memcpy(q, buf, n);
                q[n] = 0;

                size_t at = 0;
                if (sql_insert_infile_point(q, n, &at))
                        cr_assert_leq(at, n);
                (void) sql_is_read_only(q, n);
                (void) sql_valid_setting_name(q);

                char *msg = NULL, name[64];
                int code = clickhouse_error_parse(q, &msg);
                cr_assert_geq(code, 0);
                free(msg);
                (void) clickhouse_error_name(q, name, sizeof(name));
                cr_assert_lt(strlen(name), sizeof(name));
                free(q);
        }
}

Test(robustness, random_compressed_bodies) {
        unsigned state = 777;
        unsigned char buf[512];

        for (unsigned iter = 0; iter < 2000; iter++) {
                size_t n = 0;
                state = state * 1103515245u + 12345u;
                n = (state >> 8) % sizeof(buf);
                /* Valid magic numbers first, so the decoders get past their headers. */
                if (iter % 2 == 0) {
                        memcpy(buf, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", MIN(n, 10u));
                } else {
                        memcpy(buf, "\x28\xb5\x2f\xfd", MIN(n, 4u));
                }
                for (size_t k = iter % 2 == 0 ? 10 : 4; k < n; k++) {
                        state = state * 1103515245u + 12345u;
                        buf[k] = (unsigned char) (state >> 16);
                }
                for (BodyEncoding enc = BODY_IDENTITY; enc < _BODY_ENCODING_MAX; enc++) {
                        BodyDecoder *d = NULL;
                        const char *out;
                        size_t out_size;
                        cr_assert_eq(body_decoder_new(enc, 4096, &d), 0);
                        if (body_decoder_feed(d, buf, n) == 0 &&
                            body_decoder_finish(d, &out, &out_size) == 0)
                                cr_assert_leq(out_size, 4096u);
                        body_decoder_free(d);
                }
        }
}

/* --- ClickHouse's compressed framing ---------------------------------------------------------------------
 */

/* CityHash128 v1.0.2 of bytes (i * 131 + 7) % 251, as computed by an independent implementation (the Go
 * package github.com/go-faster/city, CH128, which clickhouse-go uses for the same framing). */
Test(frame, cityhash_vectors) {
        static const struct {
                size_t n;
                uint64_t lo, hi;
        } v[] = {
                {0, UINT64_C(0x3df09dfc64c09a2b), UINT64_C(0x3cb540c392e51e29)},
                {1, UINT64_C(0x8be55b379cce0e40), UINT64_C(0x05ab4744478b1cba)},
                {3, UINT64_C(0x2719d30f04a426eb), UINT64_C(0xa75210708737086e)},
                {4, UINT64_C(0xce096aa5f604755c), UINT64_C(0x5e5c623c1f725410)},
                {8, UINT64_C(0xb271590fd7f3e18b), UINT64_C(0x2a6bdd5549bba80c)},
                {9, UINT64_C(0x00b4ada22538c7cc), UINT64_C(0x9709e82195f3344b)},
                {15, UINT64_C(0xab267b14bfb538aa), UINT64_C(0x1ee55abd3839c228)},
                {16, UINT64_C(0xfa48737e683403cc), UINT64_C(0x70c62ffbf6592ea2)},
                {17, UINT64_C(0xb737c05bca33fda7), UINT64_C(0x9f8dfb9e13b6e2bd)},
                {31, UINT64_C(0x3a459b14d8e41c2c), UINT64_C(0xa63876ccf95da4c4)},
                {33, UINT64_C(0x9d6a053212d753a1), UINT64_C(0x2de1341e38df90ea)},
                {64, UINT64_C(0x85552978a6eff0b9), UINT64_C(0xeee1502d2fddc1d9)},
                {100, UINT64_C(0x430d544b41e24351), UINT64_C(0x0732356316bfb910)},
                {127, UINT64_C(0x72e7acb1118699b6), UINT64_C(0xe2400179e145b5d2)},
                {128, UINT64_C(0x0945539e340f5fc0), UINT64_C(0x020f7be2421d906e)},
                {129, UINT64_C(0x8f9d9e99332d3e49), UINT64_C(0xafd51c362a19bb23)},
                {200, UINT64_C(0x0629399329437d14), UINT64_C(0x8d4d5fc8150fbdac)},
                {255, UINT64_C(0x3bf523f774050b94), UINT64_C(0x5054380c07606984)},
                {256, UINT64_C(0x887ab2e266755b23), UINT64_C(0xf0454e7817f202b4)},
                {1000, UINT64_C(0xb0f747a2ec3b54f4), UINT64_C(0xa127239d421dc352)},
                {4099, UINT64_C(0x2764d6b905a8e087), UINT64_C(0xcb262b27cd54f36b)},
        };
        uint8_t buf[4099];
        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (uint8_t) ((i * 131 + 7) % 251);
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                uint64_t h[2];
                cityhash128_v1_0_2(buf, v[i].n, h);
                cr_expect_eq(h[0], v[i].lo, "low half for %zu bytes", v[i].n);
                cr_expect_eq(h[1], v[i].hi, "high half for %zu bytes", v[i].n);
        }
}

static int collect(void *userdata, const void *data, size_t size) {
        char **acc = userdata;
        size_t have = *acc ? strlen(*acc) : 0;
        char *p = realloc(*acc, have + size + 1);
        cr_assert_not_null(p);
        memcpy(p + have, data, size);
        p[have + size] = 0;
        *acc = p;
        return 0;
}

Test(frame, round_trip_every_method_and_split) {
        static const FrameMethod methods[] = {FRAME_METHOD_NONE, FRAME_METHOD_LZ4, FRAME_METHOD_ZSTD};
        size_t n = 3 * 1024 * 1024 + 17; /* several blocks */
        char *in = malloc(n + 1);
        cr_assert_not_null(in);
        for (size_t i = 0; i < n; i++)
                in[i] = (char) ('a' + (i * 7 / 13) % 26);
        in[n] = 0;
        for (size_t m = 0; m < ELEMENTSOF(methods); m++) {
                char *framed = NULL, *out = NULL;
                size_t framed_size;
                FrameDecoder *d;
                cr_assert_eq(frame_encode(methods[m], in, n, &framed, &framed_size), 0);
                cr_assert_eq(frame_decoder_new(true, collect, &out, &d), 0);
                /* Fed in odd pieces, as a network delivers it. */
                for (size_t off = 0; off < framed_size; off += 4093)
                        cr_assert_eq(
                                frame_decoder_feed(d, framed + off, MIN((size_t) 4093, framed_size - off)),
                                0);
                cr_expect_eq(frame_decoder_finish(d), 0);
                cr_assert_not_null(out);
                cr_expect_eq(strlen(out), n);
                cr_expect(memcmp(out, in, n) == 0, "method 0x%x", methods[m]);
                frame_decoder_free(d);
                free(out);
                out = NULL;

                /* A flipped payload bit is a checksum error; with checking off it passes for method none. */
                framed[framed_size - 1] ^= 1;
                cr_assert_eq(frame_decoder_new(true, collect, &out, &d), 0);
                cr_expect_eq(frame_decoder_feed(d, framed, framed_size), -EILSEQ);
                frame_decoder_free(d);
                free(out);
                out = NULL;
                /* Cut short: an error at the end, never a shorter body. */
                cr_assert_eq(frame_decoder_new(false, collect, &out, &d), 0);
                framed[framed_size - 1] ^= 1;
                cr_expect_eq(frame_decoder_feed(d, framed, framed_size - 5), 0);
                cr_expect_eq(frame_decoder_finish(d), -EBADMSG);
                frame_decoder_free(d);
                free(out);
                free(framed);
        }
        free(in);
}

Test(frame, unknown_method_and_huge_block) {
        uint8_t block[25] = {0};
        FrameDecoder *d;
        char *out = NULL;
        block[16] = 0x91; /* a multiple-codec block: not supported */
        block[17] = 9;
        cr_assert_eq(frame_decoder_new(false, collect, &out, &d), 0);
        cr_expect_eq(frame_decoder_feed(d, block, sizeof(block)), -EPROTONOSUPPORT);
        frame_decoder_free(d);
        memset(block, 0, sizeof(block));
        block[16] = 0x82;
        block[20] = 0x50; /* size_compressed 0x50000000 */
        cr_assert_eq(frame_decoder_new(false, collect, &out, &d), 0);
        cr_expect_eq(frame_decoder_feed(d, block, sizeof(block)), -EFBIG);
        frame_decoder_free(d);
        free(out);
}

/* --- Native revisions ------------------------------------------------------------------------------------
 */

static int append_buf(void *userdata, const void *data, size_t size) {
        StrBuf *b = userdata;
        return strbuf_append(b, data, size);
}

/* One block of revision 0: (a UInt8 = 1, 2), (s String = "x", "yz"), (m Map(LowCardinality(String), String)
 * = {'k':'v'}, {}), (n Nullable(Int32) = NULL, 5). */
static const uint8_t native_r0[] = {
        4,   2,                                                               /* columns, rows */
        1,   'a', 5,   'U', 'I', 'n', 't', '8', 1,   2,                       /* a */
        1,   's', 6,   'S', 't', 'r', 'i', 'n', 'g', 1,   'x', 2,   'y', 'z', /* s */
        1,   'm', 35,  'M', 'a', 'p', '(', 'L', 'o', 'w', 'C', 'a', 'r', 'd', 'i', 'n',
        'a', 'l', 'i', 't', 'y', '(', 'S', 't', 'r', 'i', 'n', 'g', ')', ',', ' ', 'S',
        't', 'r', 'i', 'n', 'g', ')', 1,   0,   0,   0,   0,   0,   0,   0, /* LowCardinality key version */
        1,   0,   0,   0,   0,   0,   0,   0,                               /* offsets: 1 */
        1,   0,   0,   0,   0,   0,   0,   0,                               /* offsets: 1 */
        0,   2,   0,   0,   0,   0,   0,   0, /* LC index type: UInt8 keys, has additional keys */
        1,   0,   0,   0,   0,   0,   0,   0, /* 1 key */
        1,   'k',                             /* the key */
        1,   0,   0,   0,   0,   0,   0,   0, /* 1 row */
        0,                                    /* index */
        1,   'v',                             /* value */
        1,   'n', 15,  'N', 'u', 'l', 'l', 'a', 'b', 'l', 'e', '(', 'I', 'n', 't', '3',
        '2', ')', 1,   0,                     /* null map */
        0,   0,   0,   0,   5,   0,   0,   0, /* values */
};

Test(native, revision_round_trip) {
        StrBuf up = STRBUF_INIT(1 << 20), down = STRBUF_INIT(1 << 20);
        char *error = NULL;

        cr_assert_eq(
                native_convert(native_r0, sizeof(native_r0), 0, 54460, append_buf, &up, &error),
                0,
                "%s",
                error);
        /* Block info (8 bytes) and one byte per column. */
        cr_expect_eq(up.len, sizeof(native_r0) + 8 + 4);
        static const uint8_t info[] = {1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0};
        cr_expect(memcmp(up.data, info, sizeof(info)) == 0);
        cr_expect_eq((uint8_t) up.data[8 + 2 + 2 + 6], 0, "serialization byte after a's type");
        cr_expect_eq((uint8_t) up.data[8 + 2 + 2 + 6 + 1], 1, "a's first value after it");
        cr_assert_eq(native_convert(up.data, up.len, 54460, 0, append_buf, &down, &error), 0, "%s", error);
        cr_expect_eq(down.len, sizeof(native_r0));
        cr_expect(memcmp(down.data, native_r0, sizeof(native_r0)) == 0);
        /* Two blocks in a row convert too. */
        strbuf_reset(&down);
        char *copy = malloc(up.len);
        cr_assert_not_null(copy);
        memcpy(copy, up.data, up.len);
        cr_assert_eq(strbuf_append(&up, copy, up.len), 0);
        free(copy);
        cr_assert_eq(native_convert(up.data, up.len, 54460, 0, append_buf, &down, &error), 0, "%s", error);
        cr_expect_eq(down.len, 2 * sizeof(native_r0));
        strbuf_done(&up);
        strbuf_done(&down);
}

Test(native, refuses_what_it_cannot_walk) {
        StrBuf out = STRBUF_INIT(1 << 20);
        char *error = NULL;
        /* Every truncation of a valid block is an error, never a shorter stream. */
        for (size_t n = 1; n < sizeof(native_r0); n++) {
                cr_expect_lt(
                        native_convert(native_r0, n, 0, 54460, append_buf, &out, &error), 0, "at %zu", n);
                free(error);
                error = NULL;
                strbuf_reset(&out);
        }
        static const uint8_t dynamic[] = {1, 1, 1, 'd', 7, 'D', 'y', 'n', 'a', 'm', 'i', 'c', 0, 0};
        cr_expect_eq(
                native_convert(dynamic, sizeof(dynamic), 0, 54460, append_buf, &out, &error), -EOPNOTSUPP);
        cr_expect(error && strstr(error, "Dynamic"), "%s", error);
        free(error);
        strbuf_done(&out);
}

/* --- multipart -------------------------------------------------------------------------------------------
 */

Test(multipart, fields_and_files) {
        static const char body[] =
                "--XyZ\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\nSELECT {p:String}\r\n"
                "--XyZ\r\nContent-Disposition: form-data; name=\"param_p\"\r\n\r\na\r\nb\r\n"
                "--XyZ\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n"
                "--XyZ\r\nContent-Disposition: form-data; name=\"t\"; filename=\"t.tsv\"\r\n"
                "Content-Type: text/plain\r\n\r\n1\t2\r\n--XyZ--\r\n";
        MultipartPart *parts;
        size_t n;
        char *b = multipart_boundary("multipart/form-data; boundary=XyZ");
        cr_assert_str_eq(b, "XyZ");
        cr_assert_eq(multipart_parse(body, strlen(body), b, &parts, &n), 0);
        cr_assert_eq(n, 4);
        cr_expect_str_eq(parts[0].name, "query");
        cr_expect_str_eq(parts[0].value, "SELECT {p:String}");
        cr_expect_str_eq(parts[1].value, "a\r\nb");
        cr_expect_eq(parts[2].size, 0);
        cr_expect_null(parts[1].filename);
        cr_expect_str_eq(parts[3].filename, "t.tsv");
        cr_expect_str_eq(parts[3].value, "1\t2");
        multipart_parts_free(parts, n);
        free(b);
        b = multipart_boundary("multipart/form-data; charset=utf-8; boundary=\"a b\"");
        cr_expect_str_eq(b, "a b");
        free(b);
        cr_expect_null(multipart_boundary("text/plain; boundary=x"));
        /* Broken bodies are errors, whatever is cut. */
        for (size_t cut = 0; cut < strlen(body) - 4; cut++)
                if (multipart_parse(body, cut, "XyZ", &parts, &n) == 0)
                        multipart_parts_free(parts, n);
}

/* Mutated and random inputs for the parsers of this file's newer formats: the Native walker, the framing
 * decoder, the multipart parser, the inline-INSERT splitter. None may crash or read out of bounds
 * (exact-size copies; the sanitizer build checks), and what the walker accepts it must write back byte for
 * byte. */
static int discard(void *userdata, const void *data, size_t size) {
        return 0;
}

Test(robustness, random_native_frames_forms) {
        static const char form[] =
                "--b\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\nSELECT 1\r\n"
                "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\nab\r\n--b--\r\n";
        char *framed = NULL;
        size_t framed_size;
        unsigned state = 777;

        cr_assert_eq(
                frame_encode(FRAME_METHOD_LZ4, "hello hello hello hello", 23, &framed, &framed_size), 0);
        for (unsigned iter = 0; iter < 20000; iter++) {
                const void *seed;
                size_t n;
                unsigned kind = iter % 4;
                state = state * 1103515245u + 12345u;
                if (kind == 0)
                        seed = native_r0, n = sizeof(native_r0);
                else if (kind == 1)
                        seed = framed, n = framed_size;
                else if (kind == 2)
                        seed = form, n = strlen(form);
                else
                        seed = "INSERT INTO t (a) SETTINGS x = 1 FORMAT TSV \r\n1\t2\n", n = 48;
                uint8_t *buf = malloc(n);
                cr_assert_not_null(buf);
                memcpy(buf, seed, n);
                for (unsigned k = 0; k < 1 + iter % 3; k++) {
                        state = state * 1103515245u + 12345u;
                        buf[(state >> 8) % n] = (uint8_t) (state >> 16);
                }
                state = state * 1103515245u + 12345u;
                size_t len = iter % 5 == 0 ? (state >> 4) % (n + 1) : n;
                uint8_t *q = malloc(len + 1);
                cr_assert_not_null(q);
                memcpy(q, buf, len);

                if (kind == 0) {
                        StrBuf up = STRBUF_INIT(1 << 20), down = STRBUF_INIT(1 << 20);
                        char *error = NULL;
                        if (native_convert(q, len, 0, 54460, append_buf, &up, &error) == 0) {
                                cr_assert_eq(
                                        native_convert(up.data, up.len, 54460, 0, append_buf, &down, &error),
                                        0);
                                cr_assert_eq(down.len, len);
                                cr_assert(len == 0 || memcmp(down.data, q, len) == 0);
                        }
                        free(error);
                        strbuf_done(&up);
                        strbuf_done(&down);
                } else if (kind == 1) {
                        FrameDecoder *d;
                        cr_assert_eq(frame_decoder_new(iter % 2, discard, NULL, &d), 0);
                        if (frame_decoder_feed(d, q, len) == 0)
                                (void) frame_decoder_finish(d);
                        frame_decoder_free(d);
                } else if (kind == 2) {
                        MultipartPart *parts;
                        size_t np;
                        if (multipart_parse((const char *) q, len, "b", &parts, &np) == 0) {
                                for (size_t i = 0; i < np; i++)
                                        cr_assert_leq(parts[i].size, len);
                                multipart_parts_free(parts, np);
                        }
                } else {
                        size_t at, end, data;
                        char fmt[16];
                        q[len] = 0;
                        if (sql_insert_inline_data((const char *) q, len, &at, &end, &data))
                                cr_assert(at <= end && end <= data && data <= len);
                        if (sql_format_clause((const char *) q, len, fmt, sizeof(fmt)))
                                cr_assert_lt(strlen(fmt), sizeof(fmt));
                }
                free(q);
                free(buf);
        }
        free(framed);
}

Test(sql, inline_data_and_format_clause) {
        static const struct {
                const char *q, *stmt, *data;
        } cases[] = {
                {"INSERT INTO t FORMAT TSV\n1\t2\n", "INSERT INTO t FORMAT TSV", "1\t2\n"},
                {"INSERT INTO t (a) SETTINGS x = 1 FORMAT Native  \r\n\n\x02",
                 "INSERT INTO t (a) SETTINGS x = 1 FORMAT Native",
                 "\n\x02"},
                {"insert into db.t format JSONEachRow {\"a\":1}",
                 "insert into db.t format JSONEachRow",
                 "{\"a\":1}"},
                {"INSERT INTO t FORMAT TSV", "INSERT INTO t FORMAT TSV", ""},
                {"INSERT INTO t VALUES (1)", NULL, NULL},
                {"INSERT INTO t SELECT 1 FORMAT TSV", NULL, NULL},
                {"SELECT 1 FORMAT TSV", NULL, NULL},
                {"INSERT INTO t FORMAT TSV; SELECT 1", NULL, NULL},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                size_t at, end, data, n = strlen(cases[i].q);
                bool ok = sql_insert_inline_data(cases[i].q, n, &at, &end, &data);
                cr_expect_eq(ok, cases[i].stmt != NULL, "%s", cases[i].q);
                if (!ok || !cases[i].stmt)
                        continue;
                cr_expect_eq(end, strlen(cases[i].stmt), "%s", cases[i].q);
                cr_expect_str_eq(cases[i].q + data, cases[i].data, "%s", cases[i].q);
                cr_expect(
                        strncmp(cases[i].q + at, "SETTINGS", 8) == 0 ||
                        strncasecmp(cases[i].q + at, "FORMAT", 6) == 0);
        }
        char fmt[64];
        cr_expect(sql_format_clause("SELECT 1 FORMAT JSONEachRow", 27, fmt, sizeof(fmt)));
        cr_expect_str_eq(fmt, "JSONEachRow");
        cr_expect(sql_format_clause(
                "SELECT * FROM (SELECT 1 FORMAT TSV) FORMAT Native SETTINGS a = 1", 63, fmt, sizeof(fmt)));
        cr_expect_str_eq(fmt, "Native");
        cr_expect_not(
                sql_format_clause("SELECT format('{}', 'x'), 'FORMAT CSV' AS format", 48, fmt, sizeof(fmt)));
}
