//! Group commit. Callbacks queue here; whatever queued while the previous batch was committing
//! goes into the next transaction, so one commit (one WAL flush) and a handful of round trips
//! serve many callbacks, and no callback waits on a timer: a lone one is committed at once.
//! Each callback is answered only after the transaction holding it has committed.
//!
//! `LANES` batches may commit at once (one, as measured now), each on its own connection, and
//! a profile's callbacks always take the same lane: two batches of one replica then never
//! wait for each other's row locks, and a lane applies one profile's reports in the order
//! they queued.

use super::bulk::{self, Eligible};
use super::profiles::record_one;
use crate::store::{CallbackRecord, Recorded, StoreError};
use sqlx::PgPool;
use std::hash::{BuildHasher as _, BuildHasherDefault, DefaultHasher};
use tokio::sync::{mpsc, oneshot};

/// The most callbacks one transaction carries, which bounds how long it holds its locks.
const MAX_BATCH: usize = 256;

/// Batches committing at once. Measured with wrk -c64 on 2 cores, when the job worker still
/// claimed back to back: 1 lane ~3,000 callbacks/s, 2 lanes ~3,600/s, 3 or 4 no better. Since
/// it claims at most every 10 ms: 1 lane 12.9k and 12.7k/s, 2 lanes 11.4k and 11.0k/s, with
/// PostgreSQL using 8.4 rather than 10.9 s of CPU in 10 s: batches are small (~10 callbacks)
/// and each costs eight statements whatever its size, so halving them costs more than the
/// overlap gains.
const LANES: usize = 1;

type Reply = oneshot::Sender<Result<Recorded, StoreError>>;

/// The queues in front of the pool, one per lane, each drained by its own task.
pub struct GroupCommit {
    lanes: Vec<mpsc::Sender<(CallbackRecord, Reply)>>,
}

impl GroupCommit {
    pub fn start(pool: PgPool) -> Self {
        let lanes = (0..LANES)
            .map(|_| {
                let (queue, requests) = mpsc::channel(4 * MAX_BATCH);
                tokio::spawn(drain(pool.clone(), requests));
                queue
            })
            .collect();
        Self { lanes }
    }

    /// Stores one callback; returns once the transaction that holds it has committed.
    pub async fn record(&self, callback: CallbackRecord) -> Result<Recorded, StoreError> {
        let sid = callback.report.as_ref().ok().map(|r| r.profile_sid.as_str());
        let lane = BuildHasherDefault::<DefaultHasher>::default().hash_one(sid) as usize % self.lanes.len();
        let (reply, answer) = oneshot::channel();
        self.lanes[lane]
            .send((callback, reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the PostgreSQL group commit has stopped".to_owned())
}

async fn drain(pool: PgPool, mut requests: mpsc::Receiver<(CallbackRecord, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The `notify` job this lane queued last (see `bulk::record`).
    let mut open_notify = None;
    while requests.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (callbacks, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let count = callbacks.len();
        // Its own task, so that a panic fails this batch instead of every later one.
        let pool = pool.clone();
        let committing = tokio::spawn(async move {
            let results = commit(&pool, &callbacks, &mut open_notify).await;
            (results, open_notify)
        });
        let results = match committing.await {
            Ok((results, open)) => {
                open_notify = open;
                results
            }
            Err(panic) => {
                open_notify = None;
                (0..count)
                    .map(|_| Err(StoreError::Unavailable(format!("group commit failed: {panic}"))))
                    .collect()
            }
        };
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have gone (client hung up): the callback is stored all the same.
            let _ = reply.send(result);
        }
    }
}

/// Each callback's outcome. Callbacks the bulk path takes go in one transaction; the others,
/// and all of them when that transaction fails on a statement, go one at a time, each in its
/// own transaction (holding one profile's lock at a time, which cannot deadlock with a batch).
/// The callbacks of one batch were all in flight together, so any order among them is one
/// they could have arrived in.
async fn commit(
    pool: &PgPool,
    callbacks: &[CallbackRecord],
    open_notify: &mut Option<i64>,
) -> Vec<Result<Recorded, StoreError>> {
    let mut results: Vec<Option<Result<Recorded, StoreError>>> = callbacks.iter().map(|_| None).collect();
    let (indices, eligible): (Vec<usize>, Vec<Eligible>) = callbacks
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((i, Eligible::new(c)?)))
        .unzip();
    let mut down = None;
    if !eligible.is_empty() {
        match commit_bulk(pool, &eligible, open_notify).await {
            Ok(outcomes) => {
                for (i, outcome) in indices.into_iter().zip(outcomes) {
                    results[i] = Some(Ok(outcome));
                }
            }
            Err(error) if database_unreachable(&error) => down = Some(error.to_string()),
            Err(error) => tracing::warn!(%error, "a batch failed; storing its callbacks one by one"),
        }
    }
    let mut outcomes = Vec::with_capacity(callbacks.len());
    for (callback, result) in callbacks.iter().zip(results) {
        let outcome = match (result, &down) {
            (Some(result), _) => result,
            // Not stored: its caller answers 503 and Twilio retries.
            (None, Some(why)) => Err(StoreError::Unavailable(why.clone())),
            (None, None) => {
                let outcome = record_one(pool, callback).await;
                if let Err(error) = outcome.as_ref() {
                    down = database_unreachable(error).then(|| error.to_string());
                }
                outcome
            }
        };
        outcomes.push(outcome);
    }
    outcomes
}

async fn commit_bulk(
    pool: &PgPool,
    eligible: &[Eligible<'_>],
    open_notify: &mut Option<i64>,
) -> Result<Vec<Recorded>, StoreError> {
    let mut tx = pool.begin().await?;
    // Kept only if the transaction commits.
    let mut open = *open_notify;
    let outcomes = bulk::record(&mut tx, eligible, &mut open).await?;
    tx.commit().await?;
    *open_notify = open;
    Ok(outcomes)
}

/// Whether the database could not be reached at all (rather than refusing a statement): the
/// rest of the batch then fails at once instead of each waiting for a connection.
fn database_unreachable(error: &StoreError) -> bool {
    use sqlx::Error::{Io, PoolClosed, PoolTimedOut, Protocol, Tls, WorkerCrashed};
    match error {
        StoreError::Database(error) => {
            matches!(
                error,
                Io(_) | Tls(_) | Protocol(_) | PoolTimedOut | PoolClosed | WorkerCrashed
            )
        }
        StoreError::Unavailable(_) => true,
        _ => false,
    }
}
