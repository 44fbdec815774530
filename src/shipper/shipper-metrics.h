/* SPDX-License-Identifier: MIT */
#pragma once

/* The shipper's counters and their Prometheus text (/metrics). The counters are a plain record: each part of
 * the shipper adds to the ones it is responsible for (the files to lines and bytes read, the sender to rows
 * and requests, the manager to checkpoints and files), the manager owns it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shipper-parse.h"
#include "shipper-transform.h"
#include "strbuf.h"

typedef struct ShipperStats {
        uint64_t lines_read;
        uint64_t bytes_read;
        uint64_t rows_sent;
        uint64_t bytes_sent;
        uint64_t batches_sent;
        uint64_t batches_retried;
        uint64_t requests_failed;
        uint64_t rows_dead_lettered;
        uint64_t rows_lost; /* of refused batches whose rows the file no longer had */
        uint64_t checkpoint_writes;
        uint64_t checkpoint_write_failures;
        uint64_t dead_letter_write_failures;
        uint64_t clickhouse_auth_failures; /* answers refusing the credentials */
        uint64_t rotations;
        uint64_t truncations;
        uint64_t rotated_lost_files; /* rotated files compressed or deleted before they were read to their
                                        end */
        uint64_t rotated_lost_bytes; /* the bytes of them not read */
        uint64_t files_opened;
        uint64_t files_closed;
        uint64_t read_pauses;
        uint64_t lines_truncated;
        uint64_t lines_partial;
        uint64_t lines_empty;
        uint64_t lines_non_json;
        uint64_t format_lines[_LOG_FORMAT_MAX];
} ShipperStats;

/* The gauges, gathered by the manager when /metrics is asked for. */
typedef struct ShipperGauges {
        uint64_t files_tracked;
        uint64_t files_paused;
        uint64_t batches_queued;
        uint64_t requests_in_flight;
        uint64_t buffered_bytes;
        uint64_t lag_bytes;
        bool clickhouse_up;
        bool clickhouse_auth_refused;
        bool checkpoint_failing;
        bool dead_letter_failing;
        bool healthy; /* what /health says */
} ShipperGauges;

/* Appends the shipper's counters and gauges in Prometheus text format. */
int shipper_metrics_render(
        StrBuf *out, const ShipperStats *st, const TransformStats *ts, const ShipperGauges *g);
