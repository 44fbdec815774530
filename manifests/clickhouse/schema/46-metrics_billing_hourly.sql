-- The seed's hourly billing records, kept without TTL. Rows are (re)computed from metrics_hourly and
-- metrics_pricing by billing_hourly_refresh (47-…); a recomputed hour replaces the earlier row (the
-- newest created_at wins), so read with FINAL (or after OPTIMIZE … FINAL) to count each hour once:
--   SELECT sum(total_cost) FROM default.billing_hourly FINAL WHERE customer_id = 'ns' AND …
-- storage_gb stays 0: the sampler measures disk traffic, not space held.
CREATE TABLE IF NOT EXISTS default.billing_hourly
(
  `customer_id` LowCardinality(String),
  `vm_id` LowCardinality(String),
  `hour` DateTime,
  `vcpu_hours` Float64,
  `memory_gb_hours` Float64,
  `network_gb` Float64,
  `storage_gb` Float64,
  `total_cost` Decimal(10, 4),
  `pricing_version` String,
  `created_at` DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY toYYYYMM(hour)
ORDER BY (customer_id, hour, vm_id);
