-- The seed's 5-minute aggregates as a real AggregatingMergeTree: every column is an aggregate state
-- or a SimpleAggregateFunction, so rows of the same key merge exactly (the seed's plain Float32/UInt64
-- columns would keep one arbitrary row). Fed by metrics_5min_mv; read by merging the states:
--   SELECT customer_id, vm_id, timestamp, avgMerge(cpu_avg), max(cpu_max), avgMerge(memory_avg_bytes),
--          max(memory_max_bytes), sum(network_total_bytes), sum(disk_total_bytes), sum(sample_count)
--   FROM default.metrics_5min GROUP BY customer_id, vm_id, timestamp
-- cpu_used_us and memory_byte_ms are the integrals billing needs (CPU time, bytes x milliseconds).
CREATE TABLE IF NOT EXISTS default.metrics_5min
(
  `customer_id` LowCardinality(String),
  `vm_id` LowCardinality(String),
  `timestamp` DateTime,
  `cpu_avg` AggregateFunction(avg, Float32),
  `cpu_max` SimpleAggregateFunction(max, Float32),
  `memory_avg_bytes` AggregateFunction(avg, UInt64),
  `memory_max_bytes` SimpleAggregateFunction(max, UInt64),
  `network_total_bytes` SimpleAggregateFunction(sum, UInt64),
  `disk_total_bytes` SimpleAggregateFunction(sum, UInt64),
  `cpu_used_us` SimpleAggregateFunction(sum, UInt64),
  `memory_byte_ms` SimpleAggregateFunction(sum, UInt128),
  `sample_count` SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (customer_id, timestamp, vm_id)
TTL timestamp + toIntervalDay(30)
SETTINGS non_replicated_deduplication_window = 1000;
