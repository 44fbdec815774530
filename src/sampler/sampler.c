/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "parse-util.h"
#include "shipper-manager.h"
#include "sampler-resources.h"
#include "sampler.h"
#include "util.h"

#define SAMPLER_ROWS_MAX (256 * 1024 * 1024)

typedef struct SampleBatch SampleBatch;
struct SampleBatch {
        SampleBatch *next;
        char token[160];
        Buf body; /* encoded (compressed) INSERT body */
        uint64_t n_rows;
        bool spooled;
};

typedef struct SamplerStats {
        uint64_t ticks;
        uint64_t ticks_late;
        uint64_t read_errors;
        uint64_t rows_sent;
        uint64_t batches_sent;
        uint64_t batches_retried;
        uint64_t batches_refused;
        uint64_t batches_dropped;
        uint64_t rows_dropped;
        uint64_t spool_errors;
        uint64_t spool_restored;
} SamplerStats;

struct Sampler {
        Manager *manager;
        const SamplerConfig *config;
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
        SampleBatch *queue_head, *queue_tail;
        size_t queue_len;
        char *insert_url;
        /* The request in flight (always the queue's head). */
        CURL *easy;
        struct curl_slist *headers;
        long exception_code;
        char errbuf[CURL_ERROR_SIZE];
        unsigned attempts;
        sd_event_source *retry_timer;
        ResourceStats rstats;
        SamplerStats stats;
};

static SampleBatch *sample_batch_free(SampleBatch *b);
static void sample_batch_freep_(SampleBatch **b) {
        sample_batch_free(*b);
}
static void sampler_freep_(Sampler **s) {
        sampler_free(*s);
}
static void closedirp_(DIR **d) {
        if (*d)
                closedir(*d);
}
/* Spool names hold the first sample's time in ms (13 digits until 2286): name order is time order. */
static int sampler_token_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* --- configuration ---------------------------------------------------------------------------------- */

void sampler_config_init(SamplerConfig *c) {
        *c = (SamplerConfig){
                .targets = strdup(""),
                .interval_nsec = 100 * NSEC_PER_MSEC,
                .batch_samples = 600,
                .flush_interval_nsec = 60 * NSEC_PER_SEC,
                .gap_nsec = NSEC_PER_SEC,
                .table = strdup("metrics_raw"),
                .spool_dir = strdup(""),
                .spool_max = 1000,
                .proc_root = strdup("/proc"),
                .cgroup_root = strdup("/sys/fs/cgroup"),
                .pods_log_dir = strdup("/var/log/pods"),
                .host_name = strdup(""),
                .net_counter_bits = 64,
        };
}

void sampler_config_done(SamplerConfig *c) {
        free(c->targets);
        free(c->table);
        free(c->spool_dir);
        free(c->proc_root);
        free(c->cgroup_root);
        free(c->pods_log_dir);
        free(c->host_name);
}

static int parse_targets(const ConfigOption *o, const char *value) {
        const char *p = value;
        while (*p) {
                size_t n = strcspn(p, ",");
                if (!((n == 4 && strncmp(p, "host", 4) == 0) || (n == 4 && strncmp(p, "pods", 4) == 0) ||
                      (n == 8 && strncmp(p, "children", 8) == 0)))
                        return -EINVAL;
                p += n;
                if (*p == ',')
                        p++;
        }
        return config_parse_string(o, value);
}

static int parse_counter_bits(const ConfigOption *o, const char *value) {
        if (!streq(value, "32") && !streq(value, "64"))
                return -EINVAL;
        return config_parse_int64(o, value);
}

#define S_STRING(n, e, field, def, h)                                                                       \
        {                                                                                                   \
                .name = n, .env = e, .metavar = "STRING", .defval = def, .help = h,                         \
                .parse = config_parse_string, .data = &c->field                                             \
        }
#define S_DURATION(n, e, field, def, lo, hi, h)                                                             \
        {                                                                                                   \
                .name = n, .env = e, .metavar = "DURATION", .defval = def, .help = h,                       \
                .parse = config_parse_duration, .data = &c->field, .min = lo, .max = hi                     \
        }
#define S_INT(n, e, field, def, lo, hi, h)                                                                  \
        {                                                                                                   \
                .name = n, .env = e, .metavar = "N", .defval = def, .help = h, .parse = config_parse_int64, \
                .data = &c->field, .min = lo, .max = hi                                                     \
        }

size_t sampler_config_options(SamplerConfig *c, ConfigOption *table, size_t max) {
        const ConfigOption options[] = {
                {.name = "sample-targets",
                 .env = "SHIPPER_SAMPLE_TARGETS",
                 .metavar = "LIST",
                 .defval = "",
                 .help = "resource samples to send to sample-table: host, pods, children (comma-separated); "
                         "empty: none",
                 .parse = parse_targets,
                 .data = &c->targets,
                 .expect = "a comma-separated list of host, pods, children"},
                S_DURATION(
                        "sample-interval",
                        "SHIPPER_SAMPLE_INTERVAL",
                        interval_nsec,
                        "100ms",
                        10 * NSEC_PER_MSEC,
                        NSEC_PER_HOUR,
                        "time between resource samples"),
                S_INT("sample-batch-samples",
                      "SHIPPER_SAMPLE_BATCH_SAMPLES",
                      batch_samples,
                      "600",
                      1,
                      100000,
                      "a batch of samples is sent after this many samples of each workload"),
                S_DURATION(
                        "sample-flush-interval",
                        "SHIPPER_SAMPLE_FLUSH_INTERVAL",
                        flush_interval_nsec,
                        "60s",
                        10 * NSEC_PER_MSEC,
                        NSEC_PER_HOUR,
                        "… or when its first sample is this old"),
                S_DURATION(
                        "sample-gap",
                        "SHIPPER_SAMPLE_GAP",
                        gap_nsec,
                        "1s",
                        NSEC_PER_MSEC,
                        NSEC_PER_HOUR,
                        "a longer time between two samples of a workload is counted as a gap"),
                S_STRING(
                        "sample-table",
                        "SHIPPER_SAMPLE_TABLE",
                        table,
                        "metrics_raw",
                        "table for resource samples"),
                S_STRING(
                        "sample-spool-dir",
                        "SHIPPER_SAMPLE_SPOOL_DIR",
                        spool_dir,
                        "",
                        "directory keeping unacknowledged sample batches across restarts; empty: memory only"),
                S_INT("sample-spool-max",
                      "SHIPPER_SAMPLE_SPOOL_MAX",
                      spool_max,
                      "1000",
                      1,
                      1000000,
                      "unacknowledged sample batches kept; beyond, the oldest is dropped (and counted)"),
                S_STRING("proc-root", "SHIPPER_PROC_ROOT", proc_root, "/proc", "procfs to sample"),
                S_STRING(
                        "cgroup-root",
                        "SHIPPER_CGROUP_ROOT",
                        cgroup_root,
                        "/sys/fs/cgroup",
                        "cgroup v2 hierarchy holding the pods' cgroups"),
                S_STRING(
                        "pods-log-dir",
                        "SHIPPER_PODS_LOG_DIR",
                        pods_log_dir,
                        "/var/log/pods",
                        "kubelet's <namespace>_<pod>_<uid> directories, naming the pods"),
                S_STRING(
                        "host-name",
                        "SHIPPER_HOST_NAME",
                        host_name,
                        "the host name",
                        "vm_id of host samples"),
                S_INT("sample-children-of",
                      "SHIPPER_SAMPLE_CHILDREN_OF",
                      children_of,
                      "0",
                      0,
                      INT32_MAX,
                      "pid whose child processes are sampled (target children); 0: the shipper's parent"),
                {.name = "sample-net-counter-bits",
                 .env = "SHIPPER_SAMPLE_NET_COUNTER_BITS",
                 .metavar = "N",
                 .defval = "64",
                 .help = "width of the kernel's network byte counters: 64, or 32 on a 32-bit kernel (a drop is "
                         "then taken for a wrap; otherwise it is a reset, counted as 0)",
                 .parse = parse_counter_bits,
                 .data = &c->net_counter_bits,
                 .min = 32,
                 .max = 64,
                 .expect = "32 or 64"},
        };
        /* The shipper's option table must have room for these (shipper-config.c). */
        assert(ELEMENTSOF(options) <= max);
        memcpy(table, options, ELEMENTSOF(options) * sizeof(ConfigOption));
        return ELEMENTSOF(options);
}

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

/* --- batches, spool, requests ------------------------------------------------------------------------ */

static SampleBatch *sample_batch_free(SampleBatch *b) {
        if (!b)
                return NULL;
        buf_done(&b->body);
        free(b);
        return NULL;
}

static void spool_path(Sampler *s, const SampleBatch *b, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s.batch", s->config->spool_dir, b->token);
}

static void queue_push(Sampler *s, SampleBatch *b) {
        /* Bounded: beyond spool-max the oldest batch not in flight is dropped, and counted. */
        while (s->queue_len >= (size_t) s->config->spool_max && s->queue_head) {
                SampleBatch **pp = &s->queue_head, *victim;
                if (s->easy) /* the head is in flight */
                        pp = &s->queue_head->next;
                if (!*pp)
                        break;
                victim = *pp;
                *pp = victim->next;
                if (s->queue_tail == victim) {
                        s->queue_tail = s->queue_head;
                        while (s->queue_tail && s->queue_tail->next)
                                s->queue_tail = s->queue_tail->next;
                }
                s->queue_len--;
                s->stats.batches_dropped++;
                s->stats.rows_dropped += victim->n_rows;
                if (victim->spooled) {
                        char path[PATH_MAX];
                        spool_path(s, victim, path, sizeof(path));
                        (void) unlink(path);
                }
                log_warning(
                        "Sample queue full (%" PRIi64 " batches): dropped batch %s",
                        s->config->spool_max,
                        victim->token);
                sample_batch_free(victim);
        }
        b->next = NULL;
        if (s->queue_tail)
                s->queue_tail->next = b;
        else
                s->queue_head = b;
        s->queue_tail = b;
        s->queue_len++;
}

static void send_next(Sampler *s);

static void request_cleanup(Sampler *s) {
        if (s->easy) {
                curl_glue_remove(s->manager->curl, s->easy);
                curl_easy_cleanup(s->easy);
                s->easy = NULL;
        }
        curl_slist_free_all(s->headers);
        s->headers = NULL;
}

static int on_retry(sd_event_source *src, uint64_t usec, void *userdata) {
        Sampler *s = userdata;
        s->retry_timer = sd_event_source_disable_unref(s->retry_timer);
        send_next(s);
        return 0;
}

static size_t on_header(char *buffer, size_t size, size_t nitems, void *userdata) {
        Sampler *s = userdata;
        size_t n = size * nitems;
        char line[128];

        if (n < sizeof(line) && n > 28 && strncasecmp(buffer, "X-ClickHouse-Exception-Code:", 28) == 0) {
                int64_t v;
                memcpy(line, buffer + 28, n - 28);
                line[n - 28] = 0;
                line[strcspn(line, "\r\n")] = 0;
                if (safe_atoi64(line + strspn(line, " "), &v) == 0)
                        s->exception_code = (long) v;
        }
        return n;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
        return size * nmemb; /* the error text is in the exception code and the log of the server */
}

static void on_done(CurlGlue *g, CURL *easy, CURLcode code, void *userdata) {
        Sampler *s = userdata;
        SampleBatch *b = s->queue_head;
        long status = 0;
        int result;

        (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        result = ch_classify(code, status, s->exception_code);
        curl_easy_cleanup(easy);
        s->easy = NULL;
        curl_slist_free_all(s->headers);
        s->headers = NULL;
        if (!b)
                return;

        if (result == CH_RESULT_RETRY) {
                uint64_t delay = retry_delay_usec(
                        (uint64_t) s->manager->config->retry_initial_nsec / 1000,
                        (uint64_t) s->manager->config->retry_max_nsec / 1000,
                        s->attempts++,
                        (uint64_t) random());
                s->stats.batches_retried++;
                log_debug(
                        "Sample batch %s not stored (%s, HTTP %ld, code %ld); retry in %" PRIu64 " ms",
                        b->token,
                        code != CURLE_OK ? curl_easy_strerror(code) : "refused",
                        status,
                        s->exception_code,
                        delay / 1000);
                if (sd_event_add_time_relative(
                            s->manager->event, &s->retry_timer, CLOCK_MONOTONIC, delay, 0, on_retry, s) < 0)
                        log_error("Cannot arm the sample retry timer");
                return;
        }
        if (result == CH_RESULT_MALFORMED) {
                s->stats.batches_refused++;
                log_error(
                        "ClickHouse refused sample batch %s (HTTP %ld, code %ld): dropped",
                        b->token,
                        status,
                        s->exception_code);
        } else {
                s->stats.batches_sent++;
                s->stats.rows_sent += b->n_rows;
        }
        s->attempts = 0;
        if (b->spooled) {
                char path[PATH_MAX];
                spool_path(s, b, path, sizeof(path));
                if (unlink(path) < 0 && errno != ENOENT)
                        log_warning_errno(errno, "Cannot remove %s: %m", path);
        }
        s->queue_head = b->next;
        if (!s->queue_head)
                s->queue_tail = NULL;
        s->queue_len--;
        sample_batch_free(b);
        send_next(s);
}

static void send_next(Sampler *s) {
        SampleBatch *b = s->queue_head;
        _cleanup_free_ char *url = NULL;
        const char *enc = NULL;
        char hdr[512];
        int r;

        if (!b || s->easy || s->retry_timer)
                return;
        if (asprintf(&url, "%s&insert_deduplication_token=%s", s->insert_url, b->token) < 0)
                goto fail;
        s->easy = curl_easy_init();
        if (!s->easy)
                goto fail;
        s->exception_code = 0;
        s->errbuf[0] = 0;
        if (s->manager->config->compression == COMPRESSION_GZIP)
                enc = "Content-Encoding: gzip";
        else if (s->manager->config->compression == COMPRESSION_ZSTD)
                enc = "Content-Encoding: zstd";
        if (enc)
                s->headers = curl_slist_append(s->headers, enc);
        s->headers = curl_slist_append(s->headers, "Content-Type: application/x-ndjson");
        s->headers = curl_slist_append(s->headers, "Expect:");
        snprintf(hdr, sizeof(hdr), "X-ClickHouse-User: %s", s->manager->config->user);
        s->headers = curl_slist_append(s->headers, hdr);
        if (!isempty(s->manager->config->password)) {
                snprintf(hdr, sizeof(hdr), "X-ClickHouse-Key: %s", s->manager->config->password);
                s->headers = curl_slist_append(s->headers, hdr);
        }
        if (!s->headers)
                goto fail;
        if (curl_setopt_checked(s->easy, CURLOPT_URL, url) < 0 ||
            curl_setopt_checked(s->easy, CURLOPT_POST, 1L) < 0 ||
            curl_setopt_checked(s->easy, CURLOPT_POSTFIELDS, b->body.data) < 0 ||
            curl_setopt_checked(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) b->body.len) < 0 ||
            curl_setopt_checked(s->easy, CURLOPT_HTTPHEADER, s->headers) < 0 ||
            curl_setopt_checked(s->easy, CURLOPT_HEADERFUNCTION, on_header) < 0 ||
            curl_setopt_checked(s->easy, CURLOPT_HEADERDATA, s) < 0 ||
            curl_setopt_checked(s->easy, CURLOPT_WRITEFUNCTION, on_write) < 0 ||
            curl_setopt_checked(s->easy, CURLOPT_ERRORBUFFER, s->errbuf) < 0 ||
            curl_setopt_checked(s->easy, CURLOPT_NOSIGNAL, 1L) < 0 ||
            curl_setopt_checked(
                    s->easy,
                    CURLOPT_TIMEOUT_MS,
                    (long) (s->manager->config->request_timeout_nsec / 1000000)) < 0 ||
            curl_setopt_checked(s->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L) < 0)
                goto fail;
        r = curl_glue_add(s->manager->curl, s->easy, on_done, s);
        if (r < 0)
                goto fail;
        return;
fail:
        request_cleanup(s);
        log_error("Cannot start the INSERT of sample batch %s; retrying", b->token);
        if (sd_event_add_time_relative(
                    s->manager->event, &s->retry_timer, CLOCK_MONOTONIC, UINT64_C(1000000), 0, on_retry, s) <
            0)
                log_error("Cannot arm the sample retry timer");
}

static void seal(Sampler *s) {
        _cleanup_(sample_batch_freep_) SampleBatch *b = NULL;
        Batch tmp = {0};
        bool borrowed = false;
        char path[PATH_MAX];
        int r;

        if (s->batch_rows == 0)
                return;
        b = calloc(1, sizeof(SampleBatch));
        if (!b) {
                log_oom();
                return;
        }
        snprintf(
                b->token,
                sizeof(b->token),
                "samples-%s-%" PRIu64 "-%" PRIu64,
                s->host_name,
                s->batch_first_ms,
                s->batch_rows);
        b->n_rows = s->batch_rows;
        b->body.max = SIZE_MAX;
        tmp.rows = (Buf){.data = s->rows.data, .len = s->rows.len, .cap = s->rows.len, .max = s->rows.len};
        tmp.n_rows = (uint32_t) s->batch_rows;
        r = batch_encode(s->manager, &tmp, (RowRange){0, tmp.n_rows}, &b->body, &borrowed);
        if (r >= 0 && borrowed) {
                /* Uncompressed, the body points into the rows, which are reused: keep a copy. */
                char *copy = malloc(MAX(b->body.len, (size_t) 1));
                if (copy) {
                        memcpy(copy, b->body.data, b->body.len);
                        b->body = (Buf){
                                .data = copy, .len = b->body.len, .cap = b->body.len, .max = b->body.len};
                } else {
                        b->body = (Buf){};
                        r = -ENOMEM;
                }
        }
        strbuf_reset(&s->rows);
        s->batch_rows = s->batch_ticks = 0;
        if (r < 0) {
                log_error_errno(r, "Cannot encode a sample batch: %m");
                return;
        }
        if (!isempty(s->config->spool_dir)) {
                spool_path(s, b, path, sizeof(path));
                r = write_file_atomic(path, b->body.data, b->body.len, 0600);
                if (r < 0) {
                        s->stats.spool_errors++;
                        log_warning_errno(r, "Cannot spool %s (sent from memory): %m", path);
                } else
                        b->spooled = true;
        }
        queue_push(s, TAKE_PTR(b));
        send_next(s);
}

/* Batches left in the spool by an earlier run, oldest (smallest first timestamp) first. */
static int spool_restore(Sampler *s) {
        _cleanup_(closedirp_) DIR *d = NULL;
        struct dirent *de;
        char **names = NULL;
        size_t n = 0;
        int r = 0;

        if (isempty(s->config->spool_dir))
                return 0;
        if (mkdir(s->config->spool_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create sample-spool-dir %s: %m", s->config->spool_dir);
        d = opendir(s->config->spool_dir);
        if (!d)
                return log_error_errno(errno, "Cannot open sample-spool-dir %s: %m", s->config->spool_dir);
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                char **a;
                if (!startswith(de->d_name, "samples-") || l < 7 || !streq(de->d_name + l - 6, ".batch") ||
                    l - 6 >= sizeof(((SampleBatch *) NULL)->token))
                        continue;
                a = realloc(names, (n + 1) * sizeof(char *));
                if (!a) {
                        r = -ENOMEM;
                        break;
                }
                names = a;
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        if (n > 0)
                qsort(names, n, sizeof(char *), sampler_token_cmp);
        for (size_t i = 0; i < n && r >= 0; i++) {
                char path[PATH_MAX];
                char *data = NULL;
                size_t size;
                SampleBatch *b;
                const char *rows;

                snprintf(path, sizeof(path), "%s/%s", s->config->spool_dir, names[i]);
                if (read_full_file(path, SAMPLER_ROWS_MAX, &data, &size) < 0) {
                        s->stats.spool_errors++;
                        continue;
                }
                b = calloc(1, sizeof(SampleBatch));
                if (!b) {
                        free(data);
                        r = -ENOMEM;
                        break;
                }
                memcpy(b->token, names[i], strlen(names[i]) - 6);
                b->body = (Buf){.data = data, .len = size, .cap = size, .max = size};
                rows = strrchr(b->token, '-');
                if (!rows || safe_atou64(rows + 1, &b->n_rows) < 0)
                        b->n_rows = 0;
                b->spooled = true;
                s->stats.spool_restored++;
                queue_push(s, b);
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        if (r < 0)
                return log_oom();
        if (s->stats.spool_restored > 0)
                log_info(
                        "Sending %" PRIu64 " sample batches left in %s",
                        s->stats.spool_restored,
                        s->config->spool_dir);
        return 0;
}

/* --- sampling --------------------------------------------------------------------------------------- */

static void sample_all(Sampler *s, uint64_t mono_usec) {
        uint64_t realtime_ms = now_usec(CLOCK_REALTIME) / 1000;
        uint64_t gap = (uint64_t) s->config->gap_nsec / 1000;

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
        uint64_t now = now_usec(CLOCK_MONOTONIC), interval = (uint64_t) s->config->interval_nsec / 1000;

        s->stats.ticks++;
        if (now - s->last_discovery_usec >= (uint64_t) s->manager->config->rescan_interval_nsec / 1000) {
                (void) discover(s);
                s->last_discovery_usec = now;
        }
        sample_all(s, now);
        if (s->batch_rows > 0)
                s->batch_ticks++;
        if (s->batch_ticks >= (uint64_t) s->config->batch_samples ||
            (s->batch_rows > 0 &&
             now - s->batch_start_usec >= (uint64_t) s->config->flush_interval_nsec / 1000))
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

int sampler_new(Manager *m, const SamplerConfig *c, Sampler **ret) {
        _cleanup_(sampler_freep_) Sampler *s = NULL;
        _cleanup_free_ char *query = NULL;
        const char *base = m->config->clickhouse_url, *p;
        size_t l = strlen(base);
        char *esc;
        int r;

        *ret = NULL;
        if (isempty(c->targets))
                return 0;
        s = calloc(1, sizeof(Sampler));
        if (!s)
                return log_oom();
        s->manager = m;
        s->config = c;
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
        if (asprintf(&query, "INSERT INTO `%s`.`%s` FORMAT JSONEachRow", m->config->database, c->table) < 0)
                return log_oom();
        esc = curl_easy_escape(NULL, query, 0);
        if (!esc)
                return log_oom();
        r = asprintf(
                &s->insert_url,
                "%.*s/?deduplicate_blocks_in_dependent_materialized_views=1&query=%s",
                (int) (l > 0 && base[l - 1] == '/' ? l - 1 : l),
                base,
                esc);
        curl_free(esc);
        if (r < 0)
                return log_oom();

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
        r = spool_restore(s);
        if (r < 0)
                return r;
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
                s->manager->event, &s->tick_timer, CLOCK_MONOTONIC, s->next_tick_usec, 1000, on_tick, s);
        if (r < 0)
                return log_error_errno(r, "Cannot arm the sample timer: %m");
        r = sd_event_source_set_enabled(s->tick_timer, SD_EVENT_ON);
        if (r < 0)
                return log_error_errno(r, "Cannot arm the sample timer: %m");
        log_info(
                "Sampling %s every %" PRIi64 " ms into %s (%zu workloads)",
                s->config->targets,
                s->config->interval_nsec / NSEC_PER_MSEC,
                s->config->table,
                s->n_targets);
        send_next(s);
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
        request_cleanup(s);
        sd_event_source_disable_unref(s->tick_timer);
        sd_event_source_disable_unref(s->retry_timer);
        while (s->queue_head) {
                SampleBatch *b = s->queue_head;
                s->queue_head = b->next;
                sample_batch_free(b);
        }
        for (size_t i = 0; i < s->n_targets; i++)
                resource_target_free(s->targets[i]);
        free(s->targets);
        strbuf_done(&s->rows);
        free(s->insert_url);
        free(s);
        return NULL;
}

int sampler_metrics_render(Sampler *s, StrBuf *out) {
        int r = 0;

        if (!s)
                return 0;
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
        C("rows_sent_total", "Sample rows ClickHouse acknowledged.", s->stats.rows_sent);
        C("batches_sent_total", "Sample batches ClickHouse acknowledged.", s->stats.batches_sent);
        C("batches_retried_total", "Sample batch requests scheduled for a retry.", s->stats.batches_retried);
        C("batches_refused_total",
          "Sample batches ClickHouse refused as malformed.",
          s->stats.batches_refused);
        C("batches_dropped_total",
          "Sample batches dropped because the queue was full.",
          s->stats.batches_dropped);
        C("rows_dropped_total", "Sample rows dropped (queue full, buffer full).", s->stats.rows_dropped);
        C("spool_errors_total", "Spool files that could not be written or read.", s->stats.spool_errors);
        C("spool_restored_total", "Batches found in the spool at start.", s->stats.spool_restored);
        G("workloads", "Workloads being sampled.", s->n_targets);
        G("batches_queued", "Sample batches not yet acknowledged.", s->queue_len);
        G("rows_buffered", "Sample rows in the batch being filled.", s->batch_rows);
#undef C
#undef G
        return r;
}
