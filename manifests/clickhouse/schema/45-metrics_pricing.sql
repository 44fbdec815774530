-- Prices, by version and the time from which they apply (the seed's: vCPU $0.05/h, memory
-- $0.01/GB-h, network $0.10/GB; GB = 2^30 bytes, as the seed's queries divide by 1073741824).
-- Created holding the seed's prices; a new price list is a new row with a later valid_from:
--   INSERT INTO default.metrics_pricing VALUES ('2027-01', '2027-01-01 00:00:00', 0.04, 0.01, 0.08, 0)
CREATE TABLE IF NOT EXISTS default.metrics_pricing
(
  `pricing_version` String,
  `valid_from` DateTime,
  `vcpu_hour_usd` Decimal(10, 6),
  `memory_gb_hour_usd` Decimal(10, 6),
  `network_gb_usd` Decimal(10, 6),
  `storage_gb_hour_usd` Decimal(10, 6)
)
ENGINE = ReplacingMergeTree
ORDER BY (valid_from, pricing_version)
AS SELECT 'seed-003', toDateTime('1970-01-01 00:00:00', 'UTC'), 0.05, 0.01, 0.10, 0;
