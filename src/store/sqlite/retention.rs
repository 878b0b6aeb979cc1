//! Retention on SQLite: each batch is one write of the writer's, short enough that the
//! callbacks queued behind it wait no longer than behind a group commit.

use super::{micros, time, SqliteStore};
use crate::store::retention::{
    bounds_query, count_query, deletable, next_batch, COUNTED_TABLES, SWEEP_BATCH,
};
use crate::store::{RetentionStore, StoreError, SweptBatch, SweptTable};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

/// The shared `$N` text with SQLite's `?N`: rusqlite binds by position (ARCHITECTURE.md).
fn numbered(sql: &str) -> String {
    sql.replace('$', "?")
}

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn sweep_batch(
        &self,
        table: SweptTable,
        after: i64,
        cutoff: DateTime<Utc>,
    ) -> Result<SweptBatch, StoreError> {
        let bounds = numbered(&bounds_query(table));
        let rows = numbered(&deletable(table));
        let name = table.as_str();
        self.writer
            .write(move |tx| {
                let (last, oldest): (Option<i64>, Option<i64>) = tx
                    .prepare_cached(&bounds)?
                    .query_row(rusqlite::params![after, SWEEP_BATCH], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })?;
                let Some(last) = last else {
                    return Ok(SweptBatch {
                        deleted: 0,
                        next: None,
                    });
                };
                let params = rusqlite::params![after, last, micros(cutoff)];
                if table == SweptTable::Deliveries {
                    // Not left to the foreign key's cascade: explicit, whatever the pragma.
                    tx.prepare_cached(&format!(
                        "delete from delivery_attempts where delivery_id in
                             (select id from deliveries where id > ?1 and id <= ?2 and {rows})"
                    ))?
                    .execute(params)?;
                }
                let deleted = tx
                    .prepare_cached(&format!(
                        "delete from {name} where id > ?1 and id <= ?2 and {rows}"
                    ))?
                    .execute(params)?;
                let oldest = oldest.map(time).transpose()?;
                Ok(SweptBatch {
                    deleted: deleted as u64,
                    next: next_batch(Some(last), oldest, cutoff),
                })
            })
            .await
    }

    async fn row_counts(&self) -> Result<Vec<(&'static str, i64)>, StoreError> {
        let row = sqlx::query(&count_query()).fetch_one(&self.reader).await?;
        COUNTED_TABLES
            .iter()
            .enumerate()
            .map(|(i, table)| Ok((*table, row.try_get::<i64, _>(i)?)))
            .collect()
    }
}
