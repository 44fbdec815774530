-- Feeds metrics_hourly from every block inserted into metrics_raw.
CREATE MATERIALIZED VIEW IF NOT EXISTS default.metrics_hourly_mv TO default.metrics_hourly
-- Runs with the rights of its creator (the admin), so that the writers need INSERT on the source table
-- only: neither SELECT on it nor INSERT on the aggregate.
SQL SECURITY DEFINER
AS SELECT
  customer_id,
  vm_id,
  toStartOfHour(timestamp) AS hour,
  avgState(cpu_usage_percent) AS cpu_avg,
  max(cpu_usage_percent) AS cpu_max,
  quantileState(0.95)(cpu_usage_percent) AS cpu_p95,
  avgState(memory_used_bytes) AS memory_avg_bytes,
  max(memory_used_bytes) AS memory_max_bytes,
  sum(network_rx_bytes) AS network_rx_bytes,
  sum(network_tx_bytes) AS network_tx_bytes,
  sum(disk_read_bytes + disk_write_bytes) AS disk_total_bytes,
  sum(cpu_used_us) AS cpu_used_us,
  sum(toUInt128(memory_used_bytes) * interval_ms) AS memory_byte_ms,
  toUInt64(count()) AS sample_count,
  toUInt64(countIf(quality != 0)) AS quality_issues
FROM default.metrics_raw
GROUP BY customer_id, vm_id, hour;
