//! Retention on PostgreSQL: each batch in a short transaction of its own. Replicas never
//! sweep at once (the `retention` job's dedupe key), and a row's state is checked again by the
//! delete itself, so a delivery replayed meanwhile is kept.

use super::PostgresStore;
use crate::store::retention::{
    bounds_query, count_query, deletable, next_batch, COUNTED_TABLES, SWEEP_BATCH,
};
use crate::store::{RetentionStore, StoreError, SweptBatch, SweptTable};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

#[async_trait]
impl RetentionStore for PostgresStore {
    async fn sweep_batch(
        &self,
        table: SweptTable,
        after: i64,
        cutoff: DateTime<Utc>,
    ) -> Result<SweptBatch, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (last, oldest): (Option<i64>, Option<DateTime<Utc>>) = sqlx::query_as(&bounds_query(table))
            .bind(after)
            .bind(i64::from(SWEEP_BATCH))
            .fetch_one(&mut *tx)
            .await?;
        let Some(last) = last else {
            return Ok(SweptBatch {
                deleted: 0,
                next: None,
            });
        };
        let rows = deletable(table);
        if table == SweptTable::Deliveries {
            // Not left to the foreign key's cascade: the same statements as on SQLite.
            sqlx::query(&format!(
                "delete from delivery_attempts where delivery_id in
                     (select id from deliveries where id > $1 and id <= $2 and {rows})"
            ))
            .bind(after)
            .bind(last)
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
        }
        let deleted = sqlx::query(&format!(
            "delete from {} where id > $1 and id <= $2 and {rows}",
            table.as_str()
        ))
        .bind(after)
        .bind(last)
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(SweptBatch {
            deleted,
            next: next_batch(Some(last), oldest, cutoff),
        })
    }

    async fn row_counts(&self) -> Result<Vec<(&'static str, i64)>, StoreError> {
        let row = sqlx::query(&count_query()).fetch_one(&self.pool).await?;
        COUNTED_TABLES
            .iter()
            .enumerate()
            .map(|(i, table)| Ok((*table, row.try_get::<i64, _>(i)?)))
            .collect()
    }
}
