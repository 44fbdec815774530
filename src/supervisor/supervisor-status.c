/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "build-config.h"
#include "cleanup-libs.h"
#include "strbuf.h"
#include "supervisor-cluster.h"
#include "supervisor-manager.h"
#include "util.h"

#define STATUS_SCHEMA "otel-supervisor/status/v1"

static void format_time(uint64_t usec, char *buf, size_t size) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;

        (void) gmtime_r(&t, &tm);
        (void) strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static cJSON *clickhouse_json(Manager *m) {
        const ClickHouseHealth *h = clickhouse_checker_health(m->clickhouse);
        cJSON *o = cJSON_CreateObject();
        char t[32];

        if (!o)
                return NULL;
        cJSON_AddStringToObject(o, "url", m->config.ch_url);
        double silence = clickhouse_silence(m);

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
                format_time((uint64_t) h->newest_nsec / 1000, t, sizeof(t));
                cJSON_AddStringToObject(o, "newest_log", t);
                cJSON_AddNumberToObject(
                        o,
                        "newest_log_age_seconds",
                        ((double) now_usec(CLOCK_REALTIME) * 1000 - (double) h->newest_nsec) / 1e9);
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

static cJSON *pipeline_json(Manager *m) {
        const ClickHouseHealth *h = clickhouse_checker_health(m->clickhouse);
        cJSON *o = cJSON_CreateObject(), *streams;

        if (!o)
                return NULL;
        cJSON_AddStringToObject(o, "service", m->config.integrity_service);
        cJSON_AddNumberToObject(o, "lost", (double) h->lost);
        cJSON_AddNumberToObject(o, "duplicated", (double) h->duplicated);
        streams = cJSON_AddArrayToObject(o, "streams");
        for (size_t i = 0; streams && i < h->n_streams; i++) {
                const ClickHouseStream *s = h->streams + i;
                cJSON *e = cJSON_CreateObject();
                if (!e)
                        break;
                cJSON_AddStringToObject(e, "pod", s->pod);
                cJSON_AddStringToObject(e, "container", s->container);
                cJSON_AddNumberToObject(e, "rows", (double) s->rows);
                cJSON_AddNumberToObject(e, "distinct", (double) s->distinct);
                cJSON_AddNumberToObject(e, "max_count", (double) s->max_count);
                cJSON_AddNumberToObject(e, "lost", (double) (s->max_count - s->distinct));
                cJSON_AddNumberToObject(e, "duplicated", (double) (s->rows - s->distinct));
                cJSON_AddItemToArray(streams, e);
        }
        return o;
}

static cJSON *processes_json(Manager *m) {
        cJSON *a = cJSON_CreateArray();
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        for (size_t i = 0; a && i < m->n_processes; i++) {
                Process *p = m->processes[i];
                cJSON *e = cJSON_CreateObject();
                if (!e)
                        break;
                cJSON_AddStringToObject(e, "name", p->name);
                cJSON_AddStringToObject(e, "state", process_state_to_string(p->state));
                if (p->pid > 0) {
                        cJSON_AddNumberToObject(e, "pid", p->pid);
                        cJSON_AddNumberToObject(e, "uptime_seconds", (double) (now - p->started_usec) / 1e6);
                } else {
                        cJSON_AddNullToObject(e, "pid");
                        cJSON_AddNullToObject(e, "uptime_seconds");
                }
                cJSON_AddNumberToObject(e, "restarts", p->restarts);
                cJSON_AddNumberToObject(e, "last_exit_status", p->last_exit_status);
                if (p->cri_path)
                        cJSON_AddStringToObject(e, "log_file", p->cri_path);
                cJSON_AddItemToArray(a, e);
        }
        return a;
}

static cJSON *samples_json(Manager *m) {
        const SampleQuality *q = m->samples ? sample_checker_result(m->samples) : NULL;
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

char *manager_status_json(Manager *m) {
        _cleanup_json_ cJSON *root = cJSON_CreateObject();
        char since[32];

        if (!root)
                return NULL;
        format_time(m->since_usec, since, sizeof(since));
        cJSON_AddStringToObject(root, "schema", STATUS_SCHEMA);
        cJSON_AddStringToObject(root, "version", PROJECT_VERSION);
        cJSON_AddStringToObject(root, "mode", supervisor_mode_to_string(m->config.mode));
        cJSON_AddStringToObject(root, "state", supervisor_state_to_string(m->state));
        cJSON_AddStringToObject(root, "since", since);
        if (m->reason)
                cJSON_AddStringToObject(root, "reason", m->reason);
        else
                cJSON_AddNullToObject(root, "reason");
        cJSON_AddNumberToObject(
                root, "uptime_seconds", (double) (now_usec(CLOCK_MONOTONIC) - m->started_usec) / 1e6);
        cJSON_AddItemToObject(root, "clickhouse", clickhouse_json(m));
        cJSON_AddItemToObject(root, "pipeline", pipeline_json(m));
        cJSON_AddItemToObject(root, "processes", processes_json(m));
        cJSON_AddItemToObject(root, "resource_samples", samples_json(m));
        if (m->cluster && cluster_status_json(m->cluster, root) < 0)
                return NULL;
        return cJSON_PrintUnformatted(root);
}

char *manager_metrics_text(Manager *m) {
        const ClickHouseHealth *h = clickhouse_checker_health(m->clickhouse);
        StrBuf b = STRBUF_INIT(256 * 1024);

        (void) strbuf_puts(
                &b,
                "# HELP otel_supervisor_state 1 for the current state of the appliance.\n# TYPE otel_supervisor_state gauge\n");
        for (SupervisorState s = 0; s < _STATE_MAX; s++)
                (void) strbuf_printf(
                        &b,
                        "otel_supervisor_state{state=\"%s\"} %d\n",
                        supervisor_state_to_string(s),
                        s == m->state);
        (void) strbuf_printf(
                &b,
                "# HELP otel_supervisor_clickhouse_up 1 when ClickHouse answered /ping at the last check.\n"
                "# TYPE otel_supervisor_clickhouse_up gauge\notel_supervisor_clickhouse_up %d\n"
                "# HELP otel_supervisor_clickhouse_rows Rows in the logs table.\n"
                "# TYPE otel_supervisor_clickhouse_rows gauge\notel_supervisor_clickhouse_rows %" PRIu64 "\n"
                "# HELP otel_supervisor_pipeline_lost_total Count values missing below the highest one seen.\n"
                "# TYPE otel_supervisor_pipeline_lost_total gauge\notel_supervisor_pipeline_lost_total %" PRIu64
                "\n"
                "# HELP otel_supervisor_pipeline_duplicated_total Count values stored more than once.\n"
                "# TYPE otel_supervisor_pipeline_duplicated_total gauge\notel_supervisor_pipeline_duplicated_total %" PRIu64
                "\n",
                h->reachable && clickhouse_silence(m) <= 0,
                h->rows,
                h->lost,
                h->duplicated);
        if (h->rows > 0 && h->newest_nsec > 0)
                (void) strbuf_printf(
                        &b,
                        "# HELP otel_supervisor_newest_log_age_seconds Age of the newest row.\n"
                        "# TYPE otel_supervisor_newest_log_age_seconds gauge\notel_supervisor_newest_log_age_seconds %.3f\n",
                        ((double) now_usec(CLOCK_REALTIME) * 1000 - (double) h->newest_nsec) / 1e9);
        if (m->n_processes > 0) {
                (void) strbuf_puts(
                        &b,
                        "# HELP otel_supervisor_process_restarts_total Restarts of each child process.\n# TYPE otel_supervisor_process_restarts_total counter\n");
                for (size_t i = 0; i < m->n_processes; i++)
                        (void) strbuf_printf(
                                &b,
                                "otel_supervisor_process_restarts_total{process=\"%s\"} %u\n",
                                m->processes[i]->name,
                                m->processes[i]->restarts);
                (void) strbuf_puts(
                        &b,
                        "# HELP otel_supervisor_process_up 1 while the child process runs.\n# TYPE otel_supervisor_process_up gauge\n");
                for (size_t i = 0; i < m->n_processes; i++)
                        (void) strbuf_printf(
                                &b,
                                "otel_supervisor_process_up{process=\"%s\"} %d\n",
                                m->processes[i]->name,
                                m->processes[i]->state == PROCESS_RUNNING);
        }
        if (m->samples)
                (void) sample_quality_metrics(sample_checker_result(m->samples), &b);
        return strbuf_steal(&b, NULL);
}

