-- Event Streams: A2P brands, campaigns and toll-free verifications.
-- Every event received, once by its CloudEvents id (unknown types too).
create table stream_events (
    id integer primary key,
    event_id text not null unique,
    event_type text not null,
    account_sid text,
    object_sid text,
    body text not null,
    received_at integer not null
);
-- Each object as it stands: Twilio's status word as sent, its errors and links (JSON text),
-- and the time of the report that set the status (a late report does not apply).
create table compliance_objects (
    sid text primary key,
    kind text not null,
    account_sid text,
    status text not null,
    status_at integer not null,
    errors text not null,
    links text not null,
    -- The customer profile it belongs to (a brand's or a toll-free verification's) and a
    -- campaign's brand: the customer view reads by them.
    profile_sid text,
    brand_sid text,
    created_at integer not null,
    updated_at integer not null
);
create index compliance_by_kind on compliance_objects (kind, updated_at desc, sid desc);
create index compliance_by_profile on compliance_objects (profile_sid) where profile_sid is not null;
create index compliance_by_brand on compliance_objects (brand_sid) where brand_sid is not null;
create table compliance_transitions (
    id integer primary key,
    object_sid text not null,
    from_status text,
    to_status text not null,
    errors text not null,
    at integer not null,
    event_id text not null,
    applied integer not null,
    recorded_at integer not null
);
create index compliance_transitions_by_object on compliance_transitions (object_sid, id);
