-- callbacks_by_profile served one query: whether a callback without Twilio's idempotency
-- token repeats its profile's latest one. Every callback paid for it with an insert at a
-- random place of a large index (a page more for each commit to write). That question now
-- looks at the profile's latest token-less callback (this partial index) and at the latest
-- callback that made one of its transitions (transitions_by_profile), which together name the
-- latest callback that did anything; a repeat of a tokened one that changed nothing is
-- stored again, and changes nothing again.
drop index callbacks_by_profile;
create index callbacks_untokened on callbacks (profile_sid, id) where idempotency_token is null;
