-- A bundle's kind decides which API its follow-ups call: customer_profile, trust_product or
-- regulatory_bundle. Null until known: recorded when this service creates or submits the
-- bundle, otherwise discovered on first contact with Trust Hub and never probed again.
alter table profiles add column kind text;
-- The dashboard and `GET /v1/profiles?kind=` filter on it.
create index profiles_by_kind on profiles (kind, updated_at desc, sid desc);
