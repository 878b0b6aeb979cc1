//! The PostgreSQL store, for several replicas on one database. Row locks (`for update`) order
//! concurrent reports for one profile, callbacks are committed many to a transaction (group
//! commit, `batch.rs`), `for update skip locked` hands each job to one worker,
//! and sqlx's migrator takes an advisory lock, so replicas can migrate at once.

mod batch;
mod bulk;
mod compliance;
mod creations;
mod dashboard;
mod evaluations;
mod expiry;
mod jobs;
mod notify;
mod profiles;
mod retention;
#[cfg(test)]
mod tests;

use super::{Store, StoreError};
use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

pub struct PostgresStore {
    pool: PgPool,
    /// Callbacks reach the database through here, many to a transaction.
    commits: batch::GroupCommit,
}

impl PostgresStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // No ping before each use: it cost a round trip per transaction; a dead connection
        // fails its statement instead (503, Twilio retries) and the pool replaces it.
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        let commits = batch::GroupCommit::start(&pool)?;
        Ok(Self { pool, commits })
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres").run(&self.pool).await?;
        Ok(())
    }

    async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError> {
        // No table yet: nothing applied.
        let applied: Vec<i64> = sqlx::query_scalar("select version from _sqlx_migrations where success")
            .fetch_all(&self.pool)
            .await
            .unwrap_or_default();
        Ok(sqlx::migrate!("./migrations/postgres")
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn server_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        // A replica inserting at the same moment waits on the other's row and then does
        // nothing: both read the one that committed.
        sqlx::query(
            "insert into server_secrets (name, value, created_at) values ($1, $2, $3)
             on conflict (name) do nothing",
        )
        .bind(name)
        .bind(candidate)
        .bind(chrono::Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("select value from server_secrets where name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
