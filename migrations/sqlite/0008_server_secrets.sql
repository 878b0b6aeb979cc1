-- Secrets the service makes for itself on its first start (the dashboard's session key),
-- kept in the database so that every replica, and every restart, uses the same one. Made
-- once: a start inserts its own candidate only if none exists, then reads whichever won.
create table server_secrets (
    name text primary key,
    value blob not null,
    created_at integer not null
);
