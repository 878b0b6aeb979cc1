//! `create`'s progress on SQLite.

use super::{micros, SqliteStore};
use crate::store::{json_text, json_value, CreationStore, StoreError};
use async_trait::async_trait;
use chrono::Utc;
use rusqlite::params;

#[async_trait]
impl CreationStore for SqliteStore {
    async fn creation(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let state: Option<String> = sqlx::query_scalar("select state from creations where key = $1")
            .bind(key)
            .fetch_optional(&self.reader)
            .await?;
        state.as_deref().map(json_value).transpose()
    }

    async fn save_creation(
        &self,
        key: &str,
        account_sid: Option<&str>,
        state: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let (key, account_sid, state) = (key.to_owned(), account_sid.map(str::to_owned), json_text(state)?);
        self.writer
            .write(move |tx| {
                tx.prepare_cached(
                    "insert into creations (key, account_sid, state, created_at, updated_at) values (?1, ?2, ?3, ?4, ?4)
                     on conflict (key) do update set state = excluded.state, updated_at = excluded.updated_at",
                )?
                .execute(params![key, account_sid, state, micros(Utc::now())])?;
                Ok(())
            })
            .await
    }
}
