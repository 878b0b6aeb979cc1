//! Webhook subscriptions and deliveries on PostgreSQL.

use super::PostgresStore;
use crate::store::outbox::deliver_job;
pub(super) use crate::store::rows::{delivery, webhook};
use crate::store::{
    Attempt, Delivery, DeliveryQuery, DeliveryStatus, NewDelivery, NotifyStore, StoreError, Webhook,
};
use async_trait::async_trait;
use chrono::Utc;
use sqlx::Row;

#[async_trait]
impl NotifyStore for PostgresStore {
    async fn create_webhook(&self, w: &Webhook) -> Result<(), StoreError> {
        sqlx::query(
            "insert into webhooks (id, url, events, description, secret, enabled, disabled_reason, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&w.id)
        .bind(&w.url)
        .bind(sqlx::types::Json(&w.events))
        .bind(w.description.as_deref())
        .bind(&w.secret)
        .bind(w.enabled)
        .bind(w.disabled_reason.as_deref())
        .bind(w.created_at)
        .bind(w.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let rows = sqlx::query("select * from webhooks order by created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(webhook).collect()
    }

    async fn get_webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError> {
        let row = sqlx::query("select * from webhooks where id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(webhook).transpose()
    }

    async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("delete from webhooks where id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() == 1)
    }

    async fn disable_webhook(&self, id: &str, reason: &str) -> Result<(), StoreError> {
        sqlx::query("update webhooks set enabled = $2, disabled_reason = $3, updated_at = $4 where id = $1")
            .bind(id)
            .bind(false)
            .bind(reason)
            .bind(Utc::now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_deliveries(
        &self,
        deliveries: &[NewDelivery],
        notified: &[i64],
    ) -> Result<usize, StoreError> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let mut created = 0;
        for d in deliveries {
            let id: Option<i64> = sqlx::query_scalar(
                "insert into deliveries (channel, webhook_id, recipient, event_id, event_type, transition_id,
                                         profile_sid, payload, status, attempts, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $10)
                 on conflict (event_id) do nothing returning id",
            )
            .bind(d.channel.as_str())
            .bind(d.webhook_id.as_deref())
            .bind(&d.recipient)
            .bind(&d.event_id)
            .bind(&d.event_type)
            .bind(d.transition_id)
            .bind(d.profile_sid.as_deref())
            .bind(&d.payload)
            .bind(DeliveryStatus::Pending.as_str())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = id {
                super::jobs::insert(&mut tx, &deliver_job(id, 0, now), now).await?;
                created += 1;
            }
        }
        if !notified.is_empty() {
            sqlx::query("delete from pending_notifications where transition_id = any($1)")
                .bind(notified)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    async fn pending_notifications(&self, limit: u32) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "select transition_id from pending_notifications order by transition_id limit $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn get_delivery(&self, id: i64) -> Result<Option<Delivery>, StoreError> {
        let row = sqlx::query("select * from deliveries where id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(delivery).transpose()
    }

    async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(
            "select * from deliveries
             where ($1::text is null or status = $1) and ($2::text is null or webhook_id = $2)
               and ($3::text is null or profile_sid = $3) and ($4::bigint is null or id < $4)
             order by id desc limit $5",
        )
        .bind(q.status.as_deref())
        .bind(q.webhook_id.as_deref())
        .bind(q.profile_sid.as_deref())
        .bind(q.before_id)
        .bind(i64::from(q.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery).collect()
    }

    async fn record_attempt(&self, id: i64, a: &Attempt, status: DeliveryStatus) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "insert into delivery_attempts (delivery_id, at, status_code, latency_ms, error) values ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(a.at)
        .bind(a.status_code)
        .bind(a.latency_ms)
        .bind(a.error.as_deref())
        .execute(&mut *tx)
        .await?;
        let delivered = (status == DeliveryStatus::Delivered).then_some(a.at);
        sqlx::query(
            "update deliveries set status = $2, attempts = attempts + 1, last_status_code = $3, last_error = $4,
                 last_latency_ms = $5, updated_at = $6, delivered_at = coalesce($7, delivered_at)
             where id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(a.status_code)
        .bind(a.error.as_deref())
        .bind(a.latency_ms)
        .bind(a.at)
        .bind(delivered)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn attempts(&self, id: i64) -> Result<Vec<Attempt>, StoreError> {
        let rows = sqlx::query("select * from delivery_attempts where delivery_id = $1 order by id")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Attempt {
                    at: row.try_get("at")?,
                    status_code: row.try_get("status_code")?,
                    latency_ms: row.try_get("latency_ms")?,
                    error: row.try_get("error")?,
                })
            })
            .collect()
    }

    async fn replay_delivery(&self, id: i64) -> Result<bool, StoreError> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query("update deliveries set status = $2, updated_at = $3 where id = $1")
            .bind(id)
            .bind(DeliveryStatus::Pending.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        super::jobs::insert(&mut tx, &deliver_job(id, now.timestamp_micros(), now), now).await?;
        tx.commit().await?;
        Ok(true)
    }
}
