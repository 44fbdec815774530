/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>

#include "macro.h"
#include "shipper-metrics.h"
#include "strbuf.h"

static int counter(StrBuf *s, const char *name, const char *help, uint64_t v) {
        return strbuf_printf(
                s, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name, name, v);
}

static int gauge(StrBuf *s, const char *name, const char *help, uint64_t v) {
        return strbuf_printf(
                s, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRIu64 "\n", name, help, name, name, v);
}

int shipper_metrics_render(
        StrBuf *out, const ShipperStats *st, const TransformStats *ts, const ShipperGauges *g) {
        int r = 0;

#define C(n, h, v)                                                                                          \
        if (r >= 0)                                                                                         \
        r = counter(out, "shipper_" n, h, v)
#define G(n, h, v)                                                                                          \
        if (r >= 0)                                                                                         \
        r = gauge(out, "shipper_" n, h, v)
        C("lines_read_total", "Physical lines read from log files.", st->lines_read);
        C("bytes_read_total", "Bytes read from log files.", st->bytes_read);
        C("rows_sent_total", "Rows ClickHouse acknowledged.", st->rows_sent);
        C("request_bytes_total", "INSERT body bytes sent (after compression).", st->bytes_sent);
        C("batches_sent_total", "INSERT requests ClickHouse acknowledged.", st->batches_sent);
        C("batches_retried_total", "INSERT requests scheduled for a retry.", st->batches_retried);
        C("batches_failed_total", "INSERT requests that failed (retried or split).", st->requests_failed);
        C("rows_dead_lettered_total",
          "Rows ClickHouse refused as malformed, written to the dead-letter file.",
          st->rows_dead_lettered);
        C("rows_lost_total",
          "Rows of refused batches that could not be read again from their file (truncated away).",
          st->rows_lost);
        C("lines_truncated_total", "Messages cut at max-line-bytes.", st->lines_truncated);
        C("lines_partial_total", "Physical lines that were parts of a longer message.", st->lines_partial);
        C("lines_empty_total", "Messages without text (skipped).", st->lines_empty);
        C("rows_non_json_total",
          "Rows whose message was not a JSON object (shipped as Body).",
          ts->non_json);
        C("fields_dropped_total", "JSON members beyond the per-line limit.", ts->dropped_fields);
        C("lines_cri_total", "Lines in CRI format.", st->format_lines[LOG_FORMAT_CRI]);
        C("lines_docker_total", "Lines in docker json-file format.", st->format_lines[LOG_FORMAT_DOCKER]);
        C("lines_raw_total", "Lines in neither container format.", st->format_lines[LOG_FORMAT_RAW]);
        C("checkpoint_writes_total", "Checkpoint file writes.", st->checkpoint_writes);
        C("checkpoint_write_failures_total",
          "Checkpoint file writes that failed (nothing is sent until one succeeds).",
          st->checkpoint_write_failures);
        C("dead_letter_write_failures_total",
          "Writes to the dead-letter file that failed (the rows are kept and retried).",
          st->dead_letter_write_failures);
        C("clickhouse_auth_failures_total",
          "INSERT answers refusing the credentials (HTTP 401/403, code 516 or 194).",
          st->clickhouse_auth_failures);
        C("rotations_total", "Files rotated (renamed or deleted) while tracked.", st->rotations);
        C("truncations_total", "Files truncated while tracked (copytruncate).", st->truncations);
        C("rotated_lost_files_total",
          "Rotated files compressed or deleted while the shipper was down, before it read them to their end.",
          st->rotated_lost_files);
        C("rotated_lost_bytes_total",
          "The bytes of those files that were not read.",
          st->rotated_lost_bytes);
        C("read_pauses_total",
          "Times reading paused because ClickHouse had not acknowledged enough.",
          st->read_pauses);
        G("files_tracked", "Files being read.", g->files_tracked);
        G("files_paused", "Files whose reading is paused by back-pressure.", g->files_paused);
        G("batches_queued", "Sealed batches not yet acknowledged.", g->batches_queued);
        G("requests_in_flight", "INSERT requests in flight.", g->requests_in_flight);
        G("buffered_bytes", "Bytes of rows held in memory.", g->buffered_bytes);
        G("lag_bytes", "Bytes in tracked files not yet acknowledged by ClickHouse.", g->lag_bytes);
        G("clickhouse_up", "1 if the last INSERT reached ClickHouse.", g->clickhouse_up);
        G("clickhouse_auth_refused",
          "1 while ClickHouse refuses the credentials (the last answer said so).",
          g->clickhouse_auth_refused);
        G("checkpoint_failing", "1 while the last checkpoint file write failed.", g->checkpoint_failing);
        G("dead_letter_failing", "1 while the last dead-letter file write failed.", g->dead_letter_failing);
        G("healthy", "1 when /health answers ok, 0 when it reports a problem.", g->healthy);
#undef C
#undef G
        return r;
}
