//! Group commit. Callbacks queue for the one writer connection; whatever queued while the
//! previous transaction was committing goes into the next one, each callback in its own
//! savepoint. One commit (one WAL append, and with `synchronous=full` one fsync) then serves
//! many callbacks, and no callback waits on a timer: a lone one is committed at once. Each
//! callback is answered only after the transaction holding it has committed.

use super::bulk;
use super::profiles::record_in;
use crate::store::{CallbackRecord, Recorded, StoreError};
use sqlx::{Connection as _, SqlitePool};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The most callbacks one transaction carries, which bounds how long it holds the writer.
const MAX_BATCH: usize = 256;

/// How often the writer checkpoints while callbacks keep coming (see `checkpoint`).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

type Reply = oneshot::Sender<Result<Recorded, StoreError>>;

/// The queue in front of the writer, and the task that drains it.
pub struct GroupCommit {
    queue: mpsc::Sender<(CallbackRecord, Reply)>,
}

impl GroupCommit {
    /// `backfill` copies most of the WAL into the database while the writer goes on (a reader
    /// pool; `None` for an in-memory database, which has no WAL).
    pub fn start(writer: SqlitePool, backfill: Option<SqlitePool>) -> Self {
        let (queue, requests) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(drain(writer, backfill, requests));
        Self { queue }
    }

    /// Stores one callback; returns once the transaction that holds it has committed.
    pub async fn record(&self, callback: CallbackRecord) -> Result<Recorded, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((callback, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite writer has stopped".to_owned())
}

async fn drain(
    writer: SqlitePool,
    backfill: Option<SqlitePool>,
    mut requests: mpsc::Receiver<(CallbackRecord, Reply)>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut checkpointed = Instant::now();
    let mut backfilling: Option<JoinHandle<()>> = None;
    while requests.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Every CHECKPOINT_EVERY: another connection copies the log while batches go on, then
        // the writer copies what was appended meanwhile, between two batches (see `checkpoint`).
        match (&backfilling, &backfill) {
            (Some(copying), _) if copying.is_finished() => {
                backfilling = None;
                checkpoint(&writer).await;
                checkpointed = Instant::now();
            }
            (None, Some(readers)) if checkpointed.elapsed() >= CHECKPOINT_EVERY => {
                let readers = readers.clone();
                backfilling = Some(tokio::spawn(async move { checkpoint(&readers).await }));
            }
            (None, None) if checkpointed.elapsed() >= CHECKPOINT_EVERY => {
                checkpoint(&writer).await;
                checkpointed = Instant::now();
            }
            _ => {}
        }
        let (callbacks, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let count = callbacks.len();
        // Its own task, so that a panic fails this batch instead of every later one.
        let pool = writer.clone();
        let results = match tokio::spawn(async move { commit(&pool, &callbacks).await }).await {
            Ok(results) => results,
            Err(panic) => failed(count, &format!("group commit failed: {panic}")),
        };
        crate::metrics::group_commit(count);
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have gone (client hung up): the callback is stored all the same.
            let _ = reply.send(result);
        }
    }
}

/// Copies the WAL into the database. Only between two batches, with no commit under way, can
/// a checkpoint catch up with the log, so that the next commit starts it again from the
/// beginning: checkpoints on other connections race the writer, and under continuous load
/// the WAL would grow without end (seen: 138 MB in 10 s). But a checkpoint of 250 ms of load
/// took ~25 ms, and every callback waited behind it (it was the p99). So another connection
/// copies first, without stopping the writer, and the writer then copies only the tail.
async fn checkpoint(writer: &SqlitePool) {
    if let Err(error) = sqlx::query("pragma wal_checkpoint(passive)")
        .execute(writer)
        .await
    {
        tracing::warn!(%error, "WAL checkpoint failed");
    }
}

/// Each callback's outcome; all fail when the transaction does (then none is stored).
async fn commit(writer: &SqlitePool, callbacks: &[CallbackRecord]) -> Vec<Result<Recorded, StoreError>> {
    match commit_all(writer, callbacks).await {
        Ok(outcomes) => outcomes,
        Err(error) => failed(callbacks.len(), &error.to_string()),
    }
}

async fn commit_all(
    writer: &SqlitePool,
    callbacks: &[CallbackRecord],
) -> Result<Vec<Result<Recorded, StoreError>>, StoreError> {
    if bulk::eligible(callbacks) {
        let mut tx = writer.begin().await?;
        match bulk::record(&mut tx, callbacks).await {
            Ok(outcomes) => {
                tx.commit().await?;
                return Ok(outcomes.into_iter().map(Ok).collect());
            }
            // Find which callback failed, and store the others: one at a time.
            Err(error) => tracing::warn!(%error, "a batch failed; storing its callbacks one by one"),
        }
    }
    let mut tx = writer.begin().await?;
    let mut outcomes = Vec::with_capacity(callbacks.len());
    for callback in callbacks {
        // A callback that fails is undone alone; the others in the batch still commit.
        let mut savepoint = tx.begin().await?;
        let outcome = record_in(&mut savepoint, callback).await;
        if outcome.is_ok() {
            savepoint.commit().await?;
        } else {
            savepoint.rollback().await?;
        }
        outcomes.push(outcome);
    }
    tx.commit().await?;
    Ok(outcomes)
}

fn failed(count: usize, why: &str) -> Vec<Result<Recorded, StoreError>> {
    (0..count)
        .map(|_| Err(StoreError::Unavailable(why.to_owned())))
        .collect()
}
