-- The seed's hourly aggregate (count, avg/min/max RandomNumber per hour x ServiceName x RandomString).
-- The seed kept avg/min/max in a SummingMergeTree, which adds them up when parts merge; here every
-- column is an aggregate state (or a SimpleAggregateFunction whose merge is the aggregate itself), so
-- merged rows stay exact. Read it through otel_logs_hourly_summary (30-…), or merge the states yourself:
--   SELECT hour, ServiceName, RandomString, sum(log_count), avgMerge(avg_random_number),
--          min(min_random_number), max(max_random_number) FROM default.otel_logs_hourly GROUP BY ALL
CREATE TABLE IF NOT EXISTS default.otel_logs_hourly
(
  `hour` DateTime,
  `ServiceName` LowCardinality(String),
  `RandomString` LowCardinality(String),
  `log_count` SimpleAggregateFunction(sum, UInt64),
  `avg_random_number` AggregateFunction(avg, Int32),
  `min_random_number` SimpleAggregateFunction(min, Int32),
  `max_random_number` SimpleAggregateFunction(max, Int32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, ServiceName, RandomString)
TTL hour + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 1000;
