//! The job queue on SQLite. The single writer connection makes a claim (one `update … returning`)
//! atomic, as `for update skip locked` does on Postgres.

use super::{micros, time, SqliteStore};
use crate::outbox::{state, Job, JobCount, JobInfo, NewJob, Settlement};
use crate::store::{json_text, json_value, JobStore, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use std::collections::HashSet;
use std::time::Duration;

/// Inserts a job inside the caller's transaction (skipped when its dedupe key exists).
pub(super) async fn insert(
    tx: &mut SqliteConnection,
    job: &NewJob,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into jobs (kind, dedupe_key, payload, state, attempts, run_at, created_at, updated_at)
         values (?1, ?2, ?3, 'queued', 0, ?4, ?5, ?5) on conflict (dedupe_key) do nothing",
    )
    .bind(job.kind)
    .bind(job.dedupe_key.as_deref())
    .bind(json_text(&job.payload)?)
    .bind(micros(job.run_at))
    .bind(micros(now))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Inserts jobs in one statement inside the caller's transaction: `(job, created at)` pairs
/// (each skipped when its dedupe key exists).
pub(super) async fn insert_many(
    tx: &mut SqliteConnection,
    jobs: &[(&NewJob, DateTime<Utc>)],
) -> Result<(), StoreError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let rows = jobs
        .iter()
        .map(|(job, at)| {
            Ok(json!([
                job.kind,
                job.dedupe_key,
                json_text(&job.payload)?,
                micros(job.run_at),
                micros(*at)
            ]))
        })
        .collect::<Result<Vec<Value>, StoreError>>()?;
    sqlx::query(
        "insert into jobs (kind, dedupe_key, payload, state, attempts, run_at, created_at, updated_at)
         select value ->> 0, value ->> 1, value ->> 2, 'queued', 0, value ->> 3, value ->> 4, value ->> 4
         from json_each(?1) where true on conflict (dedupe_key) do nothing",
    )
    .bind(Value::Array(rows).to_string())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn info(row: &SqliteRow) -> Result<JobInfo, StoreError> {
    Ok(JobInfo {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        state: row.try_get("state")?,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        run_at: time(row.try_get("run_at")?)?,
        last_error: row.try_get("last_error")?,
        payload: json_value(row.try_get("payload")?)?,
        created_at: time(row.try_get("created_at")?)?,
        updated_at: time(row.try_get("updated_at")?)?,
    })
}

impl SqliteStore {
    /// Moves a running job we hold to `new_state`, enqueuing `follow_ups` atomically.
    async fn settle(
        &self,
        id: i64,
        worker: &str,
        new_state: &str,
        error: Option<&str>,
        run_at: Option<DateTime<Utc>>,
        follow_ups: &[NewJob],
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        let mut tx = self.writer.begin().await?;
        let updated = sqlx::query(
            "update jobs set state = ?3, last_error = coalesce(?4, last_error), run_at = coalesce(?5, run_at),
                             lease_until = null, updated_at = ?6
             where id = ?1 and worker = ?2 and state = 'running'",
        )
        .bind(id)
        .bind(worker)
        .bind(new_state)
        .bind(error)
        .bind(run_at.map(micros))
        .bind(micros(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        for job in follow_ups {
            insert(&mut tx, job, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn enqueue_jobs(&self, jobs: &[NewJob]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
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
    ) -> Result<Vec<Job>, StoreError> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        let rows = sqlx::query(
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
        )
        .bind(worker)
        .bind(micros(until))
        .bind(micros(now))
        .bind(i64::from(limit))
        .bind(json!(except).to_string())
        .fetch_all(&self.writer)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Job {
                    id: row.try_get("id")?,
                    kind: row.try_get("kind")?,
                    payload: json_value(row.try_get("payload")?)?,
                    attempts: row.try_get::<i64, _>("attempts")? as u32,
                    created_at: time(row.try_get("created_at")?)?,
                })
            })
            .collect()
    }

    async fn complete_job(&self, id: i64, worker: &str, follow_ups: &[NewJob]) -> Result<bool, StoreError> {
        self.settle(id, worker, state::DONE, None, None, follow_ups).await
    }

    async fn retry_job_later(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        run_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.settle(id, worker, state::QUEUED, Some(error), Some(run_at), &[])
            .await
    }

    async fn bury_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        follow_ups: &[NewJob],
    ) -> Result<bool, StoreError> {
        self.settle(id, worker, state::DEAD, Some(error), None, follow_ups)
            .await
    }

    /// Every outcome in one transaction of four statements, whatever their number.
    async fn settle_jobs(&self, worker: &str, settlements: &[Settlement]) -> Result<Vec<bool>, StoreError> {
        if settlements.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let rows: Vec<Value> = settlements
            .iter()
            .map(|s| json!([s.id, s.state, s.error, s.run_at.map(micros)]))
            .collect();
        let mut tx = self.writer.begin().await?;
        let kept: HashSet<i64> = sqlx::query_scalar(
            "update jobs set state = s.value ->> 1, last_error = coalesce(s.value ->> 2, last_error),
                             run_at = coalesce(s.value ->> 3, run_at), lease_until = null, updated_at = ?2
             from json_each(?3) as s
             where jobs.id = s.value ->> 0 and jobs.worker = ?1 and jobs.state = 'running'
             returning jobs.id",
        )
        .bind(worker)
        .bind(micros(now))
        .bind(Value::Array(rows).to_string())
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let follow_ups: Vec<(&NewJob, DateTime<Utc>)> = settlements
            .iter()
            .filter(|s| kept.contains(&s.id))
            .flat_map(|s| s.follow_ups.iter().map(|job| (job, now)))
            .collect();
        insert_many(&mut tx, &follow_ups).await?;
        tx.commit().await?;
        Ok(settlements.iter().map(|s| kept.contains(&s.id)).collect())
    }

    async fn list_jobs(&self, state: Option<&str>, limit: u32) -> Result<Vec<JobInfo>, StoreError> {
        let rows =
            sqlx::query("select * from jobs where (?1 is null or state = ?1) order by id desc limit ?2")
                .bind(state)
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(info).collect()
    }

    async fn revive_job(&self, id: i64) -> Result<bool, StoreError> {
        let now = micros(Utc::now());
        let updated = sqlx::query(
            "update jobs set state = 'queued', attempts = 0, run_at = ?2, updated_at = ?2 where id = ?1 and state = 'dead'",
        )
        .bind(id)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(updated.rows_affected() == 1)
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
