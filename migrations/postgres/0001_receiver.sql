-- The receiver's tables: profiles with their current status, every verified callback as
-- received, and every status transition.

-- One row per customer profile; `status` is the current one, decided by the state machine.
create table profiles (
    sid text primary key,
    account_sid text,
    status text not null,
    -- False when Twilio reported a status this version does not know: shown, flagged.
    status_known boolean not null,
    friendly_name text,
    created_at timestamptz not null,
    updated_at timestamptz not null
);

-- The list is read most recently changed first, optionally filtered by status or account.
create index profiles_by_update on profiles (updated_at desc, sid desc);
create index profiles_by_status on profiles (status, updated_at desc, sid desc);
create index profiles_by_account on profiles (account_sid, updated_at desc, sid desc);

-- Every callback that passed its signature check, kept whole, including unusable ones
-- (no profile SID or status), so that a format change at Twilio loses nothing.
create table callbacks (
    id bigserial primary key,
    -- Twilio's I-Twilio-Idempotency-Token: a redelivery carrying it is stored once.
    idempotency_token text unique,
    -- SHA-256 of the signed URL and raw body. Without a token, a callback repeating the
    -- profile's latest one byte for byte is a redelivery; an older body seen again is not
    -- (a resubmitted profile may report the very same status and reason again).
    body_hash text not null,
    account_sid text,
    profile_sid text,
    status text,
    -- Why the callback could not be used, when it could not.
    problem text,
    content_type text not null,
    -- All fields as received, in order: an array of [name, value] pairs.
    fields jsonb not null,
    credential text not null,
    received_at timestamptz not null
);

create index callbacks_by_profile on callbacks (profile_sid, id);

-- Every reported change. A report that arrives after a later status is kept with
-- applied = false: history, not the current status.
create table transitions (
    id bigserial primary key,
    profile_sid text not null references profiles (sid),
    from_status text,
    to_status text not null,
    at timestamptz not null,
    source text not null,
    failure_reason text,
    applied boolean not null,
    callback_id bigint references callbacks (id)
);

create index transitions_by_profile on transitions (profile_sid, id);
