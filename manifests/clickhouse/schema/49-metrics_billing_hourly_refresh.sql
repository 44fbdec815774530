-- Prices the hours of the refresh window (billing_settings, 48 hours by default, plus the hour in
-- progress) of metrics_hourly into billing_hourly_versions every 5 minutes; billing_hourly shows the
-- newest. Each hour takes the price list in force at its start. A late batch of samples for an hour in
-- the window is billed at the next refresh. Run it now with:
--   SYSTEM REFRESH VIEW default.billing_hourly_refresh
CREATE MATERIALIZED VIEW IF NOT EXISTS default.billing_hourly_refresh
REFRESH EVERY 5 MINUTE APPEND TO default.billing_hourly_versions
AS SELECT
  u.customer_id AS customer_id,
  u.vm_id AS vm_id,
  u.hour AS hour,
  u.vcpu_hours AS vcpu_hours,
  u.memory_gb_hours AS memory_gb_hours,
  u.network_gb AS network_gb,
  0 AS storage_gb,
  toDecimal64(u.vcpu_hours * toFloat64(p.vcpu_hour_usd) + u.memory_gb_hours * toFloat64(p.memory_gb_hour_usd)
              + u.network_gb * toFloat64(p.network_gb_usd), 4) AS total_cost,
  p.pricing_version AS pricing_version,
  now64(3) AS created_at,
  u.sample_count AS sample_count
FROM
(
  SELECT
    customer_id,
    vm_id,
    hour,
    sum(cpu_used_us) / 3600e6 AS vcpu_hours,
    toFloat64(sum(memory_byte_ms)) / 1073741824 / 3600e3 AS memory_gb_hours,
    (sum(network_rx_bytes) + sum(network_tx_bytes)) / 1073741824 AS network_gb,
    sum(sample_count) AS sample_count,
    'price' AS plan
  FROM default.metrics_hourly
  WHERE hour >= toStartOfHour(now()) - toIntervalHour(
    (SELECT ifNull(argMaxOrNull(refresh_window_hours, changed_at), 48) FROM default.billing_settings))
  GROUP BY customer_id, vm_id, hour
) AS u
ASOF INNER JOIN
(
  SELECT 'price' AS plan, * FROM default.metrics_pricing FINAL
) AS p ON u.plan = p.plan AND u.hour >= p.valid_from;
