-- Every priced version of an hourly billing record, as billing_hourly_refresh (49-…) appends them:
-- each refresh prices the hours of its window again and appends a row per hour and workload, with a
-- newer created_at. Read the bill from billing_hourly (48-…), which shows the newest version of each
-- (customer_id, hour, vm_id) only. Kept without TTL. sample_count is the number of samples the row
-- priced (billing_unbilled_samples compares it with metrics_hourly); storage_gb stays 0: the sampler
-- measures disk traffic, not space held.
CREATE TABLE IF NOT EXISTS default.billing_hourly_versions
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
  `created_at` DateTime64(3) DEFAULT now64(3),
  `sample_count` UInt64
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY toYYYYMM(hour)
ORDER BY (customer_id, hour, vm_id);
