//! The `notify` job: who hears of which transitions. It creates one delivery per webhook
//! subscription and email recipient, with their `deliver` jobs, in one transaction. Most
//! jobs drain `pending_notifications` (where a commit leaves its applied transitions); one
//! queued after an evaluation fetch names its transition (`transition_id`, with why its
//! evaluation is missing when it is).

use crate::domain::{ProfileSid, ProfileStatus, Source};
use crate::notify::event::{Event, STATUS_CHANGED};
use crate::notify::EmailSettings;
use crate::queue::{retry_store, Job, JobError};
use crate::store::outbox::{drain_job, NotifyPayload, NOTIFY, NOTIFY_DRAIN_LIMIT};
use crate::store::{Channel, DynStore, NewDelivery, NewJob, Webhook};
use async_trait::async_trait;
use chrono::Utc;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The `notify` job.
pub struct Fanout {
    pub store: DynStore,
    pub email: Option<Arc<EmailSettings>>,
}

fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

#[async_trait]
impl Job for Fanout {
    const KIND: &'static str = NOTIFY;
    type Payload = NotifyPayload;

    async fn run(&self, payload: NotifyPayload, _attempt: u32) -> Result<Vec<NewJob>, JobError> {
        // A job that names no transition takes the pending notifications, and those it took
        // are deleted with the deliveries' creation.
        let drains = payload.drains();
        let ids = if drains {
            let limit = NOTIFY_DRAIN_LIMIT;
            self.store
                .pending_notifications(limit)
                .await
                .map_err(retry_store)?
        } else {
            payload.ids()
        };
        let taken: &[i64] = if drains { &ids } else { &[] };
        // More may wait than one job takes: another job goes on with them.
        let more = if drains && ids.len() == NOTIFY_DRAIN_LIMIT as usize {
            vec![drain_job(Utc::now())]
        } else {
            Vec::new()
        };
        if ids.is_empty() {
            return Ok(more);
        }
        let webhooks: Vec<Webhook> = self
            .store
            .list_webhooks()
            .await
            .map_err(retry_store)?
            .into_iter()
            .filter(|w| w.wants(STATUS_CHANGED))
            .collect();
        let emails = self.email.as_ref().is_some_and(|e| !e.recipients.is_empty());
        let mut deliveries = Vec::new();
        let mut missing = Vec::new();
        // With nobody to tell there is no need to read the transitions or build their events.
        if !webhooks.is_empty() || emails {
            for &id in &ids {
                let error = payload.evaluation_error.as_deref();
                match self.deliveries(id, &webhooks, error, payload.confirmed).await? {
                    Some(found) => deliveries.extend(found),
                    None => missing.push(id),
                }
            }
        }
        // Created together, once each (a run again after a crash finds them by event id).
        if !deliveries.is_empty() || !taken.is_empty() {
            let created = self
                .store
                .create_deliveries(&deliveries, taken)
                .await
                .map_err(retry_store)?;
            tracing::info!(transitions = ids.len(), created, "notifications queued");
        }
        if !missing.is_empty() {
            // The others' deliveries are queued; this job is buried for someone to look at.
            return Err(JobError::Permanent(format!(
                "transitions {missing:?} do not exist"
            )));
        }
        Ok(more)
    }

    fn max_attempts(&self) -> u32 {
        // Only the database can fail here: keep trying for as long as deliveries would.
        50
    }
}

impl Fanout {
    /// The deliveries of one transition's event; `None` when the transition does not exist.
    async fn deliveries(
        &self,
        id: i64,
        webhooks: &[Webhook],
        evaluation_error: Option<&str>,
        confirmed: Option<bool>,
    ) -> Result<Option<Vec<NewDelivery>>, JobError> {
        let Some(row) = self.store.transition(id).await.map_err(retry_store)? else {
            return Ok(None);
        };
        let sid = ProfileSid::parse(&row.profile_sid).map_err(|e| JobError::Permanent(e.to_string()))?;
        let profile = self
            .store
            .get_profile(&sid)
            .await
            .map_err(retry_store)?
            .map(|d| d.profile);
        let evaluation = if row.transition.to == ProfileStatus::TwilioRejected {
            let all = self.store.evaluations(sid.as_str()).await.map_err(retry_store)?;
            all.into_iter().find(|e| e.transition_id == Some(id))
        } else {
            None
        };
        // What Trust Hub itself reported (sync, submission) needed no confirming.
        let t = &row.transition;
        let confirmed = confirmed.or((t.source != Source::Callback && t.to.is_decision()).then_some(true));
        let event = Event::status_changed(
            &row,
            profile.as_ref(),
            evaluation.as_ref(),
            evaluation_error,
            confirmed,
        );
        let body = serde_json::to_value(&event).expect("events serialize");
        let deliveries = deliveries_of(
            &Announcement {
                event_type: STATUS_CHANGED,
                key: &id.to_string(),
                transition_id: Some(id),
                profile_sid: &row.profile_sid,
                status: &row.transition.to.to_string(),
                body: &body,
            },
            webhooks,
            self.email.as_deref(),
        );
        Ok(Some(deliveries))
    }
}

/// One event to deliver: what `deliveries_of` needs of it.
pub struct Announcement<'a> {
    pub event_type: &'static str,
    /// Unique to the event among its type's: delivery event ids are made of it, so that a job
    /// run again after a crash finds the deliveries it created.
    pub key: &'a str,
    pub transition_id: Option<i64>,
    pub profile_sid: &'a str,
    /// What an email recipient's `statuses` filter is matched against.
    pub status: &'a str,
    pub body: &'a serde_json::Value,
}

/// The deliveries of one event: one per webhook subscription that wants its type (`webhooks`
/// are the enabled ones) and one per email recipient that wants its status.
pub fn deliveries_of(
    event: &Announcement<'_>,
    webhooks: &[Webhook],
    email: Option<&EmailSettings>,
) -> Vec<NewDelivery> {
    let delivery = |channel, recipient: &str, event_id: String, webhook_id: Option<String>| NewDelivery {
        channel,
        recipient: recipient.to_owned(),
        event_id,
        webhook_id,
        event_type: event.event_type.to_owned(),
        transition_id: event.transition_id,
        profile_sid: Some(event.profile_sid.to_owned()),
        payload: event.body.clone(),
    };
    let mut deliveries: Vec<NewDelivery> = webhooks
        .iter()
        .filter(|w| w.wants(event.event_type))
        .map(|w| {
            let id = format!("msg_{}_{}", event.key, w.id);
            delivery(Channel::Webhook, &w.url, id, Some(w.id.clone()))
        })
        .collect();
    for recipient in email
        .iter()
        .flat_map(|e| &e.recipients)
        .filter(|r| r.wants(event.status))
    {
        let id = format!("email_{}_{}", event.key, short_hash(&recipient.address));
        deliveries.push(delivery(Channel::Email, &recipient.address, id, None));
    }
    deliveries
}
