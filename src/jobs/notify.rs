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
        let status = row.transition.to.to_string();
        let mut deliveries = Vec::new();
        for webhook in webhooks {
            deliveries.push(NewDelivery {
                channel: Channel::Webhook,
                recipient: webhook.url.clone(),
                event_id: format!("msg_{id}_{}", webhook.id),
                webhook_id: Some(webhook.id.clone()),
                event_type: STATUS_CHANGED.to_owned(),
                transition_id: Some(id),
                profile_sid: Some(row.profile_sid.clone()),
                payload: body.clone(),
            });
        }
        if let Some(email) = &self.email {
            for recipient in email.recipients.iter().filter(|r| r.wants(&status)) {
                deliveries.push(NewDelivery {
                    channel: Channel::Email,
                    webhook_id: None,
                    recipient: recipient.address.clone(),
                    event_id: format!("email_{id}_{}", short_hash(&recipient.address)),
                    event_type: STATUS_CHANGED.to_owned(),
                    transition_id: Some(id),
                    profile_sid: Some(row.profile_sid.clone()),
                    payload: body.clone(),
                });
            }
        }
        Ok(Some(deliveries))
    }
}
