//! Approvals that end, on PostgreSQL.

use super::PostgresStore;
use crate::store::expiry::APPROVED;
use crate::store::rows::profile;
use crate::store::{ExpiryStore, Profile, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl ExpiryStore for PostgresStore {
    async fn expiring(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<Profile>, StoreError> {
        let rows = sqlx::query(
            "select * from profiles
             where valid_until is not null and valid_until <= $1 and status = any($2)
               and (expiry_alerted_for is null or expiry_alerted_for <> valid_until)
             order by valid_until limit $3",
        )
        .bind(before)
        .bind(&APPROVED[..])
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(profile).collect()
    }

    async fn expiry_alerted(&self, sid: &str, valid_until: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("update profiles set expiry_alerted_for = $2 where sid = $1")
            .bind(sid)
            .bind(valid_until)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
