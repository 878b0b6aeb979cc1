-- The durable job queue (outbox) and Trust Hub evaluations.

-- A job is written in the same transaction as the transition that causes it. Workers claim
-- due jobs under a lease (state running, lease_until); a job whose lease expired (its worker
-- died) is claimed again. Done jobs stay for inspection; dead ones wait to be revived.
create table jobs (
    id integer primary key,
    kind text not null,
    -- Enqueueing the same key twice adds nothing: a retried step may enqueue its follow-ups again.
    dedupe_key text unique,
    payload text not null,
    -- queued, running, done or dead.
    state text not null,
    attempts integer not null default 0,
    run_at integer not null,
    lease_until integer,
    worker text,
    last_error text,
    created_at integer not null,
    updated_at integer not null
);

-- Workers look for due queued jobs and for running jobs whose lease expired.
create index jobs_due on jobs (state, run_at);
create index jobs_leases on jobs (state, lease_until);

-- Every evaluation fetched from Trust Hub, with Twilio's results exactly as returned.
create table evaluations (
    sid text primary key,
    profile_sid text not null,
    account_sid text,
    policy_sid text,
    status text not null,
    results text not null,
    -- The profile's own errors when the evaluation was fetched.
    profile_errors text not null,
    -- Twilio's date_created, as given.
    date_created text,
    fetched_at integer not null,
    transition_id bigint
);

create index evaluations_by_profile on evaluations (profile_sid, fetched_at desc);
