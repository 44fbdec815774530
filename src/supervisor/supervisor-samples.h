/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "clickhouse-client.h"
#include "strbuf.h"

/* Data quality of the resource samples (docs/metrics.md), as stored in <database>.metrics_raw: over the
 * last hour, how many samples, and how many came after a gap, had CPU above the allocation or memory above
 * the limit (the sampler flags such samples in `quality` and keeps them); and the late samples no bill
 * includes (<database>.billing_unbilled_samples: of hours older than the billing refresh window). Asked of
 * ClickHouse with every poll, so it reflects the local runtime and the cluster alike. */

typedef struct SampleQuality {
        bool checked;
        char *error; /* why the last query failed (e.g. no metrics_raw table), or NULL */
        uint64_t samples, workloads, gaps, cpu_over, memory_over;
        uint64_t unbilled_late; /* not limited to the last hour */
} SampleQuality;

typedef struct SampleChecker SampleChecker;

/* Asks through `client` (the common ClickHouse client, which must outlive the checker); url is the
 * client's, for messages. -EINVAL when database is not a plain identifier. */
int sample_checker_new(ClickHouseClient *client, const char *url, const char *database, SampleChecker **ret);
SampleChecker *sample_checker_free(SampleChecker *c);
/* Starts a query unless one runs. */
int sample_checker_run(SampleChecker *c);
const SampleQuality *sample_checker_result(const SampleChecker *c);

/* Parses the query's TSV answer (exposed for tests). */
int sample_quality_parse(const char *tsv, SampleQuality *q);
/* Appends the figures to the supervisor's /metrics text. */
int sample_quality_metrics(const SampleQuality *q, StrBuf *out);
