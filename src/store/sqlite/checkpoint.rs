//! Copying the WAL into the database (checkpoints), driven by the writer thread.
//!
//! The WAL starts again from its beginning only when a write transaction begins with all of
//! it copied, and only the writer can arrange that: it copies the tail between two of its
//! transactions. A checkpoint of a second of load took ~25 ms, and every write waited behind
//! it (it was the p99), so readers copy most of it first, every BACKFILL_EVERY, without
//! stopping the writer, and every CHECKPOINT_EVERY the writer then copies only the tail. When
//! writes stop, the writer is woken every CHECKPOINT_EVERY to go on (`WriterHandle::start`).
//!
//! Nothing else checkpoints: a checkpoint on another connection makes the writer's fail as
//! busy. An independent timer used to checkpoint on a reader every second as well; under
//! continuous load it overlapped the writer's, the log never started again, and the WAL
//! grew by the whole load (1.1 GB in 10 s on 2026-12-02, each reader checkpoint then
//! fsyncing a second of it, 60-100 ms).

use super::wal_flush::WalFlush;
use rusqlite::Connection;
use sqlx::SqlitePool;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::oneshot::{self, error::TryRecvError};

/// How often the writer copies the tail while writes keep coming, so that the WAL starts
/// again. Each time stalls the writer on I/O (its own fsyncs of the WAL's tail and the
/// database), for 45-89 ms on a slow day of this VM, of which the database's fsync 21-37 ms.
/// `bench/run --only sqlite`, interleaved, p99, when a backfill round came with each: every
/// 250 ms 52, 56, 64, 34, 31 ms; every 1 s 50, 40, 27, 24, 20 ms; every 3 s 89, 81 ms (one
/// long stall); the same throughput. Backfills every second but the tail every 5 s: p99
/// 102-155 vs 40-79 ms (`bench/profile`, four pairs). The WAL holds about a second of writes.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// How often a round of backfills starts. Each ends in an fsync of the database, during which
/// the writer's appends to the WAL wait (commits of 10-28 ms); a round every CHECKPOINT_EVERY
/// wrote back a whole second of pages at once (its first backfill 250-430 ms). Every 250 ms
/// the bursts are smaller: `bench/profile`, six interleaved pairs, p99 36-54 vs 46-90 ms (better
/// in all six), max 56-88 vs 78-164 ms, the same throughput; every 100 ms no better than 250.
const BACKFILL_EVERY: Duration = Duration::from_millis(250);

/// A backfill this short leaves the writer a tail of a few milliseconds to copy. After a
/// longer one another runs (at most MAX_BACKFILLS in a row): the writer's own copy of what
/// came during a 400 ms backfill took 125-200 ms, and every write waited (p99 133-146 ms,
/// `bench/run`'s load, 2026-12-02).
const SHORT_BACKFILL: Duration = Duration::from_millis(10);
const MAX_BACKFILLS: u32 = 4;

/// The writer's side of checkpointing.
pub struct Checkpoints {
    runtime: Handle,
    /// Reader connections, which copy most of the WAL while the writer goes on.
    backfill: SqlitePool,
    /// The backfill running: how long it took, once done, and how many ran this round.
    backfilling: Option<(oneshot::Receiver<Duration>, u32)>,
    /// When the last round of backfills ended.
    backfilled: Instant,
    /// When the writer last copied the tail.
    checkpointed: Instant,
    /// Under `synchronous=normal`, the WAL flushed as it grows, so that the backfills' and the
    /// tail copy's syncs of the WAL find little left to write.
    wal_flush: Option<WalFlush>,
}

impl Checkpoints {
    /// For the writer's `connection`.
    pub fn new(backfill: SqlitePool, connection: &Connection) -> Self {
        Self {
            runtime: Handle::current(),
            backfill,
            backfilling: None,
            backfilled: Instant::now(),
            checkpointed: Instant::now(),
            wal_flush: WalFlush::new(connection),
        }
    }

    /// Called by the writer between two transactions on `connection`, its own: starts a flush
    /// of the WAL when one is due, and a backfill; another backfill while the last one took
    /// long (the writes that came meanwhile are the writer's to copy), then, when due, copies
    /// the rest.
    pub fn between_transactions(&mut self, connection: &Connection) {
        if let Some(flush) = self.wal_flush.as_mut() {
            flush.start_when_due();
        }
        match self.backfilling.as_mut().map(|(done, n)| (done.try_recv(), *n)) {
            Some((Err(TryRecvError::Empty), _)) => {}
            Some((Ok(took), n)) if took > SHORT_BACKFILL && n < MAX_BACKFILLS => self.start_backfill(n + 1),
            Some(_) => {
                self.backfilling = None;
                self.backfilled = Instant::now();
                if self.checkpointed.elapsed() >= CHECKPOINT_EVERY {
                    self.copy_tail(connection);
                }
            }
            None if self.backfilled.elapsed() >= BACKFILL_EVERY => self.start_backfill(1),
            None => {}
        }
    }

    /// The writer's own checkpoint, which lets the WAL start again at its next transaction.
    fn copy_tail(&mut self, connection: &Connection) {
        // (busy, frames in the log, frames copied): busy when another connection (a tool, a
        // backup) is checkpointing; then it tries again after the next round.
        match connection.query_row("pragma wal_checkpoint(passive)", [], |row| row.get::<_, bool>(0)) {
            Ok(false) => self.checkpointed = Instant::now(),
            Ok(true) => tracing::debug!("WAL checkpoint busy: another connection is checkpointing"),
            Err(error) => tracing::warn!(%error, "WAL checkpoint failed"),
        }
    }

    fn start_backfill(&mut self, n: u32) {
        let (done, took) = oneshot::channel();
        let readers = self.backfill.clone();
        self.runtime.spawn(async move {
            let start = Instant::now();
            passive(&readers).await;
            let _ = done.send(start.elapsed());
        });
        self.backfilling = Some((took, n));
    }
}

/// One `PASSIVE` checkpoint on a connection of `pool`: copies what no reader still needs,
/// without blocking the writer or the readers.
async fn passive(pool: &SqlitePool) {
    if let Err(error) = sqlx::query("pragma wal_checkpoint(passive)").execute(pool).await {
        if !pool.is_closed() {
            tracing::warn!(%error, "WAL checkpoint failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::migrated;
    use super::CHECKPOINT_EVERY;
    use crate::store::fixtures::callback;
    use crate::store::{CallbackStore as _, Store as _};
    use std::io::Read as _;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// The WAL header's checkpoint sequence number (bytes 12-15, big-endian): SQLite adds one
    /// each time the log starts again from its beginning.
    fn restarts(wal: &Path) -> Option<u32> {
        let mut header = [0; 16];
        std::fs::File::open(wal).ok()?.read_exact(&mut header).ok()?;
        Some(u32::from_be_bytes([
            header[12], header[13], header[14], header[15],
        ]))
    }

    /// Under writes that never pause, the log still starts again about every CHECKPOINT_EVERY,
    /// so it holds about that much of the load, not all of it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_again_while_writes_never_stop() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(migrated(dir.path(), "hooks.db").await);
        let wal = dir.path().join("hooks.db-wal");
        let writing = Arc::new(AtomicBool::new(true));
        let writers: Vec<_> = (0..32)
            .map(|w| {
                let (store, writing) = (store.clone(), writing.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while writing.load(Ordering::Relaxed) {
                        let token = format!("w{w}-{n}");
                        let status = ["pending-review", "in-review", "twilio-approved"][(n % 3) as usize];
                        let profile = w * 1000 + (n / 3) as u32 % 1000 + 10;
                        store
                            .record_callback(callback(&token, profile, status, n as i64, None))
                            .await
                            .unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let start = Instant::now();
        let first = loop {
            if let Some(seen) = restarts(&wal) {
                break seen;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let (mut last, mut largest) = (first, 0);
        while start.elapsed() < 4 * CHECKPOINT_EVERY {
            tokio::time::sleep(Duration::from_millis(20)).await;
            last = restarts(&wal).unwrap_or(last);
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        writing.store(false, Ordering::Relaxed);
        let mut written = 0;
        for writer in writers {
            written += writer.await.unwrap();
        }
        assert!(
            last >= first + 2,
            "the WAL started again {} times in {:?} of {written} writes (largest {largest} bytes)",
            last - first,
            start.elapsed()
        );
        store.close().await;
    }
}
