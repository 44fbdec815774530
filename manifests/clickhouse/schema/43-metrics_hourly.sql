-- Hourly aggregates (the seed's "P95 CPU, avg memory" level), the input of billing_hourly. Same
-- rules as metrics_5min; cpu_p95 is ClickHouse's quantile state (exact up to 8192 samples per key,
-- a reservoir sample above). Kept a year.
CREATE TABLE IF NOT EXISTS default.metrics_hourly
(
  `customer_id` LowCardinality(String),
  `vm_id` LowCardinality(String),
  `hour` DateTime,
  `cpu_avg` AggregateFunction(avg, Float32),
  `cpu_max` SimpleAggregateFunction(max, Float32),
  `cpu_p95` AggregateFunction(quantile(0.95), Float32),
  `memory_avg_bytes` AggregateFunction(avg, UInt64),
  `memory_max_bytes` SimpleAggregateFunction(max, UInt64),
  `network_rx_bytes` SimpleAggregateFunction(sum, UInt64),
  `network_tx_bytes` SimpleAggregateFunction(sum, UInt64),
  `disk_total_bytes` SimpleAggregateFunction(sum, UInt64),
  `cpu_used_us` SimpleAggregateFunction(sum, UInt64),
  `memory_byte_ms` SimpleAggregateFunction(sum, UInt128),
  `sample_count` SimpleAggregateFunction(sum, UInt64),
  `quality_issues` SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (customer_id, hour, vm_id)
TTL hour + toIntervalDay(365)
SETTINGS non_replicated_deduplication_window = 1000;
