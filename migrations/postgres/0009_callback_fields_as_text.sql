-- A callback's fields as JSON text, as SQLite keeps them: jsonb cannot hold a NUL (a
-- "\u0000" escape is refused), so a correctly signed callback with a NUL in any field was
-- answered 503 every time, retried by Twilio until it gave up, and lost. Nothing queries
-- inside the fields; they are kept for inspection. Rewrites the table once.
alter table callbacks alter column fields type text using fields::text;
