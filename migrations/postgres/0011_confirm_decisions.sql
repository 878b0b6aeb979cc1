-- The job that fetched a rejection's evaluation now confirms every reported decision with
-- Trust Hub first (and still fetches a rejection's evaluation): `fetch_evaluation` became
-- `confirm_decision`, with the same payload. Jobs still to run move to the new name; those
-- done or dead keep theirs as history.
update jobs set kind = 'confirm_decision' where kind = 'fetch_evaluation' and state in ('queued', 'running');
