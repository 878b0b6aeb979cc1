//! The `notify` job: who hears of which transitions. It creates one delivery per webhook
//! subscription and email recipient, with their `deliver` jobs, in one transaction. A group
//! commit queues one job for all the transitions it applied (`transition_ids`); a single
//! transition, or one whose evaluation was fetched first, has its own (`transition_id`, with
//! why its evaluation is missing).

use crate::domain::{ProfileSid, ProfileStatus};
use crate::notify::event::{Event, STATUS_CHANGED};
use crate::notify::EmailSettings;
use crate::queue::{retry_store, Job, JobError};
use crate::store::outbox::{NotifyPayload, NOTIFY};
use crate::store::{Channel, DynStore, NewDelivery, NewJob, Webhook};
use async_trait::async_trait;
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
        let ids = payload.ids();
        if ids.is_empty() {
            return Err(JobError::Permanent("the job names no transition".into()));
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
        if webhooks.is_empty() && !emails {
            // Nobody to tell: no need to read the transitions or build their events.
            return Ok(Vec::new());
        }
        let mut deliveries = Vec::new();
        let mut missing = Vec::new();
        for &id in &ids {
            let error = payload.evaluation_error.as_deref();
            match self.deliveries(id, &webhooks, error).await? {
                Some(found) => deliveries.extend(found),
                None => missing.push(id),
            }
        }
        // Created together, once each (a run again after a crash finds them by event id).
        let created = self
            .store
            .create_deliveries(&deliveries)
            .await
            .map_err(retry_store)?;
        tracing::info!(transitions = ids.len(), created, "notifications queued");
        if !missing.is_empty() {
            // The others' deliveries are queued; this job is buried for someone to look at.
            return Err(JobError::Permanent(format!(
                "transitions {missing:?} do not exist"
            )));
        }
        Ok(Vec::new())
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
        let event = Event::status_changed(&row, profile.as_ref(), evaluation.as_ref(), evaluation_error);
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
