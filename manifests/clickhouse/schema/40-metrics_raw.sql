-- Resource usage samples (the seed's metrics_raw), one row per workload per sampling interval,
-- written by the shipper's resource sampler (docs/metrics.md). customer_id is the Kubernetes
-- namespace (or "host" for the machine itself), vm_id the pod (or host/process) name.
-- Counters are sent as the amount of the interval (bytes, CPU microseconds): the sampler turns
-- cumulative counters into deltas, across wraps and restarts, so sums over rows are totals.
-- quality: bit 1 gap before this sample > 1 s, bit 2 CPU above the allocation, bit 4 memory above
-- the limit; such samples are kept (and counted by the sampler), never dropped.
CREATE TABLE IF NOT EXISTS default.metrics_raw
(
  `customer_id` LowCardinality(String) CODEC(ZSTD(1)),
  `vm_id` LowCardinality(String) CODEC(ZSTD(1)),
  `timestamp` DateTime64(3) CODEC(DoubleDelta, ZSTD(1)),
  `interval_ms` UInt32 CODEC(T64, ZSTD(1)),
  `cpu_usage_percent` Float32 CODEC(Gorilla, ZSTD(1)),
  `cpu_used_us` UInt64 CODEC(T64, ZSTD(1)),
  `cpu_limit_millicores` UInt32 CODEC(T64, ZSTD(1)),
  `memory_used_bytes` UInt64 CODEC(Delta, ZSTD(1)),
  `memory_total_bytes` UInt64 CODEC(DoubleDelta, ZSTD(1)),
  `network_rx_bytes` UInt64 CODEC(T64, ZSTD(1)),
  `network_tx_bytes` UInt64 CODEC(T64, ZSTD(1)),
  `disk_read_bytes` UInt64 CODEC(T64, ZSTD(1)),
  `disk_write_bytes` UInt64 CODEC(T64, ZSTD(1)),
  `quality` UInt8 CODEC(T64, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(timestamp)
ORDER BY (customer_id, vm_id, timestamp)
TTL toDateTime(timestamp) + toIntervalDay(7)
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1;
