/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "duration.h"
#include "log.h"
#include "macro.h"
#include "sampler-pods.h"
#include "sampler-queue.h"
#include "sampler-resources.h"
#include "sampler.h"
#include "strbuf.h"
#include "util.h"

/* Rows of the batch being filled (JSONEachRow, about 300 bytes a sample). */
#define SAMPLER_ROWS_MAX (256 * 1024 * 1024)

typedef struct SamplerStats {
        uint64_t ticks;
        uint64_t ticks_late;
        uint64_t read_errors;
        uint64_t rows_dropped; /* the row buffer was full */
} SamplerStats;

struct Sampler {
        const SamplerConfig *config;
        sd_event *event;
        uint64_t discovery_interval_usec;
        bool host, pods, children;
        pid_t children_of;
        char host_name[128];
        uint64_t host_millicores, host_mem;
        ResourceTarget **targets;
        size_t n_targets;
        uint64_t last_discovery_usec;
        sd_event_source *tick_timer;
        uint64_t next_tick_usec;
        StrBuf rows;
        uint64_t batch_rows, batch_ticks, batch_first_ms, batch_start_usec;
        SampleQueue *queue;
        ResourceStats rstats;
        SamplerStats stats;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(Sampler *, sampler_free);

/* --- targets ---------------------------------------------------------------------------------------- */

static ResourceTarget *find_target(Sampler *s, ResourceKind kind, const char *customer, const char *vm) {
        for (size_t i = 0; i < s->n_targets; i++)
                if (s->targets[i]->kind == kind && streq(s->targets[i]->customer_id, customer) &&
                    streq(s->targets[i]->vm_id, vm))
                        return s->targets[i];
        return NULL;
}

static int add_target(
        Sampler *s, ResourceKind kind, const char *customer, const char *vm, ResourceTarget **ret) {
        ResourceTarget **a, *t = find_target(s, kind, customer, vm);
        if (t) {
                t->seen = true;
                *ret = t;
                return 0;
        }
        a = realloc(s->targets, (s->n_targets + 1) * sizeof(ResourceTarget *));
        if (!a)
                return -ENOMEM;
        s->targets = a;
        t = resource_target_new(kind, customer, vm);
        if (!t)
                return -ENOMEM;
        t->net_bits = (unsigned) s->config->net_counter_bits;
        t->seen = true;
        s->targets[s->n_targets++] = t;
        *ret = t;
        return 1;
}

static int on_pod(const char *ns, const char *name, const char *uid, const char *dir, void *userdata) {
        Sampler *s = userdata;
        ResourceTarget *t;
        int r = add_target(s, RESOURCE_POD, ns, name, &t);
        if (r < 0)
                return r;
        if (!t->cgroup_dir || !streq(t->cgroup_dir, dir)) {
                free(t->cgroup_dir);
                t->cgroup_dir = strdup(dir);
                if (!t->cgroup_dir)
                        return -ENOMEM;
        }
        t->pid = resources_cgroup_pid(dir);
        if (r > 0)
                log_debug("Sampling pod %s/%s (uid %s, %s)", ns, name, uid, dir);
        return 0;
}

static int on_child(pid_t pid, const char *comm, void *userdata) {
        Sampler *s = userdata;
        ResourceTarget *t;
        int r;

        if (pid == getpid())
                return 0; /* the shipper is a child of the supervisor, too */
        r = add_target(s, RESOURCE_PROCESS, "local", comm, &t);
        if (r < 0)
                return r;
        t->pid = pid; /* a new pid for the same name is a restart (start time differs) */
        return 0;
}

static int discover(Sampler *s) {
        int r;

        for (size_t i = 0; i < s->n_targets; i++)
                s->targets[i]->seen = s->targets[i]->kind == RESOURCE_HOST;
        if (s->pods) {
                r = resources_find_pods(s->config->cgroup_root, s->config->pods_log_dir, on_pod, s);
                if (r < 0 && r != -ENOENT)
                        return log_warning_errno(r, "Cannot list pods below %s: %m", s->config->cgroup_root);
        }
        if (s->children) {
                pid_t parent = s->children_of > 0 ? s->children_of : getppid();
                r = resources_find_children(s->config->proc_root, parent, on_child, s);
                if (r < 0)
                        log_debug_errno(r, "Cannot list the children of %d: %m", (int) parent);
        }
        /* Workloads that are gone are let go. */
        for (size_t i = 0; i < s->n_targets;) {
                if (s->targets[i]->seen) {
                        i++;
                        continue;
                }
                log_debug("No longer sampling %s/%s", s->targets[i]->customer_id, s->targets[i]->vm_id);
                resource_target_free(s->targets[i]);
                s->targets[i] = s->targets[--s->n_targets];
        }
        return 0;
}

/* --- batches --------------------------------------------------------------------------------------- */

/* The rows gathered so far become a batch of the queue. Its token holds the host, the first sample's time in
 * ms (13 digits until 2286: tokens sort by time) and the number of rows. */
static void seal(Sampler *s) {
        char token[160];
        int r;

        if (s->batch_rows == 0)
                return;
        snprintf(
                token,
                sizeof(token),
                "samples-%s-%" PRIu64 "-%" PRIu64,
                s->host_name,
                s->batch_first_ms,
                s->batch_rows);
        r = sample_queue_push(s->queue, token, s->rows.data, s->rows.len, s->batch_rows);
        if (r < 0) {
                s->stats.rows_dropped += s->batch_rows;
                log_error_errno(r, "Cannot queue sample batch %s, dropped: %m", token);
        }
        strbuf_reset(&s->rows);
        s->batch_rows = s->batch_ticks = 0;
}

/* --- sampling --------------------------------------------------------------------------------------- */

static void sample_all(Sampler *s, uint64_t mono_usec) {
        uint64_t realtime_ms = now_usec(CLOCK_REALTIME) / USEC_PER_MSEC;
        uint64_t gap = nsec_to_usec(s->config->gap_nsec);

        for (size_t i = 0; i < s->n_targets; i++) {
                ResourceTarget *t = s->targets[i];
                ResourceCounters c;
                ResourceSample smp;
                int r;

                r = resource_target_read(t, s->config->proc_root, s->host_millicores, s->host_mem, &c);
                /* Not on zero counters: an idle pod has those, and would be searched every tick. */
                if (r >= 0 && t->kind == RESOURCE_POD && t->pid > 0 && t->net_failed)
                        t->pid = resources_cgroup_pid(t->cgroup_dir); /* that process is gone */
                if (r < 0) {
                        s->stats.read_errors++;
                        continue; /* gone: discovery lets it go */
                }
                if (resource_sample_make(t, &c, mono_usec, realtime_ms, gap, &s->rstats, &smp) <= 0)
                        continue;
                if (resource_sample_format(&s->rows, t, &smp) < 0) {
                        s->stats.rows_dropped++;
                        continue;
                }
                if (s->batch_rows++ == 0) {
                        s->batch_first_ms = realtime_ms;
                        s->batch_start_usec = mono_usec;
                }
        }
}

static int on_tick(sd_event_source *src, uint64_t usec, void *userdata) {
        Sampler *s = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC), interval = nsec_to_usec(s->config->interval_nsec);

        s->stats.ticks++;
        if (now - s->last_discovery_usec >= s->discovery_interval_usec) {
                (void) discover(s);
                s->last_discovery_usec = now;
        }
        sample_all(s, now);
        if (s->batch_rows > 0)
                s->batch_ticks++;
        if (s->batch_ticks >= (uint64_t) s->config->batch_samples ||
            (s->batch_rows > 0 && now - s->batch_start_usec >= nsec_to_usec(s->config->flush_interval_nsec)))
                seal(s);

        /* Next tick on the interval's grid; ticks missed (the loop was busy) are skipped and counted. */
        s->next_tick_usec += interval;
        if (s->next_tick_usec <= now) {
                uint64_t missed = (now - s->next_tick_usec) / interval + 1;
                s->stats.ticks_late += missed;
                s->next_tick_usec += missed * interval;
        }
        return sd_event_source_set_time(src, s->next_tick_usec);
}

int sampler_new(const SamplerConfig *c, const SamplerContext *ctx, Sampler **ret) {
        _cleanup_(sampler_freep) Sampler *s = NULL;
        const char *p;
        int r;

        *ret = NULL;
        if (isempty(c->targets))
                return 0;
        s = new0(Sampler, 1);
        if (!s)
                return log_oom();
        s->config = c;
        s->event = sd_event_ref(ctx->event);
        s->discovery_interval_usec = ctx->discovery_interval_usec;
        s->rows = STRBUF_INIT(SAMPLER_ROWS_MAX);
        for (p = c->targets; *p;) {
                size_t n = strcspn(p, ",");
                s->host = s->host || strncmp(p, "host", n) == 0;
                s->pods = s->pods || strncmp(p, "pods", n) == 0;
                s->children = s->children || strncmp(p, "children", n) == 0;
                p += n;
                if (*p == ',')
                        p++;
        }
        s->children_of = (pid_t) c->children_of;
        if (!isempty(c->host_name))
                snprintf(s->host_name, sizeof(s->host_name), "%s", c->host_name);
        else if (gethostname(s->host_name, sizeof(s->host_name) - 1) < 0)
                snprintf(s->host_name, sizeof(s->host_name), "localhost");
        /* The host name goes into tokens and file names. */
        for (char *q = s->host_name; *q; q++)
                if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
                      *q == '.' || *q == '_'))
                        *q = '_';

        if (strchr(c->table, '`'))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "sample-table may not contain '`'");
        r = resources_host_totals(c->proc_root, &s->host_millicores, &s->host_mem);
        if (r < 0)
                return log_error_errno(
                        r, "Cannot read the machine's CPUs and memory below %s: %m", c->proc_root);
        if (s->host) {
                ResourceTarget *t;
                r = add_target(s, RESOURCE_HOST, "host", s->host_name, &t);
                if (r < 0)
                        return log_oom();
        }
        r = sample_queue_new(
                &(SampleQueueConfig){
                        .event = ctx->event,
                        .clickhouse = ctx->clickhouse,
                        .table = c->table,
                        .spool_dir = c->spool_dir,
                        .max_batches = (size_t) c->spool_max,
                        .compression = ctx->compression,
                        .compression_level = ctx->compression_level,
                },
                &s->queue);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the sample queue: %m");
        *ret = TAKE_PTR(s);
        return 0;
}

int sampler_start(Sampler *s) {
        int r;

        if (!s)
                return 0;
        s->next_tick_usec = now_usec(CLOCK_MONOTONIC);
        r = discover(s);
        if (r < 0)
                return r;
        s->last_discovery_usec = s->next_tick_usec;
        r = sd_event_add_time(
                s->event, &s->tick_timer, CLOCK_MONOTONIC, s->next_tick_usec, 1000, on_tick, s);
        if (r < 0)
                return log_error_errno(r, "Cannot arm the sample timer: %m");
        r = sd_event_source_set_enabled(s->tick_timer, SD_EVENT_ON);
        if (r < 0)
                return log_error_errno(r, "Cannot arm the sample timer: %m");
        (void) sd_event_source_set_description(s->tick_timer, "sample");
        log_info(
                "Sampling %s every %" PRIi64 " ms into %s (%zu workloads)",
                s->config->targets,
                s->config->interval_nsec / NSEC_PER_MSEC,
                s->config->table,
                s->n_targets);
        sample_queue_start(s->queue);
        return 0;
}

void sampler_stop(Sampler *s) {
        if (!s)
                return;
        (void) sd_event_source_set_enabled(s->tick_timer, SD_EVENT_OFF);
        seal(s);
}

Sampler *sampler_free(Sampler *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->tick_timer);
        sample_queue_free(s->queue);
        for (size_t i = 0; i < s->n_targets; i++)
                resource_target_free(s->targets[i]);
        free(s->targets);
        strbuf_done(&s->rows);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

int sampler_metrics_render(Sampler *s, StrBuf *out) {
        const SampleQueueStats *q;
        int r = 0;

        if (!s)
                return 0;
        q = sample_queue_stats(s->queue);
#define C(n, h, v)                                                                                          \
        if (r >= 0)                                                                                         \
        r = strbuf_printf(                                                                                  \
                out,                                                                                        \
                "# HELP shipper_sampler_" n " " h "\n# TYPE shipper_sampler_" n                             \
                " counter\nshipper_sampler_" n " %" PRIu64 "\n",                                            \
                (uint64_t) (v))
#define G(n, h, v)                                                                                          \
        if (r >= 0)                                                                                         \
        r = strbuf_printf(                                                                                  \
                out,                                                                                        \
                "# HELP shipper_sampler_" n " " h "\n# TYPE shipper_sampler_" n                             \
                " gauge\nshipper_sampler_" n " %" PRIu64 "\n",                                              \
                (uint64_t) (v))
        C("samples_total", "Resource samples taken (rows for the sample table).", s->rstats.samples);
        C("gaps_total",
          "Samples more than sample-gap after the previous one of their workload.",
          s->rstats.gaps);
        C("cpu_over_allocation_total",
          "Samples with CPU above 100 percent of the allocation.",
          s->rstats.cpu_over);
        C("memory_over_limit_total", "Samples with memory above the limit.", s->rstats.memory_over);
        C("value_wraps_total",
          "Network counters that wrapped at 32 bits between two samples (sample-net-counter-bits 32).",
          s->rstats.counter_wraps);
        C("value_resets_total",
          "Counters that went backwards without a restart (counted as 0).",
          s->rstats.counter_resets);
        C("restarts_total", "Workloads that restarted between two samples.", s->rstats.restarts);
        C("read_errors_total",
          "Readings that failed (workload gone, unreadable file).",
          s->stats.read_errors);
        C("ticks_total", "Sampling rounds.", s->stats.ticks);
        C("ticks_late_total", "Sampling rounds skipped because the loop was late.", s->stats.ticks_late);
        C("rows_sent_total", "Sample rows ClickHouse acknowledged.", q->rows_sent);
        C("batches_sent_total", "Sample batches ClickHouse acknowledged.", q->batches_sent);
        C("batches_retried_total", "Sample batch requests scheduled for a retry.", q->batches_retried);
        C("batches_refused_total", "Sample batches ClickHouse refused as malformed.", q->batches_refused);
        C("batches_dropped_total", "Sample batches dropped because the queue was full.", q->batches_dropped);
        C("rows_dropped_total",
          "Sample rows dropped (queue full, buffer full).",
          s->stats.rows_dropped + q->rows_dropped);
        C("spool_errors_total", "Spool files that could not be written or read.", q->spool_errors);
        C("spool_restored_total", "Batches found in the spool at start.", q->spool_restored);
        G("workloads", "Workloads being sampled.", s->n_targets);
        G("batches_queued", "Sample batches not yet acknowledged.", sample_queue_length(s->queue));
        G("rows_buffered", "Sample rows in the batch being filled.", s->batch_rows);
#undef C
#undef G
        return r;
}
