//! The job queue on PostgreSQL: `for update skip locked` hands each due job to one worker.

use super::PostgresStore;
use crate::store::outbox::{drain_job, FollowUps, NOTIFY};
use crate::store::rows::job_info as info;
use crate::store::{ClaimedJob, JobCount, JobInfo, JobState, NewJob};
use crate::store::{JobStore, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use std::time::Duration;

/// Writes what applied transitions cause (`outbox::follow_ups`) inside the caller's
/// transaction, in one statement (one round trip): their jobs, their pending notifications,
/// and a `notify` job to drain those, unless the one queued last (`open_notify`) still waits
/// for a worker, as seen once a worker claiming it has committed (the `update` waits for its
/// row lock; a claim skips the row while this transaction holds it, then drains these rows
/// too). `at` is the drain job's time.
pub(super) async fn follow_up(
    tx: &mut PgConnection,
    planned: &FollowUps,
    open_notify: &mut Option<i64>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let drain = (!planned.notify.is_empty()).then(|| drain_job(at));
    let jobs: Vec<&NewJob> = planned.jobs.iter().chain(&drain).collect();
    if jobs.is_empty() {
        return Ok(());
    }
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "with pending as (
             insert into pending_notifications (transition_id)
             select unnest($5::bigint[]) on conflict do nothing
         ), waiting as (
             update jobs set updated_at = updated_at
             where id = $6 and kind = 'notify' and state = 'queued' and attempts = 0
               and cardinality($5::bigint[]) > 0
             returning id
         ), queued as (
             insert into jobs (kind, dedupe_key, payload, state, attempts, run_at, created_at, updated_at)
             select kind, dedupe_key, payload, 'queued', 0, run_at, run_at, run_at
             from unnest($1::text[], $2::text[], $3::jsonb[], $4::timestamptz[])
                  with ordinality as input (kind, dedupe_key, payload, run_at, n)
             where kind <> 'notify' or not exists (select 1 from waiting)
             order by n
             on conflict (dedupe_key) do nothing
             returning kind, id
         )
         select 'waiting', id from waiting union all select kind, id from queued",
    )
    .bind(jobs.iter().map(|job| job.kind).collect::<Vec<_>>())
    .bind(
        jobs.iter()
            .map(|job| job.dedupe_key.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(jobs.iter().map(|job| &job.payload).collect::<Vec<_>>())
    .bind(jobs.iter().map(|job| job.run_at).collect::<Vec<_>>())
    .bind(&planned.notify)
    .bind(*open_notify)
    .fetch_all(&mut *tx)
    .await?;
    if drain.is_some() {
        *open_notify = rows
            .iter()
            .find(|(kind, _)| kind == "waiting" || kind == NOTIFY)
            .map(|(_, id)| *id);
    }
    Ok(())
}

/// Inserts a job inside the caller's transaction (skipped when its dedupe key exists).
pub(super) async fn insert(
    tx: &mut PgConnection,
    job: &NewJob,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into jobs (kind, dedupe_key, payload, state, attempts, run_at, created_at, updated_at)
         values ($1, $2, $3, 'queued', 0, $4, $5, $5) on conflict (dedupe_key) do nothing",
    )
    .bind(job.kind)
    .bind(job.dedupe_key.as_deref())
    .bind(&job.payload)
    .bind(job.run_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl PostgresStore {
    /// Moves a running job we hold to `new_state`, enqueuing `follow_ups` atomically: one
    /// statement, so one round trip and no explicit transaction (the worker settles every job
    /// it runs, as often as callbacks arrive).
    async fn settle(
        &self,
        id: i64,
        worker: &str,
        new_state: JobState,
        error: Option<&str>,
        run_at: Option<DateTime<Utc>>,
        follow_ups: &[NewJob],
    ) -> Result<bool, StoreError> {
        let settled: i64 = sqlx::query_scalar(
            "with settled as (
                 update jobs set state = $3, last_error = coalesce($4, last_error), run_at = coalesce($5, run_at),
                                 lease_until = null, updated_at = $6
                 where id = $1 and worker = $2 and state = 'running' returning id
             ), follow_ups as (
                 insert into jobs (kind, dedupe_key, payload, state, attempts, run_at, created_at, updated_at)
                 select kind, dedupe_key, payload, 'queued', 0, run_at, $6, $6
                 from unnest($7::text[], $8::text[], $9::jsonb[], $10::timestamptz[])
                      with ordinality as job (kind, dedupe_key, payload, run_at, n)
                 where exists (select from settled)
                 order by n
                 on conflict (dedupe_key) do nothing
             )
             select count(*) from settled",
        )
        .bind(id)
        .bind(worker)
        .bind(new_state.as_str())
        .bind(error)
        .bind(run_at)
        .bind(Utc::now())
        .bind(follow_ups.iter().map(|job| job.kind).collect::<Vec<_>>())
        .bind(follow_ups.iter().map(|job| job.dedupe_key.as_deref()).collect::<Vec<_>>())
        .bind(follow_ups.iter().map(|job| &job.payload).collect::<Vec<_>>())
        .bind(follow_ups.iter().map(|job| job.run_at).collect::<Vec<_>>())
        .fetch_one(&self.pool)
        .await?;
        Ok(settled == 1)
    }
}

#[async_trait]
impl JobStore for PostgresStore {
    async fn reclaim_running_jobs(&self) -> Result<u64, StoreError> {
        // Other replicas may hold running jobs: leave them to their leases.
        Ok(0)
    }

    async fn renew_leases(&self, worker: &str, ids: &[i64], lease: Duration) -> Result<Vec<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let until = Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
        let held = sqlx::query_scalar(
            "update jobs set lease_until = $1 where worker = $2 and state = 'running' and id = any($3) returning id",
        )
        .bind(until)
        .bind(worker)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(held)
    }

    async fn enqueue_jobs(&self, jobs: &[NewJob]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for job in jobs {
            insert(&mut tx, job, Utc::now()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn claim_jobs_except(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
        except: &[String],
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        let rows = sqlx::query(
            // Expired leases first (the oldest work), then due jobs, each kind searched in its
            // own range of `jobs_queued` (the kinds found by a skip scan, one index seek each):
            // a claim reads about `limit` rows per kind however long any queue is, and a kind
            // left out is not read at all. Rows locked here but not claimed are let go at the
            // end of the statement's transaction.
            "with recursive kinds (kind) as (
                 select min(kind) from jobs where state = 'queued'
                 union all
                 select (select min(kind) from jobs where state = 'queued' and kind > kinds.kind)
                 from kinds where kinds.kind is not null),
             expired as (select id from jobs where state = 'running' and lease_until < $3
                         and kind <> all($5) order by lease_until, id limit $4 for update skip locked),
             due as (select d.id from kinds cross join lateral (
                         select id, run_at from jobs where state = 'queued' and kind = kinds.kind
                         and run_at <= $3 order by run_at, id limit $4 for update skip locked) as d
                     where kinds.kind is not null and kinds.kind <> all($5)
                     order by d.run_at, d.id limit $4)
             update jobs set state = 'running', attempts = attempts + 1, worker = $1, lease_until = $2, updated_at = $3
             where id in (select id from (select id from expired union all select id from due) as claimable limit $4)
             returning id, kind, payload, attempts, created_at",
        )
        .bind(worker)
        .bind(until)
        .bind(now)
        .bind(i64::from(limit))
        .bind(except)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ClaimedJob {
                    id: row.try_get("id")?,
                    kind: row.try_get("kind")?,
                    payload: row.try_get("payload")?,
                    attempts: row.try_get::<i32, _>("attempts")? as u32,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn complete_job(&self, id: i64, worker: &str, follow_ups: &[NewJob]) -> Result<bool, StoreError> {
        self.settle(id, worker, JobState::Done, None, None, follow_ups)
            .await
    }

    async fn retry_job_later(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        run_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.settle(id, worker, JobState::Queued, Some(error), Some(run_at), &[])
            .await
    }

    async fn bury_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        follow_ups: &[NewJob],
    ) -> Result<bool, StoreError> {
        self.settle(id, worker, JobState::Dead, Some(error), None, follow_ups)
            .await
    }

    async fn list_jobs(&self, state: Option<&str>, limit: u32) -> Result<Vec<JobInfo>, StoreError> {
        let rows = sqlx::query(
            "select * from jobs where ($1::text is null or state = $1) order by id desc limit $2",
        )
        .bind(state)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(info).collect()
    }

    async fn revive_job(&self, id: i64) -> Result<bool, StoreError> {
        let now = Utc::now();
        let updated = sqlx::query(
            "update jobs set state = 'queued', attempts = 0, run_at = $2, updated_at = $2 where id = $1 and state = 'dead'",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    async fn job_counts(&self) -> Result<Vec<JobCount>, StoreError> {
        let rows = sqlx::query(
            // One search per state, so each reads its own partial index and never the done jobs.
            "select * from (
                 select kind, state, count(*) as n, min(run_at) as oldest from jobs where state = 'queued' group by kind, state
                 union all
                 select kind, state, count(*), min(run_at) from jobs where state = 'running' group by kind, state
                 union all
                 select kind, state, count(*), min(run_at) from jobs where state = 'dead' group by kind, state) as counts
             order by kind, state",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(JobCount {
                    kind: row.try_get("kind")?,
                    state: row.try_get("state")?,
                    count: row.try_get("n")?,
                    oldest: row.try_get("oldest")?,
                })
            })
            .collect()
    }
}
