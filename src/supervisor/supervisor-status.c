/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "build-config.h"
#include "cleanup-libs.h"
#include "duration.h"
#include "strbuf.h"
#include "supervisor-status.h"
#include "util.h"

#define STATUS_SCHEMA "otel-supervisor/status/v1"

static void format_time(uint64_t usec, char *buf, size_t size) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        (void) gmtime_r(&t, &tm);
        (void) strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static double clickhouse_silence(const StatusSources *s) {
        return clickhouse_checker_silence(s->clickhouse, nsec_to_usec(s->config->poll_interval));
}

static cJSON *clickhouse_json(const StatusSources *s) {
        const ClickHouseHealth *h = clickhouse_checker_health(s->clickhouse);
        cJSON *o = cJSON_CreateObject();
        char t[32];

        if (!o)
                return NULL;
        cJSON_AddStringToObject(o, "url", s->config->ch_url);
        double silence = clickhouse_silence(s);

        cJSON_AddBoolToObject(o, "checked", h->checked);
        cJSON_AddBoolToObject(o, "reachable", h->reachable && silence <= 0);
        if (silence > 0) {
                char e[64];
                (void) snprintf(e, sizeof(e), "no answer for %.0f s", silence);
                cJSON_AddStringToObject(o, "error", e);
        } else if (h->error)
                cJSON_AddStringToObject(o, "error", h->error);
        else
                cJSON_AddNullToObject(o, "error");
        cJSON_AddNumberToObject(o, "rows", (double) h->rows);
        if (h->rows > 0 && h->newest_nsec > 0) {
                format_time(nsec_to_usec(h->newest_nsec), t, sizeof(t));
                cJSON_AddStringToObject(o, "newest_log", t);
                cJSON_AddNumberToObject(
                        o,
                        "newest_log_age_seconds",
                        (double) (usec_to_nsec(now_usec(CLOCK_REALTIME)) - h->newest_nsec) / 1e9);
        } else {
                cJSON_AddNullToObject(o, "newest_log");
                cJSON_AddNullToObject(o, "newest_log_age_seconds");
        }
        if (h->checked) {
                format_time(h->checked_usec, t, sizeof(t));
                cJSON_AddStringToObject(o, "checked_at", t);
        } else
                cJSON_AddNullToObject(o, "checked_at");
        return o;
}

static cJSON *pipeline_json(const StatusSources *s) {
        const ClickHouseHealth *h = clickhouse_checker_health(s->clickhouse);
        cJSON *o = cJSON_CreateObject(), *streams;

        if (!o)
                return NULL;
        cJSON_AddStringToObject(o, "service", s->config->integrity_service);
        cJSON_AddNumberToObject(o, "lost", (double) h->lost);
        cJSON_AddNumberToObject(o, "duplicated", (double) h->duplicated);
        streams = cJSON_AddArrayToObject(o, "streams");
        for (size_t i = 0; streams && i < h->n_streams; i++) {
                const ClickHouseStream *st = h->streams + i;
                cJSON *e = cJSON_CreateObject();
                if (!e)
                        break;
                cJSON_AddStringToObject(e, "pod", st->pod);
                cJSON_AddStringToObject(e, "container", st->container);
                cJSON_AddNumberToObject(e, "rows", (double) st->rows);
                cJSON_AddNumberToObject(e, "distinct", (double) st->distinct);
                cJSON_AddNumberToObject(e, "max_count", (double) st->max_count);
                cJSON_AddNumberToObject(e, "lost", (double) st->lost);
                cJSON_AddNumberToObject(e, "duplicated", (double) st->duplicated);
                /* The first gaps and duplicated values, when there are any (the details query names up to
                 * CLICKHOUSE_STREAM_DETAILS_MAX of each). */
                cJSON *gaps = cJSON_AddArrayToObject(e, "gaps");
                for (size_t k = 0; gaps && k < st->n_gaps; k++) {
                        cJSON *g = cJSON_CreateObject();
                        if (!g)
                                break;
                        cJSON_AddNumberToObject(g, "from", (double) st->gaps[k].from);
                        cJSON_AddNumberToObject(g, "to", (double) st->gaps[k].to);
                        cJSON_AddItemToArray(gaps, g);
                }
                cJSON *copies = cJSON_AddArrayToObject(e, "duplicated_counts");
                for (size_t k = 0; copies && k < st->n_copies; k++) {
                        cJSON *g = cJSON_CreateObject();
                        if (!g)
                                break;
                        cJSON_AddNumberToObject(g, "count", (double) st->copies[k].from);
                        cJSON_AddNumberToObject(g, "rows", (double) st->copies[k].to);
                        cJSON_AddItemToArray(copies, g);
                }
                cJSON_AddItemToArray(streams, e);
        }
        return o;
}

static cJSON *samples_json(const StatusSources *s) {
        const SampleQuality *q = s->samples ? sample_checker_result(s->samples) : NULL;
        cJSON *o;

        if (!q || !q->checked)
                return cJSON_CreateNull();
        o = cJSON_CreateObject();
        if (!o)
                return NULL;
        cJSON_AddNumberToObject(o, "window_seconds", 3600);
        if (q->error) {
                cJSON_AddStringToObject(o, "error", q->error);
                return o;
        }
        cJSON_AddNumberToObject(o, "samples", (double) q->samples);
        cJSON_AddNumberToObject(o, "workloads", (double) q->workloads);
        cJSON_AddNumberToObject(o, "gaps", (double) q->gaps);
        cJSON_AddNumberToObject(o, "cpu_over_allocation", (double) q->cpu_over);
        cJSON_AddNumberToObject(o, "memory_over_limit", (double) q->memory_over);
        cJSON_AddNumberToObject(o, "unbilled_late_samples", (double) q->unbilled_late);
        return o;
}

char *status_render_json(const StatusSources *s) {
        _cleanup_json_ cJSON *root = cJSON_CreateObject();
        char since[32];

        if (!root)
                return NULL;
        format_time(s->since_usec, since, sizeof(since));
        cJSON_AddStringToObject(root, "schema", STATUS_SCHEMA);
        cJSON_AddStringToObject(root, "version", PROJECT_VERSION);
        cJSON_AddStringToObject(root, "mode", supervisor_mode_to_string(s->config->mode));
        cJSON_AddStringToObject(root, "state", supervisor_state_to_string(s->state));
        cJSON_AddStringToObject(root, "since", since);
        if (s->reason)
                cJSON_AddStringToObject(root, "reason", s->reason);
        else
                cJSON_AddNullToObject(root, "reason");
        cJSON_AddNumberToObject(
                root, "uptime_seconds", (double) (now_usec(CLOCK_MONOTONIC) - s->started_usec) / 1e6);
        cJSON_AddItemToObject(root, "clickhouse", clickhouse_json(s));
        cJSON_AddItemToObject(root, "pipeline", pipeline_json(s));
        cJSON_AddItemToObject(root, "processes", local_runtime_processes_json(s->local));
        cJSON_AddItemToObject(root, "resource_samples", samples_json(s));
        if (s->cluster && cluster_status_json(s->cluster, root) < 0)
                return NULL;
        return cJSON_PrintUnformatted(root);
}

char *status_render_metrics(const StatusSources *s) {
        const ClickHouseHealth *h = clickhouse_checker_health(s->clickhouse);
        StrBuf b = STRBUF_INIT(256 * 1024);

        (void) strbuf_puts(
                &b,
                "# HELP otel_supervisor_state 1 for the current state of the appliance.\n# TYPE otel_supervisor_state gauge\n");
        for (SupervisorState st = 0; st < _STATE_MAX; st++)
                (void) strbuf_printf(
                        &b,
                        "otel_supervisor_state{state=\"%s\"} %d\n",
                        supervisor_state_to_string(st),
                        st == s->state);
        (void) strbuf_printf(
                &b,
                "# HELP otel_supervisor_clickhouse_up 1 when ClickHouse answered /ping at the last check.\n"
                "# TYPE otel_supervisor_clickhouse_up gauge\notel_supervisor_clickhouse_up %d\n"
                "# HELP otel_supervisor_clickhouse_rows Rows in the logs table.\n"
                "# TYPE otel_supervisor_clickhouse_rows gauge\notel_supervisor_clickhouse_rows %" PRIu64 "\n"
                /* Gauges: what ClickHouse holds now (rows deleted or expired change them), not events
                 * counted since the start, hence no _total suffix. */
                "# HELP otel_supervisor_pipeline_lost_rows Count values missing below the highest one seen.\n"
                "# TYPE otel_supervisor_pipeline_lost_rows gauge\notel_supervisor_pipeline_lost_rows %" PRIu64
                "\n"
                "# HELP otel_supervisor_pipeline_duplicated_rows Rows beyond the first of each Count value.\n"
                "# TYPE otel_supervisor_pipeline_duplicated_rows gauge\n"
                "otel_supervisor_pipeline_duplicated_rows %" PRIu64 "\n",
                h->reachable && clickhouse_silence(s) <= 0,
                h->rows,
                h->lost,
                h->duplicated);
        if (h->rows > 0 && h->newest_nsec > 0)
                (void) strbuf_printf(
                        &b,
                        "# HELP otel_supervisor_newest_log_age_seconds Age of the newest row.\n"
                        "# TYPE otel_supervisor_newest_log_age_seconds gauge\notel_supervisor_newest_log_age_seconds %.3f\n",
                        (double) (usec_to_nsec(now_usec(CLOCK_REALTIME)) - h->newest_nsec) / 1e9);
        if (s->local)
                local_runtime_metrics(s->local, &b);
        if (s->samples)
                (void) sample_quality_metrics(sample_checker_result(s->samples), &b);
        return strbuf_steal(&b, NULL);
}
