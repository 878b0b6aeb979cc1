//! The `expiry` job: an alert (`profile.expiring`, through the same channels as status changes)
//! when an approved bundle's approval ends within `EXPIRY_ALERT_DAYS`, once per approval.
//! `serve` enqueues one at start-up and one an hour, keyed by the hour (one replica checks), and
//! the confirmation of an approval enqueues one at once, so that an approval that is already
//! close to its end is told of without waiting for the hour.
//!
//! Once: the deliveries' event ids are made of the bundle and its `valid_until`, so a run again
//! after a crash finds those it created, and the date is then recorded as alerted. A renewal
//! (a later `valid_until`) is alerted again when its own end comes near.

use super::notify::{deliveries_of, Announcement};
use crate::notify::event::{Event, EXPIRING};
use crate::notify::EmailSettings;
use crate::queue::{retry_store, Job, JobError};
use crate::store::{DynStore, NewJob, Webhook};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How often `serve` enqueues a check.
pub const INTERVAL_SECS: u64 = 3600;

/// Bundles one job alerts; it queues another for the rest.
const BATCH: u32 = 200;

/// What an email recipient's `statuses` names to receive expiry alerts (every recipient with
/// no `statuses` receives them).
pub const EXPIRING_STATUS: &str = "expiring";

/// The `expiry` job.
pub struct ExpiryJob {
    pub store: DynStore,
    pub email: Option<Arc<EmailSettings>>,
    /// `EXPIRY_ALERT_DAYS`.
    pub days: u32,
}

/// The payload: the hour of a periodic check, or the moment of an immediate one (each a key
/// of its own).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExpiryPayload {
    pub bucket: i64,
}

fn new_job(key: String, bucket: i64, now: DateTime<Utc>) -> NewJob {
    NewJob {
        kind: ExpiryJob::KIND,
        payload: serde_json::to_value(ExpiryPayload { bucket }).expect("plain structs serialize"),
        dedupe_key: Some(key),
        run_at: now,
    }
}

/// The check of the hour containing `now`: replicas enqueue the same key.
pub fn periodic(now: DateTime<Utc>) -> NewJob {
    let bucket = now.timestamp() / INTERVAL_SECS as i64;
    new_job(format!("{}:{bucket}", ExpiryJob::KIND), bucket, now)
}

/// A check now (an approval with its `valid_until` was just learnt).
pub fn now_job(now: DateTime<Utc>) -> NewJob {
    let at = now.timestamp_micros();
    new_job(format!("{}:now:{at}", ExpiryJob::KIND), at, now)
}

/// The key an approval's alert deliveries are made of.
fn alert_key(sid: &str, valid_until: DateTime<Utc>) -> String {
    format!("expiring_{sid}_{}", valid_until.timestamp())
}

#[async_trait]
impl Job for ExpiryJob {
    const KIND: &'static str = "expiry";
    type Payload = ExpiryPayload;

    async fn run(&self, _payload: ExpiryPayload, _attempt: u32) -> Result<Vec<NewJob>, JobError> {
        let now = Utc::now();
        let before = now + Duration::days(i64::from(self.days));
        let due = self.store.expiring(before, BATCH).await.map_err(retry_store)?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let webhooks: Vec<Webhook> = self
            .store
            .list_webhooks()
            .await
            .map_err(retry_store)?
            .into_iter()
            .filter(|w| w.wants(EXPIRING))
            .collect();
        for profile in &due {
            let valid_until = profile.valid_until.expect("expiring() returns dated bundles");
            let body =
                serde_json::to_value(Event::expiring(profile, valid_until, now)).expect("events serialize");
            let key = alert_key(&profile.sid, valid_until);
            let deliveries = deliveries_of(
                &Announcement {
                    event_type: EXPIRING,
                    key: &key,
                    transition_id: None,
                    profile_sid: &profile.sid,
                    status: EXPIRING_STATUS,
                    body: &body,
                },
                &webhooks,
                self.email.as_deref(),
            );
            let created = self
                .store
                .create_deliveries(&deliveries, &[])
                .await
                .map_err(retry_store)?;
            self.store
                .expiry_alerted(&profile.sid, valid_until)
                .await
                .map_err(retry_store)?;
            tracing::info!(profile = %profile.sid, %valid_until, created, "approval expiry alert queued");
        }
        // More may be due than one job takes.
        Ok(if due.len() == BATCH as usize {
            vec![now_job(now)]
        } else {
            Vec::new()
        })
    }

    fn max_attempts(&self) -> u32 {
        // Only the database can fail here; the next hour's check starts over.
        5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_of_one_hour_share_a_key_and_immediate_ones_do_not() {
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        assert_eq!(periodic(at(7200)).dedupe_key, periodic(at(10_799)).dedupe_key);
        assert_ne!(periodic(at(10_799)).dedupe_key, periodic(at(10_800)).dedupe_key);
        assert_ne!(now_job(at(1)).dedupe_key, now_job(at(2)).dedupe_key);
        assert_eq!(
            alert_key("BU1", at(5)),
            alert_key("BU1", at(5)),
            "a run again makes the same deliveries"
        );
        assert_ne!(alert_key("BU1", at(5)), alert_key("BU1", at(6)));
    }
}
