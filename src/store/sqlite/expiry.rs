//! Approvals that end, on SQLite.

use super::{micros, SqliteStore};
use crate::store::expiry::APPROVED;
use crate::store::rows::profile;
use crate::store::{ExpiryStore, Profile, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

#[async_trait]
impl ExpiryStore for SqliteStore {
    async fn expiring(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<Profile>, StoreError> {
        let rows = sqlx::query(
            "select * from profiles
             where valid_until is not null and valid_until <= $1 and status in ($2, $3)
               and (expiry_alerted_for is null or expiry_alerted_for <> valid_until)
             order by valid_until limit $4",
        )
        .bind(micros(before))
        .bind(APPROVED[0])
        .bind(APPROVED[1])
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(profile).collect()
    }

    async fn expiry_alerted(&self, sid: &str, valid_until: DateTime<Utc>) -> Result<(), StoreError> {
        let sid = sid.to_owned();
        self.writer
            .write(move |tx| {
                tx.prepare_cached("update profiles set expiry_alerted_for = ?2 where sid = ?1")?
                    .execute(params![sid, micros(valid_until)])?;
                Ok(())
            })
            .await
    }
}
