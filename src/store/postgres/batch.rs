//! Group commit. Callbacks queue here; whatever queued while the previous batch was committing
//! goes into the next transaction, so one commit (one WAL flush) and a handful of round trips
//! serve many callbacks, and no callback waits on a timer: a lone one is committed at once.
//! Each callback is answered only after the transaction holding it has committed.
//!
//! `LANES` batches may commit at once (one, as measured now), each on its own connection, and
//! a profile's callbacks always take the same lane: two batches of one replica then never
//! wait for each other's row locks, and a lane applies one profile's reports in the order
//! they queued.
//!
//! A lane keeps its connection rather than taking one from the pool per batch: sqlx tests a
//! connection given back with a round trip, and each round trip costs both sides a wake-up
//! (~60 us of CPU on this VM, see the README). For the same reason, when the next batch is
//! already waiting, the lane commits and begins its transaction in one round trip.
//!
//! A lane runs on a thread of its own, with its own single-threaded runtime and its own
//! connections. On the shared runtime, a reply from PostgreSQL waited for a worker busy with
//! HTTP requests to poll for I/O (tokio checks between tasks, every few dozen of them) and
//! then to reach the lane's task in its queue, at each of a batch's round trips. Its own
//! thread sleeps in its own epoll and wakes when the reply lands: `bench/profile` on
//! PostgreSQL, six interleaved pairs, 7.3k-8.2k callbacks/s on the shared runtime, 7.3k-10.4k
//! on its own thread, better in five pairs of six (median +20%).

use super::bulk::{self, Eligible};
use super::profiles::record_one;
use crate::store::{CallbackRecord, Recorded, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Executor as _, PgPool, Postgres};
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

/// The queues in front of the pool, one per lane, each drained on its own thread.
pub struct GroupCommit {
    lanes: Vec<mpsc::Sender<(CallbackRecord, Reply)>>,
}

impl GroupCommit {
    /// Starts the lanes; each connects with `pool`'s settings, to a pool of its own.
    pub fn start(pool: &PgPool) -> Result<Self, StoreError> {
        let lanes = (0..LANES)
            .map(|n| {
                let (queue, requests) = mpsc::channel(4 * MAX_BATCH);
                spawn_lane(n, pool, requests, queue.downgrade())?;
                Ok(queue)
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Self { lanes })
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

/// Drains `requests` on a thread of its own until every sender has gone.
fn spawn_lane(
    n: usize,
    pool: &PgPool,
    requests: mpsc::Receiver<(CallbackRecord, Reply)>,
    queue: mpsc::WeakSender<(CallbackRecord, Reply)>,
) -> Result<(), StoreError> {
    let failed = |e: std::io::Error| StoreError::Unavailable(format!("cannot start a commit lane: {e}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(failed)?;
    // Two at most: a batch's transaction and, beside it, a callback stored on its own.
    let options = pool.options().clone().min_connections(0).max_connections(2);
    let connect = pool.connect_options();
    std::thread::Builder::new()
        .name(format!("pg-commit-{n}"))
        .spawn(move || {
            runtime.block_on(async move {
                // Created on this runtime, so its connections' I/O is driven by this thread.
                let pool = options.connect_lazy_with((*connect).clone());
                drain(pool.clone(), requests, queue).await;
                pool.close().await;
            })
        })
        .map_err(failed)?;
    Ok(())
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the PostgreSQL group commit has stopped".to_owned())
}

async fn drain(
    pool: PgPool,
    mut requests: mpsc::Receiver<(CallbackRecord, Reply)>,
    queue: mpsc::WeakSender<(CallbackRecord, Reply)>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut lane = Lane::new(pool);
    while requests.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (callbacks, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let count = callbacks.len();
        // Asked as the batch commits: whether callbacks queued meanwhile (a slot in use).
        let queue = queue.clone();
        let waiting = move || queue.upgrade().is_some_and(|q| q.capacity() < q.max_capacity());
        // Its own task, so that a panic fails this batch instead of every later one.
        let pool = lane.pool.clone();
        let committing = tokio::spawn(async move {
            let results = commit(&mut lane, &callbacks, waiting).await;
            (results, lane)
        });
        let results = match committing.await {
            Ok((results, kept)) => {
                lane = kept;
                results
            }
            Err(panic) => {
                // Its transaction, if any, was closed as the task unwound (`InTransaction`).
                lane = Lane::new(pool);
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

/// What a lane holds between batches.
struct Lane {
    pool: PgPool,
    /// The transaction the last commit began, when the next batch was already waiting.
    begun: Option<InTransaction>,
    /// The `notify` job this lane queued last (see `bulk::record`).
    open_notify: Option<i64>,
}

/// A connection inside a transaction. Closed if dropped so (on an error or a panic), which
/// ends the transaction on the server: given back to the pool, it would serve its next user
/// inside it.
struct InTransaction(Option<PoolConnection<Postgres>>);

impl Drop for InTransaction {
    fn drop(&mut self) {
        if let Some(connection) = &mut self.0 {
            connection.close_on_drop();
        }
    }
}

impl InTransaction {
    async fn begin(pool: &PgPool) -> Result<Self, StoreError> {
        let mut connection = Self(Some(pool.acquire().await?));
        connection.get().execute("begin").await?;
        Ok(connection)
    }

    fn get(&mut self) -> &mut PoolConnection<Postgres> {
        self.0.as_mut().expect("taken only when ended")
    }

    /// Commits; when `next` also begins the next transaction on the same connection, in the
    /// same round trip, else gives the connection back to the pool.
    async fn commit(mut self, next: bool) -> Result<Option<Self>, StoreError> {
        // No arguments: the simple protocol, which takes several statements.
        let statements = if next { "commit; begin" } else { "commit" };
        self.get().execute(statements).await?;
        Ok(match next {
            true => Some(self),
            false => {
                self.0.take();
                None
            }
        })
    }

    /// Ends a transaction that wrote nothing and gives the connection back.
    async fn end(mut self) -> Result<(), StoreError> {
        self.get().execute("rollback").await?;
        self.0.take();
        Ok(())
    }
}

impl Lane {
    fn new(pool: PgPool) -> Self {
        Self {
            pool,
            begun: None,
            open_notify: None,
        }
    }

    /// Stores `eligible` in one transaction; when another batch is `waiting` by then, its
    /// commit begins that one's (an idle lane holds no transaction open). On failure nothing
    /// of it is kept.
    async fn commit_bulk(
        &mut self,
        eligible: &[Eligible<'_>],
        waiting: impl Fn() -> bool,
    ) -> Result<Vec<Recorded>, StoreError> {
        let mut transaction = match self.begun.take() {
            Some(begun) => begun,
            None => InTransaction::begin(&self.pool).await?,
        };
        // Kept only if the transaction commits.
        let mut open = self.open_notify;
        let outcomes = bulk::record(transaction.get(), eligible, &mut open).await?;
        self.begun = transaction.commit(waiting()).await?;
        self.open_notify = open;
        Ok(outcomes)
    }

    /// After a batch with nothing for the bulk path: ends the transaction begun for it unless
    /// another batch is waiting.
    async fn idle(&mut self, waiting: impl Fn() -> bool) {
        if waiting() {
            return;
        }
        if let Some(begun) = self.begun.take() {
            if let Err(error) = begun.end().await {
                tracing::warn!(%error, "ending an empty transaction failed; its connection is closed");
            }
        }
    }
}

/// Each callback's outcome. Callbacks the bulk path takes go in one transaction; the others,
/// and all of them when that transaction fails on a statement, go one at a time, each in its
/// own transaction (holding one profile's lock at a time, which cannot deadlock with a batch).
/// The callbacks of one batch were all in flight together, so any order among them is one
/// they could have arrived in.
async fn commit(
    lane: &mut Lane,
    callbacks: &[CallbackRecord],
    waiting: impl Fn() -> bool,
) -> Vec<Result<Recorded, StoreError>> {
    let mut results: Vec<Option<Result<Recorded, StoreError>>> = callbacks.iter().map(|_| None).collect();
    let (indices, eligible): (Vec<usize>, Vec<Eligible>) = callbacks
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((i, Eligible::new(c)?)))
        .unzip();
    let mut down = None;
    if eligible.is_empty() {
        lane.idle(waiting).await;
    } else {
        match lane.commit_bulk(&eligible, waiting).await {
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
                let outcome = record_one(&lane.pool, callback).await;
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

#[cfg(test)]
mod tests;
