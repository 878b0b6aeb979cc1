//! Webhook subscriptions and deliveries on SQLite.

use super::{micros, time, SqliteStore};
use crate::store::outbox::deliver_job;
pub(super) use crate::store::rows::{delivery, webhook};
use crate::store::{
    json_text, Attempt, Delivery, DeliveryQuery, DeliveryStatus, NewDelivery, NotifyStore, StoreError,
    Webhook,
};
use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{params, OptionalExtension as _};
use sqlx::Row;

#[async_trait]
impl NotifyStore for SqliteStore {
    async fn create_webhook(&self, w: &Webhook) -> Result<(), StoreError> {
        let w = w.clone();
        self.writer
            .write(move |tx| {
                tx.prepare_cached(
                    "insert into webhooks (id, url, events, description, secret, enabled, disabled_reason,
                                           created_at, updated_at)
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(params![
                    w.id,
                    w.url,
                    json_text(&w.events)?,
                    w.description,
                    w.secret,
                    w.enabled,
                    w.disabled_reason,
                    micros(w.created_at),
                    micros(w.updated_at),
                ])?;
                Ok(())
            })
            .await
    }

    async fn list_webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let rows = sqlx::query("select * from webhooks order by created_at, id")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(webhook).collect()
    }

    async fn get_webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError> {
        let row = sqlx::query("select * from webhooks where id = $1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(webhook).transpose()
    }

    async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.writer
            .write(move |tx| {
                let deleted = tx
                    .prepare_cached("delete from webhooks where id = ?1")?
                    .execute([id])?;
                Ok(deleted == 1)
            })
            .await
    }

    async fn disable_webhook(&self, id: &str, reason: &str) -> Result<(), StoreError> {
        let (id, reason) = (id.to_owned(), reason.to_owned());
        self.writer
            .write(move |tx| {
                tx.prepare_cached(
                    "update webhooks set enabled = ?2, disabled_reason = ?3, updated_at = ?4 where id = ?1",
                )?
                .execute(params![id, false, reason, micros(Utc::now())])?;
                Ok(())
            })
            .await
    }

    async fn create_deliveries(
        &self,
        deliveries: &[NewDelivery],
        notified: &[i64],
    ) -> Result<usize, StoreError> {
        let (deliveries, notified) = (deliveries.to_vec(), notified.to_vec());
        self.writer
            .write(move |tx| {
                let now = Utc::now();
                let mut insert = tx.prepare_cached(
                    "insert into deliveries (channel, webhook_id, recipient, event_id, event_type, transition_id,
                                             profile_sid, payload, status, attempts, created_at, updated_at)
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10, ?10)
                     on conflict (event_id) do nothing returning id",
                )?;
                let mut created = 0;
                for d in &deliveries {
                    let id: Option<i64> = insert
                        .query_row(
                            params![
                                d.channel.as_str(),
                                d.webhook_id,
                                d.recipient,
                                d.event_id,
                                d.event_type,
                                d.transition_id,
                                d.profile_sid,
                                json_text(&d.payload)?,
                                DeliveryStatus::Pending.as_str(),
                                micros(now),
                            ],
                            |row| row.get(0),
                        )
                        .optional()?;
                    if let Some(id) = id {
                        super::jobs::insert(tx, &deliver_job(id, 0, now), now)?;
                        created += 1;
                    }
                }
                let mut done = tx.prepare_cached("delete from pending_notifications where transition_id = ?1")?;
                for id in &notified {
                    done.execute([id])?;
                }
                Ok(created)
            })
            .await
    }

    async fn pending_notifications(&self, limit: u32) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "select transition_id from pending_notifications order by transition_id limit $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?)
    }

    async fn get_delivery(&self, id: i64) -> Result<Option<Delivery>, StoreError> {
        let row = sqlx::query("select * from deliveries where id = $1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(delivery).transpose()
    }

    async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(
            "select * from deliveries
             where ($1 is null or status = $1) and ($2 is null or webhook_id = $2)
               and ($3 is null or profile_sid = $3) and ($4 is null or id < $4)
             order by id desc limit $5",
        )
        .bind(q.status.as_deref())
        .bind(q.webhook_id.as_deref())
        .bind(q.profile_sid.as_deref())
        .bind(q.before_id)
        .bind(i64::from(q.limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(delivery).collect()
    }

    async fn record_attempt(&self, id: i64, a: &Attempt, status: DeliveryStatus) -> Result<(), StoreError> {
        let a = a.clone();
        self.writer
            .write(move |tx| {
                tx.prepare_cached(
                    "insert into delivery_attempts (delivery_id, at, status_code, latency_ms, error)
                     values (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![id, micros(a.at), a.status_code, a.latency_ms, a.error])?;
                let delivered = (status == DeliveryStatus::Delivered).then_some(micros(a.at));
                tx.prepare_cached(
                    "update deliveries set status = ?2, attempts = attempts + 1, last_status_code = ?3,
                         last_error = ?4, last_latency_ms = ?5, updated_at = ?6,
                         delivered_at = coalesce(?7, delivered_at)
                     where id = ?1",
                )?
                .execute(params![
                    id,
                    status.as_str(),
                    a.status_code,
                    a.error,
                    a.latency_ms,
                    micros(a.at),
                    delivered
                ])?;
                Ok(())
            })
            .await
    }

    async fn attempts(&self, id: i64) -> Result<Vec<Attempt>, StoreError> {
        let rows = sqlx::query("select * from delivery_attempts where delivery_id = $1 order by id")
            .bind(id)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Attempt {
                    at: time(row.try_get("at")?)?,
                    status_code: row.try_get("status_code")?,
                    latency_ms: row.try_get("latency_ms")?,
                    error: row.try_get("error")?,
                })
            })
            .collect()
    }

    async fn replay_delivery(&self, id: i64) -> Result<bool, StoreError> {
        self.writer
            .write(move |tx| {
                let now = Utc::now();
                let updated = tx
                    .prepare_cached("update deliveries set status = ?2, updated_at = ?3 where id = ?1")?
                    .execute(params![id, DeliveryStatus::Pending.as_str(), micros(now)])?;
                if updated == 0 {
                    return Ok(false);
                }
                super::jobs::insert(tx, &deliver_job(id, micros(now), now), now)?;
                Ok(true)
            })
            .await
    }
}
