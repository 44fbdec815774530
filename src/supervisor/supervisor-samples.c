/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-libs.h"
#include "log.h"
#include "parse-util.h"
#include "supervisor-samples.h"

/* A reply is one line of six numbers. */
#define SAMPLE_REPLY_MAX (64 * 1024)

struct SampleChecker {
        ClickHouseClient *client;
        char *url; /* for messages */
        char *sql;
        ClickHouseRequest *request; /* the query under way */
        SampleQuality result;
};

int sample_quality_parse(const char *tsv, SampleQuality *q) {
        uint64_t v[6];
        const char *p = tsv;

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                bool last = i == ELEMENTSOF(v) - 1;
                char num[32];
                size_t n = strcspn(p, last ? "\n" : "\t");
                if (n == 0 || n >= sizeof(num) || p[n] != (last ? '\n' : '\t'))
                        return -EBADMSG;
                memcpy(num, p, n);
                num[n] = 0;
                if (safe_atou64(num, &v[i]) < 0)
                        return -EBADMSG;
                p += n + 1;
        }
        if (*p)
                return -EBADMSG;
        q->samples = v[0];
        q->workloads = v[1];
        q->gaps = v[2];
        q->cpu_over = v[3];
        q->memory_over = v[4];
        q->unbilled_late = v[5];
        return 0;
}

int sample_quality_metrics(const SampleQuality *q, StrBuf *out) {
        if (!q->checked || q->error)
                return 0;
        return strbuf_printf(
                out,
                "# HELP otel_supervisor_resource_samples_last_hour Resource samples stored in the last hour.\n"
                "# TYPE otel_supervisor_resource_samples_last_hour gauge\n"
                "otel_supervisor_resource_samples_last_hour %" PRIu64 "\n"
                "# HELP otel_supervisor_resource_workloads_last_hour Workloads sampled in the last hour.\n"
                "# TYPE otel_supervisor_resource_workloads_last_hour gauge\n"
                "otel_supervisor_resource_workloads_last_hour %" PRIu64 "\n"
                "# HELP otel_supervisor_resource_sample_issues_last_hour Samples of the last hour flagged by the "
                "sampler's data-quality checks.\n"
                "# TYPE otel_supervisor_resource_sample_issues_last_hour gauge\n"
                "otel_supervisor_resource_sample_issues_last_hour{check=\"gap\"} %" PRIu64 "\n"
                "otel_supervisor_resource_sample_issues_last_hour{check=\"cpu_over_allocation\"} %" PRIu64
                "\n"
                "otel_supervisor_resource_sample_issues_last_hour{check=\"memory_over_limit\"} %" PRIu64 "\n"
                "# HELP otel_supervisor_resource_unbilled_late_samples Samples of hours older than the billing "
                "refresh window that no bill includes.\n"
                "# TYPE otel_supervisor_resource_unbilled_late_samples gauge\n"
                "otel_supervisor_resource_unbilled_late_samples %" PRIu64 "\n",
                q->samples,
                q->workloads,
                q->gaps,
                q->cpu_over,
                q->memory_over,
                q->unbilled_late);
}

static void set_error(SampleChecker *c, const char *msg) {
        free(c->result.error);
        c->result.error = strdup(msg);
}

static void on_done(ClickHouseRequest *req, const ClickHouseReply *reply, void *userdata) {
        SampleChecker *c = userdata;
        char msg[512];

        c->request = NULL;
        c->result.checked = true;
        if (reply->curl_code != CURLE_OK) {
                (void) snprintf(msg, sizeof(msg), "%s: %s", c->url, curl_easy_strerror(reply->curl_code));
                set_error(c, msg);
                return;
        }
        if (reply->http_status != 200) {
                (void) snprintf(
                        msg,
                        sizeof(msg),
                        "HTTP %ld: %.*s",
                        reply->http_status,
                        (int) strcspn(reply->body, "\n"),
                        reply->body);
                set_error(c, msg);
                return;
        }
        if (sample_quality_parse(reply->body, &c->result) < 0) {
                set_error(c, "unexpected answer to the sample quality query");
                return;
        }
        c->result.error = mfree(c->result.error);
}

int sample_checker_run(SampleChecker *c) {
        ClickHouseQuery q = {.sql = c->sql, .reply_max = SAMPLE_REPLY_MAX};

        if (c->request)
                return -EBUSY;
        return clickhouse_query(c->client, &q, on_done, c, &c->request);
}

const SampleQuality *sample_checker_result(const SampleChecker *c) {
        return &c->result;
}

static void sample_checker_freep(SampleChecker **c) {
        sample_checker_free(*c);
}

int sample_checker_new(
        ClickHouseClient *client, const char *url, const char *database, SampleChecker **ret) {
        _cleanup_(sample_checker_freep) SampleChecker *c = NULL;
        size_t l = strlen(url);

        for (const char *p = database; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '_'))
                        return -EINVAL;
        c = calloc(1, sizeof(SampleChecker));
        if (!c)
                return -ENOMEM;
        c->client = client;
        if (asprintf(&c->url, "%.*s/", (int) (l > 0 && url[l - 1] == '/' ? l - 1 : l), url) < 0)
                return -ENOMEM;
        if (asprintf(
                    &c->sql,
                    "SELECT count(), uniqExact(customer_id, vm_id), countIf(bitAnd(quality, 1) != 0), "
                    "countIf(bitAnd(quality, 2) != 0), countIf(bitAnd(quality, 4) != 0), "
                    "(SELECT samples FROM %s.billing_unbilled_samples) FROM %s.metrics_raw "
                    "WHERE timestamp > now() - INTERVAL 1 HOUR FORMAT TabSeparated",
                    database,
                    database) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

SampleChecker *sample_checker_free(SampleChecker *c) {
        if (!c)
                return NULL;
        clickhouse_request_cancel(c->request);
        free(c->result.error);
        free(c->url);
        free(c->sql);
        free(c);
        return NULL;
}
