-- Claims search each kind's due jobs in its own index range: a kind a worker leaves out of
-- a claim (it holds its share of the slots) is no longer read through row by row, which made
-- every claim as slow as that kind's backlog was long (3 ms behind 3,300 evaluation fetches
-- waiting on an unreachable Trust Hub). Partial indexes: done jobs, which stay for
-- inspection, are in neither, and a job's life costs fewer index writes.
drop index jobs_due;
drop index jobs_leases;
create index jobs_queued on jobs (kind, run_at, id) where state = 'queued';
create index jobs_leased on jobs (lease_until, id) where state = 'running';
-- `job_counts` (metrics, the dashboard) reads dead jobs, which no other index holds.
create index jobs_dead on jobs (kind) where state = 'dead';
