/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clickhouse-client.h"
#include "curl-glue.h"
#include "duration.h"
#include "macro.h"
#include "util.h"

/* The client against the real engine: the embedded endpoint on libchdb, started by with-endpoint.py
 * (CLICKHOUSE_URL, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD). Each test works in a table of its own. */

typedef struct Outcome {
        bool done;
        ClickHouseResult result;
        long status, code;
        char body[4096], error[700];
} Outcome;

static sd_event *event;
static CurlGlue *glue;
static ClickHouseClient *client;

static ClickHouseClient *client_for(const char *password) {
        ClickHouseClient *c;
        const char *u = getenv("CLICKHOUSE_URL");
        cr_assert_not_null(u, "run through with-endpoint.py");
        cr_assert_eq(
                clickhouse_client_new(
                        glue,
                        &(ClickHouseClientConfig){
                                .url = u,
                                .user = getenv("CLICKHOUSE_USER"),
                                .password = password,
                                .database = "default",
                                .timeout_usec = 120 * USEC_PER_SEC,
                        },
                        &c),
                0);
        return c;
}

static void setup(void) {
        cr_assert_eq(sd_event_new(&event), 0);
        cr_assert_eq(curl_glue_new(event, &glue), 0);
        client = client_for(getenv("CLICKHOUSE_PASSWORD"));
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
        o->status = reply->http_status;
        o->code = reply->exception_code;
        snprintf(o->body, sizeof(o->body), "%s", reply->body);
        snprintf(o->error, sizeof(o->error), "%s", strempty(reply->error));
}

static void wait_for(Outcome *o) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + 120 * USEC_PER_SEC;
        while (!o->done) {
                cr_assert_lt(now_usec(CLOCK_MONOTONIC), deadline, "no completion within 120 s");
                cr_assert_geq(sd_event_run(event, 100000), 0);
        }
}

static const char *query_ok(const char *sql) {
        static Outcome o;
        o = (Outcome){};
        cr_assert_eq(clickhouse_query(client, &(ClickHouseQuery){.sql = sql}, on_done, &o, NULL), 0);
        wait_for(&o);
        cr_assert_eq(o.result, CLICKHOUSE_OK, "%s: %s", sql, o.error);
        return o.body;
}

static void create_table(const char *name) {
        char sql[512];
        snprintf(
                sql,
                sizeof(sql),
                "CREATE TABLE %s (a UInt32, s String) ENGINE = MergeTree ORDER BY a "
                "SETTINGS non_replicated_deduplication_window = 100",
                name);
        (void) query_ok(sql);
}

static Outcome insert(ClickHouseClient *c, const ClickHouseInsert *ins) {
        Outcome o = {};
        cr_assert_eq(clickhouse_insert(c, ins, on_done, &o, NULL), 0);
        wait_for(&o);
        return o;
}

static void dedup_roundtrip(const char *table, Compression comp) {
        static const char rows[] =
                "{\"a\":1,\"s\":\"x\"}\n{\"a\":2,\"s\":\"y\\n\"}\n{\"a\":3,\"s\":\"z\"}\n";
        const ClickHouseSetting token[] = {{"insert_deduplication_token", "file-7-0-52"}};
        ClickHouseInsert ins = {
                .table = table,
                .format = "JSONEachRow",
                .content_type = "application/x-ndjson",
                .settings = token,
                .n_settings = 1,
                .compression = comp,
                .compression_level = 1,
                .data = rows,
                .size = sizeof(rows) - 1,
        };
        char sql[256];
        Outcome o;

        create_table(table);
        /* The same batch twice, as a retry after a lost acknowledgement sends it: stored once. */
        for (int i = 0; i < 2; i++) {
                o = insert(client, &ins);
                cr_assert_eq(o.result, CLICKHOUSE_OK, "%s", o.error);
        }
        snprintf(
                sql,
                sizeof(sql),
                "SELECT count(), sum(a), anyIf(s, a = 2) FROM %s FORMAT TabSeparated",
                table);
        cr_assert_str_eq(query_ok(sql), "3\t6\ty\\n\n");
}

Test(endpoint, insert_none_deduplicated, .init = setup, .fini = teardown) {
        dedup_roundtrip("t_none", COMPRESSION_NONE);
}
Test(endpoint, insert_gzip_deduplicated, .init = setup, .fini = teardown) {
        dedup_roundtrip("t_gzip", COMPRESSION_GZIP);
}
Test(endpoint, insert_zstd_deduplicated, .init = setup, .fini = teardown) {
        dedup_roundtrip("t_zstd", COMPRESSION_ZSTD);
}

typedef struct Rows {
        unsigned next, n;
} Rows;

/* Whole rows only, as a body encoder of a row format would produce them. */
static ssize_t produce(void *buf, size_t size, void *userdata) {
        Rows *p = userdata;
        size_t w = 0;
        char line[64];

        while (p->next < p->n) {
                int l = snprintf(line, sizeof(line), "{\"a\":%u,\"s\":\"r%u\"}\n", p->next, p->next % 7);
                if (w + (size_t) l > size)
                        break;
                memcpy((char *) buf + w, line, (size_t) l);
                w += (size_t) l;
                p->next++;
        }
        return (ssize_t) w;
}

static void streamed(const char *table, Compression comp) {
        Rows p = {.n = 200000};
        ClickHouseInsert ins = {
                .table = table,
                .format = "JSONEachRow",
                .compression = comp,
                .compression_level = 1,
                .produce = produce,
                .produce_userdata = &p,
        };
        char sql[256];
        Outcome o;

        create_table(table);
        o = insert(client, &ins);
        cr_assert_eq(o.result, CLICKHOUSE_OK, "%s", o.error);
        snprintf(
                sql, sizeof(sql), "SELECT count(), sum(a), uniqExact(s) FROM %s FORMAT TabSeparated", table);
        cr_assert_str_eq(query_ok(sql), "200000\t19999900000\t7\n");
}

Test(endpoint, streamed_zstd, .init = setup, .fini = teardown) {
        streamed("s_zstd", COMPRESSION_ZSTD);
}
Test(endpoint, streamed_gzip, .init = setup, .fini = teardown) {
        streamed("s_gzip", COMPRESSION_GZIP);
}
Test(endpoint, streamed_none, .init = setup, .fini = teardown) {
        streamed("s_none", COMPRESSION_NONE);
}

Test(endpoint, malformed_row_is_malformed, .init = setup, .fini = teardown) {
        static const char bad[] = "{\"a\":1,\"s\":\"ok\"}\n{\"a\":\"not a number\",\"s\":\"x\"}\n";
        ClickHouseInsert ins = {
                .table = "m",
                .format = "JSONEachRow",
                .compression = COMPRESSION_ZSTD,
                .data = bad,
                .size = sizeof(bad) - 1,
        };
        Outcome o;

        create_table("m");
        o = insert(client, &ins);
        cr_assert_eq(o.result, CLICKHOUSE_MALFORMED, "code %ld: %s", o.code, o.error);
        cr_assert_neq(o.code, 0);
        cr_assert_not_null(strstr(o.error, "HTTP "), "%s", o.error);
        cr_assert_str_eq(
                query_ok("SELECT count() FROM m FORMAT TabSeparated"), "0\n", "nothing half-stored");
}

Test(endpoint, missing_table_is_retried, .init = setup, .fini = teardown) {
        ClickHouseInsert ins = {
                .table = "no_such_table", .format = "JSONEachRow", .data = "{}\n", .size = 3};
        Outcome o = insert(client, &ins);
        cr_assert_eq(o.result, CLICKHOUSE_RETRY);
        cr_assert_eq(o.code, 60, "UNKNOWN_TABLE, got %ld: %s", o.code, o.error);
}

Test(endpoint, wrong_password_is_retried, .init = setup, .fini = teardown) {
        ClickHouseClient *c = client_for("not-the-password");
        ClickHouseInsert ins = {.table = "x", .format = "JSONEachRow", .data = "{}\n", .size = 3};
        Outcome o = insert(c, &ins);
        cr_assert_eq(o.result, CLICKHOUSE_RETRY);
        cr_assert_eq(o.code, 516, "AUTHENTICATION_FAILED, got %ld: %s", o.code, o.error);
        clickhouse_client_free(c);
}

Test(endpoint, query_and_ping, .init = setup, .fini = teardown) {
        const ClickHouseSetting params[] = {{"param_n", "3"}};
        ClickHouseQuery q = {
                .sql = "SELECT number * 2 FROM system.numbers WHERE number < {n:UInt32} FORMAT TabSeparated",
                .settings = params,
                .n_settings = 1,
        };
        Outcome o = {};

        cr_assert_eq(clickhouse_query(client, &q, on_done, &o, NULL), 0);
        wait_for(&o);
        cr_assert_eq(o.result, CLICKHOUSE_OK, "%s", o.error);
        cr_assert_str_eq(o.body, "0\n2\n4\n");

        o = (Outcome){};
        cr_assert_eq(clickhouse_ping(client, on_done, &o, NULL), 0);
        wait_for(&o);
        cr_assert_eq(o.result, CLICKHOUSE_OK);
        cr_assert_str_eq(o.body, "Ok.\n");

        o = (Outcome){};
        cr_assert_eq(clickhouse_query(client, &(ClickHouseQuery){.sql = "SELEC 1"}, on_done, &o, NULL), 0);
        wait_for(&o);
        cr_assert_eq(o.result, CLICKHOUSE_RETRY);
        cr_assert_eq(o.code, 62, "SYNTAX_ERROR, got %ld", o.code);
}
