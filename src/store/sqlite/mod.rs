//! The SQLite store: one writer (a thread with the only writing connection, `writer.rs`) and
//! a pool of readers, in WAL mode. Times are unix microseconds.

mod bulk;
mod checkpoint;
mod compliance;
mod creations;
mod dashboard;
mod evaluations;
mod expiry;
mod jobs;
mod notify;
mod profiles;
mod retention;
mod wal_flush;
mod writer;

use super::rows::from_micros as time;
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
    /// Every write goes through here.
    writer: writer::WriterHandle,
    reader: SqlitePool,
    /// Applies migrations (sqlx's migrator), nothing else.
    migrator: SqlitePool,
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// Steps an insert of one row on `connection`: the row's id, or `None` when its conflict clause
/// left it out. Not `returning id`: SQLite runs `returning` as a trigger that gathers the rows
/// in a temporary B-tree, and a statement with a trigger keeps a statement journal (a copy of
/// every page it changes before changing it). Both were a fifth of the writer's instructions
/// (callgrind).
fn insert_row(
    connection: &rusqlite::Connection,
    insert: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> Result<Option<i64>, rusqlite::Error> {
    Ok(match insert.execute(params)? {
        0 => None,
        _ => Some(connection.last_insert_rowid()),
    })
}

/// The lock `serve` holds on a SQLite database for its whole life (an exclusive `flock` on
/// `<file>.lock`): one process serves a file. Its writer thread owns the file's writes, and a
/// starting process takes back at once every job marked running, which only a dead
/// predecessor can have left.
pub struct ServeLock {
    _file: std::fs::File,
}

impl ServeLock {
    /// Takes the lock of the database `url` names, or says which process to stop.
    pub fn acquire(url: &str) -> Result<Self, StoreError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let options = SqliteConnectOptions::from_str(url)?;
        let path = format!("{}.lock", options.get_filename().display());
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| StoreError::Unavailable(format!("{path}: {e}")))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Unavailable(format!(
                "another trusthub-hooks serve holds {path}: one process serves a SQLite database \
                 (stop the other one first; several replicas need PostgreSQL)"
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unavailable(format!("{path}: {e}"))),
        }
    }
}

/// Creates the database file readable and writable by its owner only, unless it exists: it
/// holds every callback and the webhook secrets, and SQLite gives its WAL and shared-memory
/// files the database file's permissions. (SQLite itself would create it 0644.)
fn private_file(path: &std::path::Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(StoreError::Unavailable(format!("{}: {error}", path.display()))),
    }
}

impl SqliteStore {
    pub async fn connect(url: &str, synchronous: SqliteSynchronous) -> Result<Self, StoreError> {
        // Gone at exit with every callback it acknowledged: never what a receiver wants.
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::UnsupportedUrl(format!(
                "{url} (an in-memory SQLite database loses what it acknowledged; name a file)"
            )));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match synchronous {
                SqliteSynchronous::Normal => Pragma::Normal,
                SqliteSynchronous::Full => Pragma::Full,
            })
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // Pages of 2 KiB rather than 4 in a new database (an existing one keeps its own):
            // a group commit writes each page it changed whole into the WAL, and a callback
            // changes leaves of several indexes keyed by random SIDs and tokens. Under
            // `bench/profile`'s load the WAL took 5.5 rather than 8.5 KB a callback, and the
            // writer's stalls on I/O shrank with it: p99 lower in five interleaved pairs of
            // seven (medians 43 vs 48 ms), the same throughput. 1 KiB pages: p99 worse.
            .page_size(2048);
        private_file(options.get_filename())?;
        // Creates the file, in WAL mode, before the writer opens it. No ping before each use
        // (a round trip to sqlx's SQLite thread).
        let migrator = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let connection = writer::open(options.get_filename(), synchronous)?;
        let writer = writer::WriterHandle::start(connection, reader.clone())?;
        Ok(Self {
            writer,
            reader,
            migrator,
        })
    }
}

/// A migrated store in a new file `name` under `dir`, for the tests of this store's parts.
#[cfg(test)]
async fn migrated(dir: &std::path::Path, name: &str) -> SqliteStore {
    let url = format!("sqlite://{}", dir.join(name).display());
    let store = SqliteStore::connect(&url, SqliteSynchronous::Normal)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/sqlite").run(&self.migrator).await?;
        Ok(())
    }

    async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError> {
        // No table yet: nothing applied.
        let applied: Vec<i64> = sqlx::query_scalar("select version from _sqlx_migrations where success")
            .fetch_all(&self.reader)
            .await
            .unwrap_or_default();
        Ok(sqlx::migrate!("./migrations/sqlite")
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn server_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (key, value) = (name.to_owned(), candidate.to_vec());
        self.writer
            .write(move |tx| {
                tx.prepare_cached(
                    "insert into server_secrets (name, value, created_at) values (?1, ?2, ?3)
                     on conflict (name) do nothing",
                )?
                .execute(rusqlite::params![key, value, micros(Utc::now())])?;
                Ok(())
            })
            .await?;
        Ok(
            sqlx::query_scalar("select value from server_secrets where name = $1")
                .bind(name)
                .fetch_one(&self.reader)
                .await?,
        )
    }

    async fn close(&self) {
        self.writer.stop().await;
        self.reader.close().await;
        self.migrator.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::migrated;
    use crate::store::fixtures::callback;
    use crate::store::{CallbackStore as _, Recorded, Store as _};
    use std::path::Path;

    /// The one number `query` answers on the database file at `path`.
    fn number(path: &Path, query: &str) -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row(query, [], |row| row.get(0))
            .unwrap()
    }

    /// A new database and its WAL are readable by their owner only; an existing file keeps
    /// the permissions it has.
    #[tokio::test]
    async fn a_new_database_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let store = migrated(dir.path(), "new.db").await;
        let first = callback("a", 1, "pending-review", 0, None);
        store.record_callback(first).await.unwrap();
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("new.db"), 0o600);
        assert_eq!(mode("new.db-wal"), 0o600);
        store.close().await;
        let shared = dir.path().join("shared.db");
        std::fs::write(&shared, b"").unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
        migrated(dir.path(), "shared.db").await.close().await;
        assert_eq!(mode("shared.db"), 0o640, "an operator's choice is kept");
    }

    /// A new database gets 2 KiB pages. One made with 4 KiB pages (before 2026-12-03) keeps
    /// them: it opens, migrates and stores callbacks as before, opened again and again.
    #[tokio::test]
    async fn a_new_database_has_2_kib_pages_and_an_older_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let store = migrated(dir.path(), "new.db").await;
        let first = callback("a", 1, "pending-review", 0, None);
        assert!(matches!(
            store.record_callback(first).await.unwrap(),
            Recorded::Stored { .. }
        ));
        store.close().await;
        assert_eq!(number(&dir.path().join("new.db"), "pragma page_size"), 2048);

        let old = dir.path().join("old.db");
        let made = rusqlite::Connection::open(&old).unwrap();
        made.pragma_update(None, "page_size", 4096).unwrap();
        made.pragma_update(None, "journal_mode", "wal").unwrap();
        made.execute_batch("create table earlier (x); drop table earlier;")
            .unwrap();
        drop(made);
        for (n, status) in ["pending-review", "in-review"].into_iter().enumerate() {
            let store = migrated(dir.path(), "old.db").await;
            let report = callback(&format!("b{n}"), 2, status, n as i64, None);
            assert!(matches!(
                store.record_callback(report).await.unwrap(),
                Recorded::Stored { .. }
            ));
            store.close().await;
        }
        assert_eq!(number(&old, "pragma page_size"), 4096);
        assert_eq!(number(&old, "select count(*) from callbacks"), 2);
    }
}
