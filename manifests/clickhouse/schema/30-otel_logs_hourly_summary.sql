-- Finalised view of the hourly aggregate, with the seed's column names and plain types.
CREATE VIEW IF NOT EXISTS default.otel_logs_hourly_summary
AS SELECT
  hour,
  ServiceName,
  RandomString,
  sum(log_count) AS log_count,
  avgMerge(avg_random_number) AS avg_random_number,
  min(min_random_number) AS min_random_number,
  max(max_random_number) AS max_random_number
FROM default.otel_logs_hourly
GROUP BY hour, ServiceName, RandomString;
