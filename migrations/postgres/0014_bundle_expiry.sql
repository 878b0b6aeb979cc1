-- Until when a bundle's approval holds (Trust Hub's `valid_until`), as Twilio last gave it,
-- and the `valid_until` whose expiry alert has been queued: one alert per approval, and
-- another when a renewal moves the date.
alter table profiles add column valid_until timestamptz;
alter table profiles add column expiry_alerted_for timestamptz;
-- The hourly expiry check reads approvals by the date they end.
create index profiles_by_expiry on profiles (valid_until) where valid_until is not null;
