/* SPDX-License-Identifier: MIT */
/* The checkpoint cycle: when the checkpoint file is written, one write at a time, the retry while it fails.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "cleanup.h"
#include "duration.h"
#include "log.h"
#include "shipper-checkpoint.h"
#include "shipper-commit.h"

struct Committer {
        CommitterConfig config;
        CheckpointWriter *writer;
        sd_event_source *commit_source;
        sd_event_source *written_source;
        sd_event_source *retry;
        uint64_t seq;
        bool dirty;
        bool busy;
        int error; /* of the last write, 0 when it succeeded */
};

void committer_schedule(Committer *c) {
        c->dirty = true;
        (void) sd_event_source_set_enabled(c->commit_source, SD_EVENT_ONESHOT);
}

bool committer_idle(const Committer *c) {
        return !c->busy && !c->dirty;
}

int committer_error(const Committer *c) {
        return c->error;
}

/* Starts writing the checkpoint file: committed offsets and the ranges of all batches not yet
 * acknowledged (so that after a restart they are rebuilt with the same boundaries and tokens). */
static int start_write(Committer *c) {
        uint64_t seq = c->seq + 1;
        size_t len = strlen(CHECKPOINT_HEADER), alloc = 4096;
        char *text;
        int r;

        text = malloc(alloc);
        if (!text)
                return log_oom();
        memcpy(text, CHECKPOINT_HEADER, len);
        r = c->config.format(seq, &text, &len, &alloc, c->config.userdata);
        if (r < 0) {
                free(text);
                return log_oom();
        }
        r = checkpoint_writer_submit(c->writer, text, len, seq);
        if (r < 0) {
                free(text);
                return r;
        }
        c->seq = seq;
        c->busy = true;
        c->dirty = false;
        return 0;
}

static int on_commit(sd_event_source *s, void *userdata) {
        Committer *c = userdata;

        if (c->dirty && !c->busy)
                (void) start_write(c);
        c->config.progress(c->config.userdata);
        return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Committer *c = userdata;
        c->retry = sd_event_source_disable_unref(c->retry);
        committer_schedule(c);
        return 0;
}

static int on_written(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Committer *c = userdata;
        uint64_t seq;
        int result;

        if (checkpoint_writer_collect(c->writer, &seq, &result) < 0)
                return 0;
        c->busy = false;
        c->config.written(seq, result, c->config.userdata);
        if (result < 0) {
                c->config.stats->checkpoint_write_failures++;
                /* Said once per cause, not once a second: /health and the metrics carry it meanwhile. */
                if (result != c->error)
                        log_error_errno(
                                result,
                                "Failed to write checkpoint file %s, nothing is sent until it can be written, "
                                "retrying every second: %m",
                                c->config.checkpoint_file);
                else
                        log_debug_errno(result, "Checkpoint file still not written: %m");
                c->error = result;
                /* Nothing may be sent before its range is on disk; retry in a second. */
                c->dirty = true;
                if (!c->retry)
                        (void) sd_event_add_time_relative(
                                c->config.event, &c->retry, CLOCK_MONOTONIC, USEC_PER_SEC, 0, on_retry, c);
                return 0;
        }
        c->config.stats->checkpoint_writes++;
        if (c->error < 0)
                log_info("Checkpoint file %s written again", c->config.checkpoint_file);
        c->error = 0;
        c->config.stored(c->config.userdata);
        if (c->dirty)
                committer_schedule(c);
        c->config.progress(c->config.userdata);
        return 0;
}

Committer *committer_free(Committer *c) {
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->commit_source);
        sd_event_source_disable_unref(c->written_source);
        sd_event_source_disable_unref(c->retry);
        checkpoint_writer_free(c->writer);
        free(c);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Committer *, committer_free);

int committer_new(const CommitterConfig *config, Committer **ret) {
        _cleanup_(committer_freep) Committer *c = NULL;
        int r;

        c = new0(Committer, 1);
        if (!c)
                return log_oom();
        c->config = *config;

        /* Priorities: acknowledgements (curl IO, default 0) before commits, commits before reading more. */
        r = sd_event_add_defer(config->event, &c->commit_source, on_commit, c);
        if (r < 0)
                return log_error_errno(r, "Failed to add commit source: %m");
        (void) sd_event_source_set_priority(c->commit_source, 10);
        (void) sd_event_source_set_enabled(c->commit_source, SD_EVENT_OFF);
        (void) sd_event_source_set_description(c->commit_source, "commit");

        r = checkpoint_writer_new(config->checkpoint_file, config->sync, &c->writer);
        if (r < 0)
                return log_error_errno(r, "Failed to start the checkpoint writer: %m");
        r = sd_event_add_io(
                config->event, &c->written_source, checkpoint_writer_fd(c->writer), EPOLLIN, on_written, c);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the checkpoint writer: %m");
        (void) sd_event_source_set_priority(c->written_source, 10);
        (void) sd_event_source_set_description(c->written_source, "checkpoint-written");
        *ret = TAKE_PTR(c);
        return 0;
}
