//! Group commit. Callbacks queue for one writer thread, which owns a connection of its own
//! (rusqlite: a batch is stepped right there, statement after statement, with no round trip
//! to another thread); whatever queued while the previous transaction was committing goes
//! into the next one. One commit (one WAL append, and with `synchronous=full` one fsync) then
//! serves many callbacks, and no callback waits on a timer: a lone one is committed at once.
//! Each callback is answered only after the transaction holding it has committed.
//!
//! The rest of the store writes through sqlx's one writer connection. The thread holds that
//! connection while it writes, so the two never take turns through SQLite's busy handler
//! (which sleeps): it is this process's write lock.

use super::bulk;
use super::profiles::record_in;
use crate::store::{CallbackRecord, Recorded, StoreError};
use rusqlite::{Connection, TransactionBehavior};
use sqlx::pool::PoolConnection;
use sqlx::{Connection as _, Sqlite, SqlitePool};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The most callbacks one transaction carries, which bounds how long it holds the writer.
const MAX_BATCH: usize = 256;

/// How often the writer checkpoints while callbacks keep coming (see `Writer::checkpoint`).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

type Reply = oneshot::Sender<Result<Recorded, StoreError>>;

enum Request {
    Record(Box<CallbackRecord>, Reply),
    /// Commit what queued before, then end the thread.
    Stop,
}

/// The queue in front of the writer thread.
pub struct GroupCommit {
    queue: mpsc::Sender<Request>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl GroupCommit {
    /// `direct` is the thread's own connection to the database file (`None` for an in-memory
    /// database, which only sqlx's writer can reach: its callbacks are stored one at a time
    /// through it). `backfill` copies most of the WAL into the database while the writer goes
    /// on (a reader pool; `None` without a WAL).
    pub fn start(
        direct: Option<Connection>,
        writer: SqlitePool,
        backfill: Option<SqlitePool>,
    ) -> Result<Self, StoreError> {
        let (queue, requests) = mpsc::channel(4 * MAX_BATCH);
        let writer = Writer {
            runtime: Handle::current(),
            direct,
            writer,
            backfill,
            backfilling: None,
            checkpointed: Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || writer.run(requests))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Self {
            queue,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stores one callback; returns once the transaction that holds it has committed.
    pub async fn record(&self, callback: CallbackRecord) -> Result<Recorded, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request::Record(Box::new(callback), reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Commits what is queued, then stops the thread (later callbacks fail) and waits for it.
    pub async fn stop(&self) {
        let _ = self.queue.send(Request::Stop).await;
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite writer has stopped".to_owned())
}

struct Writer {
    runtime: Handle,
    direct: Option<Connection>,
    writer: SqlitePool,
    backfill: Option<SqlitePool>,
    backfilling: Option<JoinHandle<()>>,
    checkpointed: Instant,
}

impl Writer {
    fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        // sqlx returns a connection to its pool from a task: the runtime's, not this thread's.
        let _runtime = self.runtime.enter();
        let mut batch: Vec<(CallbackRecord, Reply)> = Vec::with_capacity(MAX_BATCH);
        let mut stopping = false;
        while !stopping {
            match requests.blocking_recv() {
                Some(Request::Record(callback, reply)) => batch.push((*callback, reply)),
                Some(Request::Stop) | None => break,
            }
            let lock = self.runtime.block_on(self.writer.acquire());
            // What queued while the lock was taken goes in too.
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(Request::Record(callback, reply)) => batch.push((*callback, reply)),
                    Ok(Request::Stop) => {
                        stopping = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            let (callbacks, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
            let results = match lock {
                Ok(mut lock) => {
                    // A panic fails this batch, not every later one.
                    let results = catch_unwind(AssertUnwindSafe(|| self.commit(&mut lock, &callbacks)))
                        .unwrap_or_else(|_| failed(callbacks.len(), "group commit failed: panic"));
                    self.checkpoint();
                    results
                }
                Err(error) => failed(callbacks.len(), &error.to_string()),
            };
            crate::metrics::group_commit(callbacks.len());
            for (reply, result) in replies.into_iter().zip(results) {
                // The caller may have gone (client hung up): the callback is stored all the same.
                let _ = reply.send(result);
            }
        }
    }

    /// Each callback's outcome; all fail when the transaction does (then none is stored).
    fn commit(
        &mut self,
        lock: &mut PoolConnection<Sqlite>,
        callbacks: &[CallbackRecord],
    ) -> Vec<Result<Recorded, StoreError>> {
        if let (Some(direct), true) = (self.direct.as_mut(), bulk::eligible(callbacks)) {
            match commit_bulk(direct, callbacks) {
                Ok(outcomes) => return outcomes.into_iter().map(Ok).collect(),
                // Find which callback failed, and store the others: one at a time.
                Err(error) => tracing::warn!(%error, "a batch failed; storing its callbacks one by one"),
            }
        }
        match self.runtime.block_on(one_at_a_time(lock, callbacks)) {
            Ok(outcomes) => outcomes,
            Err(error) => failed(callbacks.len(), &error.to_string()),
        }
    }

    /// Copies the WAL into the database. Only between two batches, with no commit under way,
    /// can a checkpoint catch up with the log, so that the next commit starts it again from
    /// the beginning: checkpoints on other connections race the writer, and under continuous
    /// load the WAL would grow without end (seen: 138 MB in 10 s). But a checkpoint of 250 ms
    /// of load took ~25 ms, and every callback waited behind it (it was the p99). So every
    /// CHECKPOINT_EVERY a reader copies first, without stopping the writer, and the writer
    /// then copies only the tail, between two batches.
    fn checkpoint(&mut self) {
        let (Some(direct), Some(readers)) = (&self.direct, &self.backfill) else {
            return;
        };
        match &self.backfilling {
            Some(copying) if copying.is_finished() => {
                self.backfilling = None;
                if let Err(error) = direct.query_row("pragma wal_checkpoint(passive)", [], |_| Ok(())) {
                    tracing::warn!(%error, "WAL checkpoint failed");
                }
                self.checkpointed = Instant::now();
            }
            None if self.checkpointed.elapsed() >= CHECKPOINT_EVERY => {
                let readers = readers.clone();
                self.backfilling = Some(
                    self.runtime
                        .spawn(async move { super::checkpoint_once(&readers).await }),
                );
            }
            _ => {}
        }
    }
}

fn commit_bulk(direct: &mut Connection, callbacks: &[CallbackRecord]) -> Result<Vec<Recorded>, StoreError> {
    let tx = direct.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let outcomes = bulk::record(&tx, callbacks)?;
    tx.commit()?;
    Ok(outcomes)
}

/// Each callback in its own savepoint, through sqlx's writer: one that fails is undone alone,
/// the others in the batch still commit.
async fn one_at_a_time(
    writer: &mut PoolConnection<Sqlite>,
    callbacks: &[CallbackRecord],
) -> Result<Vec<Result<Recorded, StoreError>>, StoreError> {
    let mut tx = writer.begin().await?;
    let mut outcomes = Vec::with_capacity(callbacks.len());
    for callback in callbacks {
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

#[cfg(test)]
mod tests {
    use super::super::SqliteStore;
    use crate::config::SqliteSynchronous;
    use crate::domain::{Decision, ProfileSid};
    use crate::store::fixtures::callback;
    use crate::store::{CallbackStore as _, Recorded, Store as _};

    /// Both connections the writer uses: the thread's own for a file, sqlx's for `:memory:`
    /// (and for any batch holding a callback without a token), with the same outcomes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn file_and_memory_databases_record_alike() {
        let dir = tempfile::tempdir().unwrap();
        let file = format!("sqlite://{}", dir.path().join("hooks.db").display());
        for url in [file.as_str(), "sqlite::memory:"] {
            let store = SqliteStore::connect(url, SqliteSynchronous::Normal)
                .await
                .unwrap();
            store.migrate().await.unwrap();
            let mut untokened = callback("unused", 2, "in-review", 3, None);
            untokened.idempotency_token = None;
            // Polled in this order, so queued in this order, in one batch or more.
            let (a, b, again) = (
                callback("a", 1, "pending-review", 0, None),
                callback("b", 1, "in-review", 1, None),
                callback("a", 1, "pending-review", 2, None),
            );
            let outcomes = tokio::join!(
                store.record_callback(&a),
                store.record_callback(&b),
                store.record_callback(&again)
            );
            let outcomes = [outcomes.0.unwrap(), outcomes.1.unwrap(), outcomes.2.unwrap()];
            assert!(
                matches!(
                    outcomes[0],
                    Recorded::Stored {
                        decision: Some(Decision::Advance),
                        ..
                    }
                ),
                "{url}: {outcomes:?}"
            );
            assert!(
                matches!(
                    outcomes[1],
                    Recorded::Stored {
                        decision: Some(Decision::Advance),
                        ..
                    }
                ),
                "{url}: {outcomes:?}"
            );
            assert_eq!(outcomes[2], Recorded::Duplicate, "{url}");
            let second = tokio::join!(
                store.record_callback(&untokened),
                store.record_callback(&untokened)
            );
            let second = [second.0.unwrap(), second.1.unwrap()];
            assert!(
                matches!(
                    second[0],
                    Recorded::Stored {
                        decision: Some(Decision::Advance),
                        ..
                    }
                ),
                "{url}: {second:?}"
            );
            assert_eq!(
                second[1],
                Recorded::Duplicate,
                "{url}: same body, no token, latest"
            );
            let sid = ProfileSid::parse(&format!("BU{:032x}", 1)).unwrap();
            let profile = store.get_profile(&sid).await.unwrap().unwrap();
            assert_eq!(profile.profile.status.as_wire(), "in-review", "{url}");
            assert_eq!(profile.transitions.len(), 2, "{url}");
            store.close().await;
            // Stopped: nothing more is taken.
            let late = store
                .record_callback(&callback("c", 3, "pending-review", 9, None))
                .await;
            assert!(late.is_err(), "{url}: {late:?}");
        }
    }
}
