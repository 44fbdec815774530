-- Settings of the billing refresh (49-…); the newest row (by changed_at) is in force:
--   refresh_window_hours  the refresh prices the hours that began at most this many hours before the
--                         current one (and the current one); an hour older than that keeps the bill it
--                         was given, and samples that reach it later are counted, unbilled, in
--                         billing_unbilled_samples (49-…). Default 48.
-- Change with: INSERT INTO default.billing_settings (refresh_window_hours) VALUES (72)
CREATE TABLE IF NOT EXISTS default.billing_settings
(
  `refresh_window_hours` UInt32,
  `changed_at` DateTime64(3) DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY changed_at
AS SELECT 48, toDateTime64('1970-01-01 00:00:00', 3, 'UTC');
