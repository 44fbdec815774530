-- Feeds metrics_hourly from every block inserted into metrics_raw. As metrics_5min_mv: a sample's
-- amounts are spread over its interval, so usage that accrued across an hour boundary (a gap) is split
-- over the hours it spans, pro rata; CPU %, memory statistics, the sample count and the flagged samples
-- belong to the hour of the sample's timestamp. (docs/metrics.md)
CREATE MATERIALIZED VIEW IF NOT EXISTS default.metrics_hourly_mv TO default.metrics_hourly
AS SELECT
  customer_id,
  vm_id,
  hour,
  avgStateIf(cpu_usage_percent, own) AS cpu_avg,
  maxIf(cpu_usage_percent, own) AS cpu_max,
  quantileStateIf(0.95)(cpu_usage_percent, own) AS cpu_p95,
  avgStateIf(memory_used_bytes, own) AS memory_avg_bytes,
  maxIf(memory_used_bytes, own) AS memory_max_bytes,
  sum(toUInt64(intDiv(rx * e, span) - intDiv(rx * s, span))) AS network_rx_bytes,
  sum(toUInt64(intDiv(tx * e, span) - intDiv(tx * s, span))) AS network_tx_bytes,
  sum(toUInt64(intDiv(rd * e, span) - intDiv(rd * s, span)) + toUInt64(intDiv(wr * e, span) - intDiv(wr * s, span)))
    AS disk_total_bytes,
  sum(toUInt64(intDiv(cpu * e, span) - intDiv(cpu * s, span))) AS cpu_used_us,
  sum(toUInt128(memory_used_bytes) * (e - s)) AS memory_byte_ms,
  toUInt64(countIf(own)) AS sample_count,
  toUInt64(countIf(own AND quality != 0)) AS quality_issues
FROM
(
  SELECT
    customer_id,
    vm_id,
    cpu_usage_percent,
    memory_used_bytes,
    quality,
    toUInt128(network_rx_bytes) AS rx,
    toUInt128(network_tx_bytes) AS tx,
    toUInt128(disk_read_bytes) AS rd,
    toUInt128(disk_write_bytes) AS wr,
    toUInt128(cpu_used_us) AS cpu,
    toUInt64(greatest(interval_ms, 1)) AS span,
    toInt64(toUnixTimestamp64Milli(timestamp)) AS end_ms,
    end_ms - span AS start_ms,
    toStartOfHour(timestamp) AS own_hour,
    toStartOfHour(timestamp - toIntervalMillisecond(span)) AS first_hour,
    arrayJoin(arrayMap(k -> first_hour + toIntervalHour(k),
                       range(toUInt64(intDiv(toUnixTimestamp(own_hour) - toUnixTimestamp(first_hour), 3600)) + 1)))
      AS hour,
    toInt64(toUnixTimestamp(hour)) * 1000 AS hour_ms,
    toUInt64(greatest(start_ms, hour_ms) - start_ms) AS s,
    toUInt64(least(end_ms, hour_ms + 3600000) - start_ms) AS e,
    hour = own_hour AS own
  FROM default.metrics_raw
)
GROUP BY customer_id, vm_id, hour;
