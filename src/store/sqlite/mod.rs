//! The SQLite store: one writer connection (SQLite serializes writers anyway; one connection
//! avoids lock upgrades failing with SQLITE_BUSY) and a pool of readers, in WAL mode. Times
//! are unix microseconds.

mod batch;
mod bulk;
mod creations;
mod dashboard;
mod evaluations;
mod jobs;
mod notify;
mod profiles;

use super::{Store, StoreError};
use crate::config::SqliteSynchronous;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous as Pragma,
};
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Callbacks reach the writer through here, many to a transaction.
    commits: batch::GroupCommit,
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn time(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| StoreError::Corrupt(format!("time {micros}")))
}

impl SqliteStore {
    pub async fn connect(url: &str, synchronous: SqliteSynchronous) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match synchronous {
                SqliteSynchronous::Normal => Pragma::Normal,
                SqliteSynchronous::Full => Pragma::Full,
            })
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // No automatic checkpoint inside a commit: it would stall every callback queued behind
        // it. The group commit checkpoints between batches, helped by a reader (batch.rs).
        // No ping before each use (a round trip to sqlx's SQLite thread per transaction).
        // Statement journals in memory: a batch's multi-row statements each keep one (so that a
        // failing statement can be undone alone) and past 64 KiB SQLite spilled it to a temp
        // file, created and deleted per statement (open, close, unlink, inode eviction: a
        // fifth of the writer's time). They matter only inside a transaction, never after a crash.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", "0")
                    .pragma("temp_store", "memory"),
            )
            .await?;
        // An in-memory database exists once per connection: readers must share the writer.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let reader = if in_memory {
            writer.clone()
        } else {
            let reader = SqlitePoolOptions::new()
                .max_connections(4)
                .test_before_acquire(false)
                .connect_with(options.clone())
                .await?;
            tokio::spawn(checkpoint(reader.clone()));
            reader
        };
        // The group commit's own connection, to a file sqlx's writer has created by now.
        let direct = match in_memory {
            true => None,
            false => Some(bulk::open(options.get_filename(), synchronous)?),
        };
        let backfill = (!in_memory).then(|| reader.clone());
        let commits = batch::GroupCommit::start(direct, writer.clone(), backfill)?;
        Ok(Self {
            writer,
            reader,
            commits,
        })
    }
}

/// Copies the WAL into the database every second without blocking the writer or readers
/// (`PASSIVE`), until the pool closes.
async fn checkpoint(pool: SqlitePool) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if pool.is_closed() {
            return;
        }
        checkpoint_once(&pool).await;
    }
}

/// One `PASSIVE` checkpoint on a connection of `pool`.
async fn checkpoint_once(pool: &SqlitePool) {
    if let Err(error) = sqlx::query("pragma wal_checkpoint(passive)").execute(pool).await {
        if !pool.is_closed() {
            tracing::warn!(%error, "WAL checkpoint failed");
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/sqlite").run(&self.writer).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        self.commits.stop().await;
        self.reader.close().await;
        self.writer.close().await;
    }
}
