-- Prices the last 48 hours of metrics_hourly into billing_hourly every 5 minutes (the hour in
-- progress too; its row is replaced as it fills). Each hour takes the price list in force at its
-- start. Run it now with: SYSTEM REFRESH VIEW default.billing_hourly_refresh
CREATE MATERIALIZED VIEW IF NOT EXISTS default.billing_hourly_refresh
REFRESH EVERY 5 MINUTE APPEND TO default.billing_hourly
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
  now64(3) AS created_at
FROM
(
  SELECT
    customer_id,
    vm_id,
    hour,
    sum(cpu_used_us) / 3600e6 AS vcpu_hours,
    toFloat64(sum(memory_byte_ms)) / 1073741824 / 3600e3 AS memory_gb_hours,
    (sum(network_rx_bytes) + sum(network_tx_bytes)) / 1073741824 AS network_gb,
    'price' AS plan
  FROM default.metrics_hourly
  WHERE hour >= toStartOfHour(now()) - toIntervalHour(48)
  GROUP BY customer_id, vm_id, hour
) AS u
ASOF INNER JOIN
(
  SELECT 'price' AS plan, * FROM default.metrics_pricing FINAL
) AS p ON u.plan = p.plan AND u.hour >= p.valid_from;
