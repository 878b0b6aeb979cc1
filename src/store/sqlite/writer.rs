//! The one writer. Every write to the database goes through one thread that owns the only
//! writing connection (rusqlite: statements are stepped right there, with no round trip to
//! another thread). Whatever queued while the previous transaction was committing goes into
//! the next one: callbacks, many to a transaction (group commit), and the other writes (job
//! claims and outcomes, deliveries...), each in a savepoint of its own, so that one failing
//! is undone alone. One commit (one WAL append, and with `synchronous=full` one fsync) then
//! serves them all, and nothing waits on a timer: a lone write is committed at once. Each
//! caller is answered only after the transaction holding its write has committed.
//!
//! A single writer also keeps the connection's page cache: SQLite drops a connection's whole
//! cache whenever another connection has committed.

use super::bulk;
use super::checkpoint::{Checkpoints, CHECKPOINT_EVERY};
use super::profiles::record_in;
use crate::config::SqliteSynchronous;
use crate::store::{CallbackRecord, Recorded, StoreError};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use sqlx::SqlitePool;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The most callbacks one transaction carries, which bounds how long it holds the database.
const MAX_CALLBACKS: usize = 256;

/// The most other writes one transaction carries.
const MAX_WRITES: usize = 64;

type Reply = oneshot::Sender<Result<Recorded, StoreError>>;

/// Answers a write's caller once its transaction has ended (`Err`: it did not commit).
type Deliver = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

/// A write other than a callback, run in a savepoint of its own.
trait Write: Send {
    /// Runs it: whether it succeeded (its savepoint is kept, else undone), and how to answer.
    fn run(self: Box<Self>, connection: &Connection) -> (bool, Deliver);

    /// Answers without running it.
    fn refuse(self: Box<Self>, error: &StoreError);
}

struct Op<F, R> {
    write: F,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

impl<F, R> Write for Op<F, R>
where
    R: Send + 'static,
    F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, connection: &Connection) -> (bool, Deliver) {
        let Op { write, reply } = *self;
        let result = write(connection);
        let ok = result.is_ok();
        let deliver: Deliver = Box::new(move |committed| {
            let _ = reply.send(match committed {
                Ok(()) => result,
                Err(error) => result.and(Err(StoreError::Unavailable(error.to_string()))),
            });
        });
        (ok, deliver)
    }

    fn refuse(self: Box<Self>, error: &StoreError) {
        let _ = self.reply.send(Err(StoreError::Unavailable(error.to_string())));
    }
}

enum Request {
    Record(Box<CallbackRecord>, Reply),
    Write(Box<dyn Write>),
    /// Nothing to write: wakes the writer to go on checkpointing while writes have stopped.
    Tick,
    /// Commit what queued before, then end the thread.
    Stop,
}

/// Opens the writer's connection to a database file that exists, with the settings of the
/// readers (`mod.rs`). No mutex: only the writer thread uses it.
pub fn open(path: &Path, synchronous: SqliteSynchronous) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(Duration::from_secs(5))?;
    connection.pragma_update(None, "journal_mode", "wal")?;
    let synchronous = match synchronous {
        SqliteSynchronous::Normal => "normal",
        SqliteSynchronous::Full => "full",
    };
    connection.pragma_update(None, "synchronous", synchronous)?;
    connection.pragma_update(None, "foreign_keys", "on")?;
    // No automatic checkpoint inside a commit: it would stall every write queued behind it.
    // The writer checkpoints between transactions, helped by a reader (`checkpoint.rs`).
    connection.pragma_update(None, "wal_autocheckpoint", 0)?;
    // Statement journals in memory: each savepoint and multi-row statement keeps one, and past
    // 64 KiB SQLite spilled it to a temp file, created and deleted per statement (a fifth of
    // the writer's time once). They matter only inside a transaction, never after a crash.
    connection.pragma_update(None, "temp_store", "memory")?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

/// The queue in front of the writer thread.
pub struct WriterHandle {
    queue: mpsc::Sender<Request>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl WriterHandle {
    /// Starts the thread on `connection`; `backfill` (a reader pool) copies most of the WAL
    /// into the database while the writer goes on.
    pub fn start(connection: Connection, backfill: SqlitePool) -> Result<Self, StoreError> {
        let (queue, requests) = mpsc::channel(4 * MAX_CALLBACKS);
        let writer = Writer {
            checkpoints: Checkpoints::new(backfill, &connection),
            connection,
            open_notify: None,
        };
        let ticks = queue.downgrade();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(CHECKPOINT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                // Full: the writer is busy, and checkpoints between its transactions anyway.
                match ticks.upgrade().map(|queue| queue.try_send(Request::Tick)) {
                    Some(Ok(()) | Err(mpsc::error::TrySendError::Full(_))) => {}
                    None | Some(Err(mpsc::error::TrySendError::Closed(_))) => return,
                }
            }
        });
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

    /// Runs `write` on the writer's connection, in a savepoint of the next transaction;
    /// returns its result once that transaction has committed.
    pub async fn write<R, F>(&self, write: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let write = Box::new(Op { write, reply });
        self.queue
            .send(Request::Write(write))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Commits what is queued, then stops the thread (later writes fail) and waits for it.
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

/// What one transaction carries.
#[derive(Default)]
struct Batch {
    callbacks: Vec<CallbackRecord>,
    replies: Vec<Reply>,
    writes: Vec<Box<dyn Write>>,
}

impl Batch {
    /// Takes a request; false for `Stop`.
    fn take(&mut self, request: Request) -> bool {
        match request {
            Request::Record(callback, reply) => {
                self.callbacks.push(*callback);
                self.replies.push(reply);
            }
            Request::Write(write) => self.writes.push(write),
            Request::Tick => {}
            Request::Stop => return false,
        }
        true
    }

    fn full(&self) -> bool {
        self.callbacks.len() >= MAX_CALLBACKS || self.writes.len() >= MAX_WRITES
    }
}

struct Writer {
    connection: Connection,
    /// The `notify` job the last group commit queued (see `bulk::record`).
    open_notify: Option<i64>,
    checkpoints: Checkpoints,
}

impl Writer {
    fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        let mut stopping = false;
        while !stopping {
            let mut batch = Batch::default();
            if !requests
                .blocking_recv()
                .is_some_and(|request| batch.take(request))
            {
                break;
            }
            while !batch.full() {
                let Ok(request) = requests.try_recv() else {
                    break;
                };
                if !batch.take(request) {
                    stopping = true;
                    break;
                }
            }
            if batch.callbacks.is_empty() && batch.writes.is_empty() {
                // Only ticks.
                self.checkpoints.between_transactions(&self.connection);
                continue;
            }
            let count = batch.callbacks.len();
            let replies = std::mem::take(&mut batch.replies);
            // A panic fails this transaction, not every later one.
            let (results, delivers, committed) = catch_unwind(AssertUnwindSafe(|| self.commit(batch)))
                .unwrap_or_else(|_| {
                    let why = StoreError::Unavailable("the SQLite writer failed: panic".to_owned());
                    (failed(count, &why), Vec::new(), Err(why))
                });
            if count > 0 {
                crate::metrics::group_commit(count);
            }
            for (reply, result) in replies.into_iter().zip(results) {
                // The caller may have gone (client hung up): the callback is stored all the same.
                let _ = reply.send(result);
            }
            for (deliver, not_kept) in delivers {
                match (&committed, not_kept) {
                    (Ok(()), Some(error)) => deliver(Err(&error)),
                    (committed, _) => deliver(committed.as_ref().map(|_| ())),
                }
            }
            self.checkpoints.between_transactions(&self.connection);
        }
    }

    /// One transaction: the callbacks' outcomes, how to answer the other writes (with why
    /// one's savepoint could not be kept), and whether it committed. Nothing of it is stored
    /// when it did not.
    #[allow(clippy::type_complexity)]
    fn commit(
        &mut self,
        batch: Batch,
    ) -> (
        Vec<Result<Recorded, StoreError>>,
        Vec<(Deliver, Option<StoreError>)>,
        Result<(), StoreError>,
    ) {
        let count = batch.callbacks.len();
        let (mut tx, mut outcomes) =
            match record_callbacks(&self.connection, &batch.callbacks, &mut self.open_notify) {
                Ok(begun) => begun,
                Err(error) => {
                    for write in batch.writes {
                        write.refuse(&error);
                    }
                    return (failed(count, &error), Vec::new(), Err(error));
                }
            };
        let mut delivers = Vec::with_capacity(batch.writes.len());
        for write in batch.writes {
            let savepoint = match tx.savepoint() {
                Ok(savepoint) => savepoint,
                Err(error) => {
                    write.refuse(&error.into());
                    continue;
                }
            };
            // Undone when dropped without a commit.
            let (ok, deliver) = write.run(&savepoint);
            let kept = if ok {
                savepoint.commit().err().map(StoreError::from)
            } else {
                None
            };
            delivers.push((deliver, kept));
        }
        let committed = tx.commit().map_err(StoreError::from);
        if let Err(error) = &committed {
            outcomes = failed(count, error);
        }
        (outcomes, delivers, committed)
    }
}

/// The callbacks of one transaction, its first writes: all in a few statements when the
/// batch is what Twilio sends, else one at a time, each in a savepoint of its own, so that
/// one failing is undone alone. A batch that fails takes the transaction with it (a
/// savepoint around it would copy every page it touches first); it is begun again and the
/// batch stored one at a time.
#[allow(clippy::type_complexity)]
fn record_callbacks<'c>(
    connection: &'c Connection,
    callbacks: &[CallbackRecord],
    open_notify: &mut Option<i64>,
) -> Result<(Transaction<'c>, Vec<Result<Recorded, StoreError>>), StoreError> {
    if bulk::eligible(callbacks) && !callbacks.is_empty() {
        // Only this thread uses the connection, and one transaction at a time.
        let tx = Transaction::new_unchecked(connection, TransactionBehavior::Immediate)?;
        match bulk::record(&tx, callbacks, open_notify) {
            Ok(outcomes) => return Ok((tx, outcomes.into_iter().map(Ok).collect())),
            Err(error) => {
                tracing::warn!(%error, "a batch failed; storing its callbacks one by one");
                tx.rollback()?;
            }
        }
    }
    let mut tx = Transaction::new_unchecked(connection, TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(callbacks.len());
    for callback in callbacks {
        let one = tx.savepoint()?;
        let outcome = record_in(&one, callback, open_notify);
        if outcome.is_ok() {
            one.commit()?;
        }
        outcomes.push(outcome);
    }
    Ok((tx, outcomes))
}

fn failed(count: usize, why: &StoreError) -> Vec<Result<Recorded, StoreError>> {
    (0..count)
        .map(|_| Err(StoreError::Unavailable(why.to_string())))
        .collect()
}

#[cfg(test)]
mod tests;
