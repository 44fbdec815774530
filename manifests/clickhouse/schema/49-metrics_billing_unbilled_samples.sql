-- Samples no bill includes and no refresh will price: those of hours before the refresh window
-- (billing_settings) that arrived after the hour's last pricing run (or after it left the window), i.e.
-- metrics_hourly's sample count of each hour and workload less the count its billing_hourly row priced.
-- Over the hours metrics_hourly keeps (364 days). One row: samples, workloads, hours, the oldest hour.
-- The supervisor reports it with the other data-quality figures (docs/metrics.md).
CREATE VIEW IF NOT EXISTS default.billing_unbilled_samples
AS WITH
  (SELECT toStartOfHour(now()) - toIntervalHour(ifNull(argMaxOrNull(refresh_window_hours, changed_at), 48))
   FROM default.billing_settings) AS billed_from
SELECT
  toUInt64(sum(missing)) AS samples,
  toUInt64(uniqExactIf((customer_id, vm_id), missing > 0)) AS workloads,
  toUInt64(countIf(missing > 0)) AS hours,
  minIf(hour, missing > 0) AS oldest_hour
FROM
(
  SELECT customer_id, vm_id, hour, greatest(sum(n), 0) AS missing
  FROM
  (
    SELECT customer_id, vm_id, hour, toInt64(sample_count) AS n
    FROM default.metrics_hourly
    WHERE hour < billed_from AND hour >= now() - toIntervalDay(364)
    UNION ALL
    SELECT customer_id, vm_id, hour, -toInt64(sample_count) AS n
    FROM default.billing_hourly
    WHERE hour < billed_from AND hour >= now() - toIntervalDay(364)
  )
  GROUP BY customer_id, vm_id, hour
);
