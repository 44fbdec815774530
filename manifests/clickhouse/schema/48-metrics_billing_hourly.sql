-- The seed's hourly billing records: one row per (customer_id, hour, vm_id), the newest priced version
-- in billing_hourly_versions. FINAL is inside, so the seed's queries are right as written, at any
-- moment, however many times an hour was priced:
--   SELECT sum(vcpu_hours), sum(memory_gb_hours), sum(network_gb), sum(total_cost) FROM billing_hourly
--   WHERE customer_id = 'cust_123' AND hour >= toStartOfMonth(now()) AND hour < … + INTERVAL 1 MONTH
CREATE VIEW IF NOT EXISTS default.billing_hourly
AS SELECT
  customer_id,
  vm_id,
  hour,
  vcpu_hours,
  memory_gb_hours,
  network_gb,
  storage_gb,
  total_cost,
  pricing_version,
  created_at,
  sample_count
FROM default.billing_hourly_versions FINAL;
