//! The `retention` job (`RETENTION_DAYS`): `serve` enqueues one an hour, keyed by the hour, so
//! one replica sweeps at a time. It deletes done jobs, finished deliveries with their attempts
//! and callbacks that made no transition, older than the cutoff, a batch at a time
//! (`crate::store::retention`). Transitions, evaluations and profiles are never deleted.

use crate::queue::{retry_store, Job, JobError};
use crate::store::{DynStore, NewJob, RetentionStore, StoreError, SweptTable};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How often `serve` enqueues a sweep.
pub const INTERVAL_SECS: u64 = 3600;

/// Batches one job runs before it hands the rest to a follow-up job, so that it ends well
/// within its lease (`JOB_LEASE_SECS`) and no other replica takes it over mid-sweep.
const BATCHES_PER_JOB: u32 = 200;

/// The `retention` job.
pub struct RetentionJob {
    pub store: DynStore,
}

/// Where a sweep stands: the cutoff it was started with and, per table, the last id swept
/// (`None`: that table is done).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPayload {
    /// The hour the sweep belongs to (what makes its key).
    pub bucket: u64,
    /// Rows older than this (unix microseconds) go.
    pub cutoff: i64,
    /// The job of this sweep this one is (0 first).
    #[serde(default)]
    pub step: u32,
    /// Per table in `SweptTable::ALL`'s order: the last id swept, `None` once swept.
    pub after: [Option<i64>; 3],
}

fn new_job(payload: &RetentionPayload, now: DateTime<Utc>) -> NewJob {
    NewJob {
        kind: RetentionJob::KIND,
        payload: serde_json::to_value(payload).expect("plain structs serialize"),
        dedupe_key: Some(format!(
            "{}:{}:{}",
            RetentionJob::KIND,
            payload.bucket,
            payload.step
        )),
        run_at: now,
    }
}

/// The sweep of the hour containing `now`, keeping `days` days: replicas enqueue the same key.
pub fn periodic(days: u32, now: DateTime<Utc>) -> NewJob {
    let payload = RetentionPayload {
        bucket: now.timestamp().max(0) as u64 / INTERVAL_SECS,
        cutoff: (now - Duration::days(i64::from(days))).timestamp_micros(),
        step: 0,
        after: [Some(0); 3],
    };
    new_job(&payload, now)
}

/// Sweeps from `after` (per table, as in the payload) for at most `batches` batches; returns
/// where it stopped (every entry `None`: done) and how many rows went per table.
pub async fn sweep<S: RetentionStore + ?Sized>(
    store: &S,
    cutoff: DateTime<Utc>,
    mut after: [Option<i64>; 3],
    mut batches: u32,
) -> Result<([Option<i64>; 3], [u64; 3]), StoreError> {
    let mut deleted = [0; 3];
    for (i, table) in SweptTable::ALL.into_iter().enumerate() {
        while let Some(from) = after[i] {
            if batches == 0 {
                return Ok((after, deleted));
            }
            batches -= 1;
            let batch = store.sweep_batch(table, from, cutoff).await?;
            deleted[i] += batch.deleted;
            after[i] = batch.next;
        }
    }
    Ok((after, deleted))
}

#[async_trait]
impl Job for RetentionJob {
    const KIND: &'static str = "retention";
    type Payload = RetentionPayload;

    async fn run(&self, payload: RetentionPayload, _attempt: u32) -> Result<Vec<NewJob>, JobError> {
        let cutoff = DateTime::from_timestamp_micros(payload.cutoff)
            .ok_or_else(|| JobError::Permanent(format!("cutoff {} out of range", payload.cutoff)))?;
        let (after, deleted) = sweep(self.store.as_ref(), cutoff, payload.after, BATCHES_PER_JOB)
            .await
            .map_err(retry_store)?;
        let [jobs, deliveries, callbacks] = deleted;
        tracing::info!(%cutoff, jobs, deliveries, callbacks, "retention sweep");
        if after.iter().all(Option::is_none) {
            return Ok(Vec::new());
        }
        let rest = RetentionPayload {
            step: payload.step + 1,
            after,
            ..payload
        };
        Ok(vec![new_job(&rest, Utc::now())])
    }

    fn max_attempts(&self) -> u32 {
        // The next hour's sweep starts over.
        3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_of_one_hour_share_a_key_and_keep_the_days_asked_for() {
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        let (a, b, c) = (
            periodic(90, at(7200)),
            periodic(90, at(10_799)),
            periodic(90, at(10_800)),
        );
        assert_eq!(a.dedupe_key.as_deref(), Some("retention:2:0"));
        assert_eq!(a.dedupe_key, b.dedupe_key);
        assert_ne!(b.dedupe_key, c.dedupe_key);
        let payload: RetentionPayload = serde_json::from_value(a.payload).unwrap();
        assert_eq!(payload.cutoff, (at(7200) - Duration::days(90)).timestamp_micros());
    }
}
