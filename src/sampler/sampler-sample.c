/* SPDX-License-Identifier: MIT */
/* From two readings to one sample: counter deltas (a drop is a reset, or a wrap of a counter marked 32-bit),
 * the interval, CPU percent of the limit, the quality flags; and the sample as a metrics_raw JSON row. The
 * readings themselves come from sampler-resources.c. */
#include <inttypes.h>
#include <string.h>

#include "macro.h"
#include "sampler-resources.h"
#include "strbuf.h"

uint64_t resource_counter_delta(uint64_t prev, uint64_t cur, unsigned bits, ResourceStats *stats) {
        if (cur >= prev)
                return cur - prev;
        /* The kernel's cgroup, /proc/stat, /proc/<pid> and (on 64-bit kernels) /proc/net/dev and
         * /proc/diskstats counters are 64 bits wide and do not wrap in practice: a drop is a reset. Taking
         * it for a 32-bit wrap would bill up to 2^31 units that were never used. */
        if (bits == 32) {
                /* Modulo 2^32 also when prev is a total over devices that went past 2^32. */
                uint64_t wrapped = (cur - prev) & UINT32_MAX;
                if (wrapped < (UINT64_C(1) << 31)) {
                        stats->counter_wraps++;
                        return wrapped;
                }
        }
        stats->counter_resets++;
        return 0;
}

int resource_sample_make(
        ResourceTarget *t,
        const ResourceCounters *cur,
        uint64_t mono_usec,
        uint64_t realtime_ms,
        uint64_t gap_usec,
        ResourceStats *stats,
        ResourceSample *ret) {
        ResourceSample s = {0};
        uint64_t elapsed;

        if (!t->have_prev || mono_usec <= t->prev_mono_usec) {
                t->prev = *cur;
                t->prev_mono_usec = mono_usec;
                t->have_prev = true;
                return 0;
        }
        elapsed = mono_usec - t->prev_mono_usec;
        s.timestamp_ms = realtime_ms;
        s.interval_ms = MAX((elapsed + 500) / 1000, UINT64_C(1));
        if (cur->identity != t->prev.identity) {
                /* Restarted since the previous reading: the counters began again at zero. */
                stats->restarts++;
                s.cpu_used_us = cur->cpu_usec;
                s.net_rx = cur->net_rx;
                s.net_tx = cur->net_tx;
                s.disk_read = cur->disk_read;
                s.disk_write = cur->disk_write;
        } else {
                s.cpu_used_us = resource_counter_delta(t->prev.cpu_usec, cur->cpu_usec, 64, stats);
                s.net_rx = resource_counter_delta(t->prev.net_rx, cur->net_rx, t->net_bits, stats);
                s.net_tx = resource_counter_delta(t->prev.net_tx, cur->net_tx, t->net_bits, stats);
                s.disk_read = resource_counter_delta(t->prev.disk_read, cur->disk_read, 64, stats);
                s.disk_write = resource_counter_delta(t->prev.disk_write, cur->disk_write, 64, stats);
        }
        s.cpu_limit_millicores = cur->cpu_limit_millicores;
        s.mem_used = cur->mem_used;
        s.mem_total = cur->mem_limit;
        /* used µs / (elapsed µs × cores) × 100, with cores = millicores / 1000. */
        if (cur->cpu_limit_millicores > 0)
                s.cpu_percent = (double) s.cpu_used_us * 1000.0 * 100.0 /
                                ((double) elapsed * (double) cur->cpu_limit_millicores);
        if (elapsed > gap_usec) {
                s.quality |= SAMPLE_QUALITY_GAP;
                stats->gaps++;
        }
        if (s.cpu_percent > 100.0) {
                s.quality |= SAMPLE_QUALITY_CPU_OVER;
                stats->cpu_over++;
        }
        if (s.mem_total > 0 && s.mem_used > s.mem_total) {
                s.quality |= SAMPLE_QUALITY_MEMORY_OVER;
                stats->memory_over++;
        }
        stats->samples++;
        t->prev = *cur;
        t->prev_mono_usec = mono_usec;
        *ret = s;
        return 1;
}

int resource_sample_format(StrBuf *out, const ResourceTarget *t, const ResourceSample *s) {
        int r;

        r = strbuf_puts(out, "{\"customer_id\":\"");
        if (r >= 0)
                r = strbuf_append_json_escaped(out, t->customer_id, strlen(t->customer_id));
        if (r >= 0)
                r = strbuf_puts(out, "\",\"vm_id\":\"");
        if (r >= 0)
                r = strbuf_append_json_escaped(out, t->vm_id, strlen(t->vm_id));
        if (r >= 0)
                r = strbuf_printf(
                        out,
                        "\",\"timestamp\":%" PRIu64 ",\"interval_ms\":%" PRIu64
                        ",\"cpu_usage_percent\":%.4f,\"cpu_used_us\":%" PRIu64
                        ",\"cpu_limit_millicores\":%" PRIu64 ",\"memory_used_bytes\":%" PRIu64
                        ",\"memory_total_bytes\":%" PRIu64 ",\"network_rx_bytes\":%" PRIu64
                        ",\"network_tx_bytes\":%" PRIu64 ",\"disk_read_bytes\":%" PRIu64
                        ",\"disk_write_bytes\":%" PRIu64 ",\"quality\":%u}\n",
                        s->timestamp_ms,
                        s->interval_ms,
                        s->cpu_percent,
                        s->cpu_used_us,
                        s->cpu_limit_millicores,
                        s->mem_used,
                        s->mem_total,
                        s->net_rx,
                        s->net_tx,
                        s->disk_read,
                        s->disk_write,
                        s->quality);
        return r;
}
