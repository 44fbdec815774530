-- Feeds metrics_5min from every block inserted into metrics_raw (a block the raw table drops as a
-- duplicate of an earlier insert reaches no view, so a re-sent batch is counted once).
-- A sample's amounts (CPU time, bytes, memory x time) accrued over its interval, the interval_ms before
-- its timestamp; they are spread evenly over that interval, so an interval that spans a 5-minute
-- boundary (a gap, or any sample across one) gives each window its share: for a window covering the
-- milliseconds [s, e) of the interval, counted from its start, the share of an amount A is
-- floor(A * e / interval_ms) - floor(A * s / interval_ms) for each counter column A (integers, adding
-- up to A exactly), and memory x time is memory_used_bytes * (e - s). An interval_ms of 0 counts as 1. The averages, maxima and the
-- sample count belong to the window of the sample's timestamp. (docs/metrics.md)
CREATE MATERIALIZED VIEW IF NOT EXISTS default.metrics_5min_mv TO default.metrics_5min
AS SELECT
  customer_id,
  vm_id,
  bucket AS timestamp,
  avgStateIf(cpu_usage_percent, own) AS cpu_avg,
  maxIf(cpu_usage_percent, own) AS cpu_max,
  avgStateIf(memory_used_bytes, own) AS memory_avg_bytes,
  maxIf(memory_used_bytes, own) AS memory_max_bytes,
  sum(toUInt64(intDiv(rx * e, span) - intDiv(rx * s, span)) + toUInt64(intDiv(tx * e, span) - intDiv(tx * s, span)))
    AS network_total_bytes,
  sum(toUInt64(intDiv(rd * e, span) - intDiv(rd * s, span)) + toUInt64(intDiv(wr * e, span) - intDiv(wr * s, span)))
    AS disk_total_bytes,
  sum(toUInt64(intDiv(cpu * e, span) - intDiv(cpu * s, span))) AS cpu_used_us,
  sum(toUInt128(memory_used_bytes) * (e - s)) AS memory_byte_ms,
  toUInt64(countIf(own)) AS sample_count
FROM
(
  SELECT
    customer_id,
    vm_id,
    cpu_usage_percent,
    memory_used_bytes,
    toUInt128(network_rx_bytes) AS rx,
    toUInt128(network_tx_bytes) AS tx,
    toUInt128(disk_read_bytes) AS rd,
    toUInt128(disk_write_bytes) AS wr,
    toUInt128(cpu_used_us) AS cpu,
    toUInt64(greatest(interval_ms, 1)) AS span,
    toInt64(toUnixTimestamp64Milli(timestamp)) AS end_ms,
    end_ms - span AS start_ms,
    toStartOfFiveMinutes(timestamp) AS own_bucket,
    toStartOfFiveMinutes(timestamp - toIntervalMillisecond(span)) AS first_bucket,
    arrayJoin(arrayMap(k -> first_bucket + toIntervalMinute(5 * k),
                       range(toUInt64(intDiv(toUnixTimestamp(own_bucket) - toUnixTimestamp(first_bucket), 300)) + 1)))
      AS bucket,
    toInt64(toUnixTimestamp(bucket)) * 1000 AS bucket_ms,
    toUInt64(greatest(start_ms, bucket_ms) - start_ms) AS s,
    toUInt64(least(end_ms, bucket_ms + 300000) - start_ms) AS e,
    bucket = own_bucket AS own
  FROM default.metrics_raw
)
GROUP BY customer_id, vm_id, timestamp;
