-- Feeds otel_logs_hourly from every block inserted into otel_logs.
CREATE MATERIALIZED VIEW IF NOT EXISTS default.otel_logs_hourly_mv TO default.otel_logs_hourly
-- Runs with the rights of its creator (the admin), so that the writers need INSERT on the source table
-- only: neither SELECT on it nor INSERT on the aggregate.
SQL SECURITY DEFINER
AS SELECT
  toStartOfHour(Timestamp) AS hour,
  ServiceName,
  RandomString,
  toUInt64(count()) AS log_count,
  avgState(RandomNumber) AS avg_random_number,
  min(RandomNumber) AS min_random_number,
  max(RandomNumber) AS max_random_number
FROM default.otel_logs
GROUP BY hour, ServiceName, RandomString;
