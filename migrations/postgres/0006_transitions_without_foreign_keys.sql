-- A transition's profile and callback are written in the transaction that writes it, just
-- before it, by the one function of each path that records transitions; nothing deletes a
-- profile or a callback. The two foreign keys checked that again on every row, each with a
-- trigger, a query and a row lock: 21.8 against 3.6 us a row for 20,000 rows (psql), the
-- most expensive statement of a group commit. Dropped; the indexes stay.
alter table transitions drop constraint transitions_profile_sid_fkey;
alter table transitions drop constraint transitions_callback_id_fkey;
