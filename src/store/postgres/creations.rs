//! `create`'s progress on PostgreSQL.

use super::PostgresStore;
use crate::store::{CreationStore, StoreError};
use async_trait::async_trait;
use chrono::Utc;

#[async_trait]
impl CreationStore for PostgresStore {
    async fn creation(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let state: Option<serde_json::Value> =
            sqlx::query_scalar("select state from creations where key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(state)
    }

    async fn save_creation(
        &self,
        key: &str,
        account_sid: Option<&str>,
        state: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into creations (key, account_sid, state, created_at, updated_at) values ($1, $2, $3, $4, $4)
             on conflict (key) do update set state = excluded.state, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(account_sid)
        .bind(state)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
