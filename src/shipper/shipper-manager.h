/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "curl-glue.h"
#include "http-server.h"
#include "sampler.h"
#include "shipper-buf.h"
#include "shipper-checkpoint.h"
#include "shipper-config.h"
#include "shipper-reader.h"
#include "shipper-transform.h"

typedef struct Manager Manager;
typedef struct ShipperFile ShipperFile;
typedef struct Batch Batch;
typedef struct ChRequest ChRequest;

typedef struct RowRange {
        uint32_t lo, hi; /* rows [lo, hi) of a batch */
} RowRange;

/* Rows of one contiguous byte range [start, end) of one file generation. A
 * batch is sent as one INSERT whose deduplication token names that range, so
 * a retry (or a resend after a restart) is stored once. */
struct Batch {
        ShipperFile *file;
        Batch *next;      /* file's queue */
        Batch *send_next; /* manager's queue of batches waiting for a request slot */
        uint64_t start, end;
        uint64_t generation;
        char token_id[80];
        Buf rows;
        uint32_t n_rows;
        uint64_t first_row_usec;
        unsigned attempts;
        bool sealed;
        bool started;        /* handed to the sender (in flight, queued or waiting to retry) */
        bool acked;          /* stored by ClickHouse; freed once the batches before it are too */
        bool intent_saved;   /* the checkpoint file on disk records [start, end) */
        uint64_t intent_seq; /* the checkpoint write that records it; 0 for none yet */
        bool in_send_queue;
        ChRequest *req;
        sd_event_source *retry_timer;
        /* After ClickHouse refused the batch as malformed: ranges still to
         * send, split in halves until single rows, which are dead-lettered. */
        RowRange *ranges;
        size_t n_ranges, alloc_ranges;
        uint32_t *row_off; /* row start offsets (n_rows + 1), built when bisecting */
        bool bisecting;
        RowRange cur;
};

struct ShipperFile {
        Manager *manager;
        ShipperFile *next;
        char *path;
        int fd;
        dev_t dev;
        ino_t ino;
        uint64_t fp_hash;
        uint32_t fp_len;
        uint64_t generation;
        char token_id[80];
        Reader reader;
        Buf prefix;
        Batch *filling;
        Batch *queue_head, *queue_tail;
        unsigned queue_len;
        unsigned inflight;  /* batches started and not yet acknowledged */
        uint64_t committed; /* offset acknowledged by ClickHouse */
        /* Batches recorded before a restart end exactly here, in order. */
        uint64_t forced[CHECKPOINT_MAX_PENDING];
        unsigned n_forced, i_forced;
        uint64_t next_start; /* where the next batch begins (end of the last sealed one) */
        uint64_t last_data_usec;
        uint64_t size;
        bool ready; /* in the manager's list of files to read */
        ShipperFile *ready_next;
        bool paused;
        bool at_eof;
        bool rotated; /* the path no longer leads here: read to the end, then let go */
        bool seen;    /* found by the current rescan */
        sd_event_source *watch;
};

typedef struct ShipperStats {
        uint64_t lines_read;
        uint64_t bytes_read;
        uint64_t rows_sent;
        uint64_t bytes_sent;
        uint64_t batches_sent;
        uint64_t batches_retried;
        uint64_t requests_failed;
        uint64_t rows_dead_lettered;
        uint64_t checkpoint_writes;
        uint64_t rotations;
        uint64_t truncations;
        uint64_t files_opened;
        uint64_t files_closed;
        uint64_t read_pauses;
        uint64_t lines_truncated;
        uint64_t lines_partial;
        uint64_t lines_empty;
        uint64_t lines_non_json;
        uint64_t format_lines[_LOG_FORMAT_MAX];
} ShipperStats;

struct Manager {
        ShipperConfig *config;
        sd_event *event;
        CurlGlue *curl;
        HttpServer *http;
        char **globs;
        char **watched_dirs; /* the globs' directories first, then those of the tracked files */
        size_t n_watched_dirs, n_glob_dirs;
        sd_event_source **dir_watches;
        ShipperFile *files;
        unsigned n_files;
        ShipperFile *ready_head, *ready_tail;
        Batch *send_head, *send_tail;
        sd_event_source *read_source;
        sd_event_source *commit_source;
        sd_event_source *flush_timer;
        sd_event_source *rescan_timer;
        sd_event_source *rescan_soon;
        uint64_t flush_deadline_usec;
        CheckpointEntry *restored;
        size_t n_restored;
        bool checkpoint_dirty;
        CheckpointWriter *ckpt_writer;
        sd_event_source *ckpt_source;
        sd_event_source *ckpt_retry;
        uint64_t ckpt_seq;
        bool ckpt_busy;
        uint64_t buffered_bytes;
        unsigned inflight;
        bool clickhouse_up;
        uint64_t last_error_usec;
        int dead_letter_fd;
        int64_t read_time_ns;
        /* Row buffers of freed batches, reused: no page faults and zeroing of
         * fresh megabytes for every batch. */
        Buf spare_rows[1];
        unsigned n_spare_rows;
        TransformOptions topts;
        TransformStats tstats;
        ShipperStats stats;
        char *insert_url;
        void *zstd_cctx;
        sd_event_source *sigterm_source, *sigint_source, *exit_timer;
        bool stopping;
        int exit_status;
        Sampler *sampler; /* resource samples, NULL when off */
};

int manager_new(ShipperConfig *config, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        if (*m)
                manager_free(*m);
}
int manager_start(Manager *m);
int manager_run(Manager *m);

/* Reading pauses while every sending slot of the file is taken and one more
 * batch waits: back-pressure, the file is the buffer. */
static inline bool shipper_file_queue_full(const ShipperFile *f) {
        return f->queue_len > (unsigned) f->manager->config->max_inflight_per_file;
}

/* shipper-file.c */
int shipper_file_open(Manager *m, const char *path, int fd, const struct stat *st, ShipperFile **ret);
ShipperFile *shipper_file_free(ShipperFile *f);
/* Reads up to budget bytes; returns 1 at EOF, 0 when stopped early, <0 on error. */
int shipper_file_read(ShipperFile *f, size_t budget);
/* Checks for truncation/replacement before reading (copytruncate). */
int shipper_file_check(ShipperFile *f);
void shipper_file_set_identity(ShipperFile *f);

/* shipper-batch.c */
Batch *batch_new(ShipperFile *f);
Batch *batch_free(Batch *b);
/* Compresses rows [lo, hi) of b into m->body_scratch per the configured
 * compression. */
int batch_encode(Manager *m, Batch *b, RowRange range, Buf *ret_body, bool *ret_borrowed);
int batch_build_row_offsets(Batch *b);
void batch_token(const Batch *b, char *buf, size_t size);

/* shipper-manager.c, used by the file and request code */
void manager_mark_ready(Manager *m, ShipperFile *f);
void manager_seal(Manager *m, ShipperFile *f);
static inline bool shipper_file_forced(const ShipperFile *f) {
        return f->i_forced < f->n_forced;
}
void manager_arm_flush(Manager *m, uint64_t deadline_usec);
void manager_schedule_commit(Manager *m);
void manager_request_done(Manager *m, Batch *b, int result, uint64_t retry_after_usec, const char *error);
void manager_schedule_rescan(Manager *m);

/* shipper-discovery.c */
int manager_rescan(Manager *m);
int manager_watch_dirs(Manager *m);

/* shipper-clickhouse.c */
enum {
        CH_RESULT_OK = 0,
        CH_RESULT_RETRY = 1,
        CH_RESULT_MALFORMED = 2,
};
int ch_request_start(Manager *m, Batch *b, const Buf *body, bool borrowed, const char *token);
ChRequest *ch_request_free(ChRequest *r);
/* Maps an HTTP outcome to CH_RESULT_*: exception codes of bad data are
 * MALFORMED, everything else that is not 2xx is retried. */
int ch_classify(long curl_code, long http_status, long exception_code);
/* Parses a Retry-After header value (seconds or HTTP date); 0 if none/invalid. */
uint64_t ch_parse_retry_after(const char *value, uint64_t now_realtime_usec);
/* Backoff with jitter: initial * 2^attempt, capped, scaled by [0.5, 1). */
uint64_t retry_delay_usec(uint64_t initial, uint64_t max, unsigned attempt, uint64_t rnd);

/* shipper-metrics.c */
int shipper_metrics_render(Manager *m, char **ret, size_t *ret_size);
