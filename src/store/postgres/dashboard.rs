//! The dashboard's queries on PostgreSQL.

use super::notify::delivery;
use super::profiles::profile;
use super::PostgresStore;
use crate::store::dashboard::health;
use crate::store::rows::transition_row;
use crate::store::{
    page, Channel, DashboardStore, Delivery, DeliveryStatus, NotifyStore, Page, Profile, ProfileSearch,
    StatusCount, StoreError, TransitionRow, WebhookHealth,
};
use async_trait::async_trait;
use sqlx::Row;

#[async_trait]
impl DashboardStore for PostgresStore {
    async fn status_counts(&self) -> Result<Vec<StatusCount>, StoreError> {
        let rows = sqlx::query("select status, count(*) as n from profiles group by status order by status")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(StatusCount {
                    status: row.try_get("status")?,
                    count: row.try_get("n")?,
                })
            })
            .collect()
    }

    async fn waiting_longest(&self, statuses: &[&str], limit: u32) -> Result<Vec<Profile>, StoreError> {
        let rows =
            sqlx::query("select * from profiles where status = any($1) order by updated_at, sid limit $2")
                .bind(statuses)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(profile).collect()
    }

    async fn recent_rejections(&self, limit: u32) -> Result<Vec<TransitionRow>, StoreError> {
        let rows = sqlx::query(
            "select * from transitions where to_status = 'twilio-rejected' and applied
             order by at desc, id desc limit $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(transition_row).collect()
    }

    async fn webhook_health(&self) -> Result<Vec<WebhookHealth>, StoreError> {
        let rows = sqlx::query(
            "select webhook_id, status, count(*) as n, max(updated_at) as latest from deliveries
             where webhook_id is not null and status in ($1, $2) group by webhook_id, status",
        )
        .bind(DeliveryStatus::Failed.as_str())
        .bind(DeliveryStatus::Dead.as_str())
        .fetch_all(&self.pool)
        .await?;
        let counts = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get("webhook_id")?,
                    row.try_get("status")?,
                    row.try_get("n")?,
                    row.try_get("latest")?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(health(self.list_webhooks().await?, &counts))
    }

    async fn failing_deliveries(&self, channel: Channel, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(
            "select * from deliveries where channel = $1 and status in ($2, $3) order by id desc limit $4",
        )
        .bind(channel.as_str())
        .bind(DeliveryStatus::Failed.as_str())
        .bind(DeliveryStatus::Dead.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery).collect()
    }

    async fn search_profiles(&self, search: &ProfileSearch) -> Result<Page<Profile>, StoreError> {
        // ILIKE: the same ASCII-case-insensitive match as SQLite's LIKE.
        let rows = sqlx::query(
            "select * from profiles
             where ($1::text is null or status = $1) and ($2::text is null or account_sid = $2)
               and ($3::text is null or sid ilike $3 escape '\\' or friendly_name ilike $3 escape '\\')
               and ($4::timestamptz is null or (updated_at, sid) < ($4, $5::text))
               and ($7::text is null or kind = $7)
             order by updated_at desc, sid desc limit $6",
        )
        .bind(search.status.as_deref())
        .bind(search.account_sid.as_deref())
        .bind(search.pattern())
        .bind(search.after.as_ref().map(|c| c.updated_at))
        .bind(search.after.as_ref().map(|c| c.sid.as_str()))
        .bind(i64::from(search.limit) + 1)
        .bind(search.kind.map(crate::domain::BundleKind::as_str))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(profile).collect::<Result<Vec<_>, _>>()?;
        Ok(page(items, search.limit))
    }

    async fn profile_accounts(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "select distinct account_sid from profiles where account_sid is not null order by account_sid",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn transition_rows(&self, profile_sid: &str) -> Result<Vec<TransitionRow>, StoreError> {
        let rows = sqlx::query("select * from transitions where profile_sid = $1 order by id")
            .bind(profile_sid)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(transition_row).collect()
    }
}
