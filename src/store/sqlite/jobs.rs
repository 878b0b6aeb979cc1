//! The job queue on SQLite. The single writer connection makes a claim (one `update … returning`)
//! atomic, as `for update skip locked` does on Postgres.

use super::{insert_row, micros, time, SqliteStore};
use crate::store::outbox::{drain_job, FollowUps};
use crate::store::rows::job_info as info;
use crate::store::{json_text, json_value, JobStore, StoreError};
use crate::store::{ClaimedJob, JobCount, JobInfo, JobState, NewJob, Settlement};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension as _};
use serde_json::json;
use sqlx::Row;
use std::time::Duration;

/// Inserts a job inside the caller's transaction: its id, or `None` when its dedupe key
/// exists.
pub(super) fn insert(tx: &Connection, job: &NewJob, now: DateTime<Utc>) -> Result<Option<i64>, StoreError> {
    let mut insert = tx.prepare_cached(
        "insert into jobs (kind, dedupe_key, payload, state, attempts, run_at, created_at, updated_at)
         values (?1, ?2, ?3, 'queued', 0, ?4, ?5, ?5) on conflict (dedupe_key) do nothing",
    )?;
    let params = params![
        job.kind,
        job.dedupe_key,
        json_text(&job.payload)?,
        micros(job.run_at),
        micros(now)
    ];
    Ok(insert_row(tx, &mut insert, params)?)
}

/// Writes what applied transitions cause (`outbox::follow_ups`) inside the caller's
/// transaction: their jobs, their pending notifications, and a `notify` job to drain those,
/// unless the one queued last (`open_notify`) still waits for a worker. `at` is the drain
/// job's time. (The single writer orders this against every claim.)
pub(super) fn follow_up(
    tx: &Connection,
    planned: &FollowUps,
    open_notify: &mut Option<i64>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    for job in &planned.jobs {
        insert(tx, job, job.run_at)?;
    }
    if planned.notify.is_empty() {
        return Ok(());
    }
    let mut pending = tx.prepare_cached(
        "insert into pending_notifications (transition_id) values (?1) on conflict do nothing",
    )?;
    for id in &planned.notify {
        pending.execute([id])?;
    }
    if let Some(id) = *open_notify {
        let waiting = tx
            .prepare_cached(
                "select 1 from jobs where id = ?1 and kind = 'notify' and state = 'queued' and attempts = 0",
            )?
            .query_row([id], |_| Ok(()))
            .optional()?;
        if waiting.is_some() {
            return Ok(());
        }
    }
    *open_notify = insert(tx, &drain_job(at), at)?;
    Ok(())
}

/// Moves a running job we hold to its new state, enqueuing its follow-ups, inside the
/// caller's transaction; false if the lease is no longer ours.
fn settle(tx: &Connection, worker: &str, s: &Settlement, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let updated = tx
        .prepare_cached(
            "update jobs set state = ?3, last_error = coalesce(?4, last_error), run_at = coalesce(?5, run_at),
                             lease_until = null, updated_at = ?6
             where id = ?1 and worker = ?2 and state = 'running'",
        )?
        .execute(params![
            s.id,
            worker,
            s.state.as_str(),
            s.error,
            s.run_at.map(micros),
            micros(now)
        ])?;
    if updated == 0 {
        return Ok(false);
    }
    for job in &s.follow_ups {
        insert(tx, job, now)?;
    }
    Ok(true)
}

impl SqliteStore {
    /// Records one outcome (see `settle`).
    async fn settle_one(&self, worker: &str, settlement: Settlement) -> Result<bool, StoreError> {
        let worker = worker.to_owned();
        self.writer
            .write(move |tx| settle(tx, &worker, &settlement, Utc::now()))
            .await
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn reclaim_running_jobs(&self) -> Result<u64, StoreError> {
        self.writer
            .write(move |tx| {
                let now = micros(Utc::now());
                let reclaimed = tx
                    .prepare_cached(
                        "update jobs set state = 'queued', worker = null, lease_until = null, run_at = ?1,
                                         updated_at = ?1
                         where state = 'running'",
                    )?
                    .execute([now])?;
                Ok(reclaimed as u64)
            })
            .await
    }

    async fn renew_leases(&self, worker: &str, ids: &[i64], lease: Duration) -> Result<Vec<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (worker, ids) = (worker.to_owned(), json!(ids).to_string());
        self.writer
            .write(move |tx| {
                let until = Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
                let mut renew = tx.prepare_cached(
                    "update jobs set lease_until = ?1
                     where worker = ?2 and state = 'running' and id in (select value from json_each(?3))
                     returning id",
                )?;
                let held = renew
                    .query_map(params![micros(until), worker, ids], |row| row.get(0))?
                    .collect::<Result<Vec<i64>, _>>()?;
                Ok(held)
            })
            .await
    }

    async fn enqueue_jobs(&self, jobs: &[NewJob]) -> Result<(), StoreError> {
        let jobs = jobs.to_vec();
        self.writer
            .write(move |tx| {
                let now = Utc::now();
                jobs.iter().try_for_each(|job| insert(tx, job, now).map(drop))
            })
            .await
    }

    async fn claim_jobs_except(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
        except: &[String],
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let (worker, except) = (worker.to_owned(), json!(except).to_string());
        self.writer
            .write(move |tx| {
                let now = Utc::now();
                let until = now + chrono::Duration::from_std(lease).unwrap_or_default();
                let mut claim = tx.prepare_cached(
                    // Expired leases first (the oldest work), then due jobs, each kind searched in its
                    // own range of `jobs_queued` (the kinds found by a skip scan, one index seek each):
                    // a claim reads about `limit` rows per kind however long any queue is, and a kind
                    // left out is not read at all.
                    "with recursive kinds (kind) as (
                         select min(kind) from jobs where state = 'queued'
                         union all
                         select (select min(kind) from jobs where state = 'queued' and kind > kinds.kind)
                         from kinds where kinds.kind is not null)
                     update jobs set state = 'running', attempts = attempts + 1, worker = ?1, lease_until = ?2, updated_at = ?3
                     where id in (
                         select id from (select id from jobs where state = 'running' and lease_until < ?3
                                         and kind not in (select value from json_each(?5))
                                         order by lease_until, id limit ?4)
                         union all
                         select id from (select due.id from kinds join jobs as due on due.id in (
                                             select id from jobs where state = 'queued' and kind = kinds.kind
                                             and run_at <= ?3 order by run_at, id limit ?4)
                                         where kinds.kind is not null
                                         and kinds.kind not in (select value from json_each(?5))
                                         order by due.run_at, due.id limit ?4)
                         limit ?4)
                     returning id, kind, payload, attempts, created_at",
                )?;
                let jobs = claim
                    .query_map(
                        params![worker, micros(until), micros(now), i64::from(limit), except],
                        |row| {
                            Ok((
                                row.get::<_, i64>(0)?,
                                row.get::<_, String>(1)?,
                                row.get::<_, String>(2)?,
                                row.get::<_, i64>(3)?,
                                row.get::<_, i64>(4)?,
                            ))
                        },
                    )?
                    .collect::<Result<Vec<_>, _>>()?;
                jobs.into_iter()
                    .map(|(id, kind, payload, attempts, created_at)| {
                        Ok(ClaimedJob {
                            id,
                            kind,
                            payload: json_value(&payload)?,
                            attempts: attempts as u32,
                            created_at: time(created_at)?,
                        })
                    })
                    .collect()
            })
            .await
    }

    async fn complete_job(&self, id: i64, worker: &str, follow_ups: &[NewJob]) -> Result<bool, StoreError> {
        let settlement = Settlement {
            id,
            state: JobState::Done,
            error: None,
            run_at: None,
            follow_ups: follow_ups.to_vec(),
        };
        self.settle_one(worker, settlement).await
    }

    async fn retry_job_later(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        run_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let settlement = Settlement {
            id,
            state: JobState::Queued,
            error: Some(error.to_owned()),
            run_at: Some(run_at),
            follow_ups: Vec::new(),
        };
        self.settle_one(worker, settlement).await
    }

    async fn bury_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        follow_ups: &[NewJob],
    ) -> Result<bool, StoreError> {
        let settlement = Settlement {
            id,
            state: JobState::Dead,
            error: Some(error.to_owned()),
            run_at: None,
            follow_ups: follow_ups.to_vec(),
        };
        self.settle_one(worker, settlement).await
    }

    /// Every outcome in one savepoint of the writer's next transaction.
    async fn settle_jobs(&self, worker: &str, settlements: &[Settlement]) -> Result<Vec<bool>, StoreError> {
        if settlements.is_empty() {
            return Ok(Vec::new());
        }
        let (worker, settlements) = (worker.to_owned(), settlements.to_vec());
        self.writer
            .write(move |tx| {
                let now = Utc::now();
                settlements.iter().map(|s| settle(tx, &worker, s, now)).collect()
            })
            .await
    }

    async fn list_jobs(&self, state: Option<&str>, limit: u32) -> Result<Vec<JobInfo>, StoreError> {
        let rows =
            sqlx::query("select * from jobs where ($1 is null or state = $1) order by id desc limit $2")
                .bind(state)
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(info).collect()
    }

    async fn revive_job(&self, id: i64) -> Result<bool, StoreError> {
        self.writer
            .write(move |tx| {
                let revived = tx
                    .prepare_cached(
                        "update jobs set state = 'queued', attempts = 0, run_at = ?2, updated_at = ?2
                         where id = ?1 and state = 'dead'",
                    )?
                    .execute(params![id, micros(Utc::now())])?;
                Ok(revived == 1)
            })
            .await
    }

    async fn job_counts(&self) -> Result<Vec<JobCount>, StoreError> {
        // One search per state, so each reads its own partial index and never the done jobs.
        let rows = sqlx::query(
            "select * from (
                 select kind, state, count(*) as n, min(run_at) as oldest from jobs where state = 'queued' group by kind, state
                 union all
                 select kind, state, count(*), min(run_at) from jobs where state = 'running' group by kind, state
                 union all
                 select kind, state, count(*), min(run_at) from jobs where state = 'dead' group by kind, state)
             order by kind, state",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(JobCount {
                    kind: row.try_get("kind")?,
                    state: row.try_get("state")?,
                    count: row.try_get("n")?,
                    oldest: time(row.try_get("oldest")?)?,
                })
            })
            .collect()
    }
}
