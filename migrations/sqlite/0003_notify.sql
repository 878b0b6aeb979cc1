-- Outbound notifications: webhook subscriptions, and every delivery (webhook or email) with
-- each attempt. A delivery is created (with its job) in one transaction by the fan-out job,
-- so a notification, once decided, is never lost.

create table webhooks (
    id text primary key,
    url text not null,
    -- Event types delivered: a JSON array; empty means every type.
    events text not null,
    description text,
    -- The Standard Webhooks signing secret (whsec_…); needed in clear to sign.
    secret text not null,
    enabled integer not null,
    -- Why it was disabled (an endpoint answering 410 Gone).
    disabled_reason text,
    created_at integer not null,
    updated_at integer not null
);

create table deliveries (
    id integer primary key,
    -- webhook or email.
    channel text not null,
    webhook_id text references webhooks (id) on delete set null,
    -- The webhook URL or the email address.
    recipient text not null,
    -- The Standard Webhooks message id: one per event and endpoint, kept across retries.
    -- Unique, so that a re-run fan-out creates nothing twice.
    event_id text not null unique,
    event_type text not null,
    transition_id bigint,
    profile_sid text,
    -- The event exactly as sent (every retry sends the same body).
    payload text not null,
    -- pending, delivered, failed (will retry), dead or cancelled.
    status text not null,
    attempts integer not null default 0,
    last_status_code integer,
    last_error text,
    last_latency_ms bigint,
    created_at integer not null,
    updated_at integer not null,
    delivered_at integer
);

create index deliveries_by_status on deliveries (status, id);
create index deliveries_by_webhook on deliveries (webhook_id, id);
create index deliveries_by_profile on deliveries (profile_sid, id);

create table delivery_attempts (
    id integer primary key,
    delivery_id bigint not null references deliveries (id) on delete cascade,
    at integer not null,
    status_code integer,
    latency_ms bigint not null,
    error text
);

create index delivery_attempts_by_delivery on delivery_attempts (delivery_id, id);
