//! Under `synchronous=normal`, the WAL's new pages written to the disk as they come, by a
//! blocking thread, rather than left in the page cache for the next checkpoint.
//!
//! A commit under `normal` only appends to the WAL; its pages reach the disk when a
//! checkpoint syncs the WAL before copying it, and that checkpoint first waits for the disk to
//! take all of it. The writer's own checkpoint, and its appends while a reader's checkpoint
//! syncs, were what made the slowest answers (`checkpoint.rs`). With the WAL flushed
//! (`fdatasync`) every WAL_FLUSH_EVERY, each of those syncs finds little left to write. The
//! writer never waits for a flush: it only starts one, when the last has ended.
//!
//! Durability is unchanged: a commit is still acknowledged before its pages are on the disk,
//! as `normal` promises; they get there sooner. Under `full` every commit syncs the WAL
//! already, and nothing is started.

use rusqlite::Connection;
use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::oneshot::{self, error::TryRecvError};

/// How often the WAL is flushed while the writer writes. `bench/profile` (SQLite, wrk -c64,
/// 2026-12-03), seven interleaved pairs against no flushing: p99 7.7, 6.1, 15.4, 10.5, 15.6,
/// 15.2, 13.5 ms against 11.4, 12.4, 17.5, 17.6, 18.5, 20.4, 18.1 ms (better in all seven),
/// throughput 2% lower (median of the pairs). Under a competing writer (`dd` with
/// `fdatasync` in a loop) no better and no worse over three pairs. No other period was tried.
pub const WAL_FLUSH_EVERY: Duration = Duration::from_millis(20);

pub struct WalFlush {
    runtime: Handle,
    wal: Arc<File>,
    /// The flush running, if one is.
    flushing: Option<oneshot::Receiver<()>>,
    /// When the last flush started.
    started: Instant,
}

impl WalFlush {
    /// For the writer's `connection`: `None` unless it runs with `synchronous=normal`, or when
    /// its WAL cannot be opened (then nothing is flushed early, and checkpoints do it all).
    pub fn new(connection: &Connection) -> Option<Self> {
        // 1 is NORMAL; 2 FULL, 3 EXTRA.
        let synchronous: i64 = connection
            .query_row("pragma synchronous", [], |row| row.get(0))
            .ok()?;
        if synchronous != 1 {
            return None;
        }
        let wal = format!("{}-wal", connection.path()?);
        match File::open(&wal) {
            Ok(file) => Some(Self {
                runtime: Handle::current(),
                wal: Arc::new(file),
                flushing: None,
                started: Instant::now(),
            }),
            Err(error) => {
                tracing::warn!(%error, wal, "cannot open the WAL to flush it early");
                None
            }
        }
    }

    /// Starts a flush when WAL_FLUSH_EVERY has passed since the last one started and it has
    /// ended; returns whether it did.
    pub fn start_when_due(&mut self) -> bool {
        if let Some(flushing) = self.flushing.as_mut() {
            if let Err(TryRecvError::Empty) = flushing.try_recv() {
                return false;
            }
            self.flushing = None;
        }
        if self.started.elapsed() < WAL_FLUSH_EVERY {
            return false;
        }
        self.started = Instant::now();
        let (done, flushing) = oneshot::channel();
        let wal = self.wal.clone();
        self.runtime.spawn_blocking(move || {
            if let Err(error) = wal.sync_data() {
                tracing::warn!(%error, "flushing the WAL failed");
            }
            let _ = done.send(());
        });
        self.flushing = Some(flushing);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::{WalFlush, WAL_FLUSH_EVERY};
    use crate::config::SqliteSynchronous;
    use crate::store::sqlite::writer::open;
    use std::time::{Duration, Instant};

    fn database(dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("hooks.db");
        let made = rusqlite::Connection::open(&path).unwrap();
        made.pragma_update(None, "journal_mode", "wal").unwrap();
        made.execute_batch("create table t (x)").unwrap();
        path
    }

    /// Only under `normal`: under `full` each commit syncs the WAL itself.
    #[tokio::test]
    async fn flushes_only_under_synchronous_normal() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(dir.path());
        assert!(WalFlush::new(&open(&path, SqliteSynchronous::Normal).unwrap()).is_some());
        assert!(WalFlush::new(&open(&path, SqliteSynchronous::Full).unwrap()).is_none());
    }

    /// While writes go on, flushes keep starting, never sooner than WAL_FLUSH_EVERY after the
    /// flusher was made or after the last one started.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flushes_once_per_period_while_writes_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(dir.path());
        let connection = open(&path, SqliteSynchronous::Normal).unwrap();
        let start = Instant::now();
        let mut flush = WalFlush::new(&connection).unwrap();
        let mut started = Vec::new();
        // Until a few have started: a flush can take long on a disk busy with other writes.
        while started.len() < 4 && start.elapsed() < Duration::from_secs(10) {
            connection.execute("insert into t values (1)", []).unwrap();
            if flush.start_when_due() {
                // The flusher's own record of the start: the time after the call returned
                // also counts the spawn of the flush, and two of those differ.
                started.push(flush.started - start);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(started.len(), 4, "flushes started at {started:?}");
        assert!(started[0] >= WAL_FLUSH_EVERY, "flushes at {started:?}");
        for pair in started.windows(2) {
            assert!(pair[1] - pair[0] >= WAL_FLUSH_EVERY, "flushes at {started:?}");
        }
    }
}
