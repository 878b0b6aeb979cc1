//! The `compliance_notify` job: tells of a brand's, campaign's or toll-free verification's
//! status change (`brand.status_changed`, …) by webhook and email, through the same outbox as
//! profiles. What the object is linked to (a brand's customer profile, a campaign's brand and
//! messaging service) is fetched once from the Messaging API when its events did not carry
//! it; when Twilio cannot be asked, the event goes out with the links known.

use super::notify::{deliveries_of, Announcement};
use crate::notify::event::Event;
use crate::notify::EmailSettings;
use crate::queue::{retry_store, Job, JobError};
use crate::store::compliance::{ComplianceJob, COMPLIANCE_NOTIFY};
use crate::store::{DynStore, NewJob, Webhook};
use crate::twilio::{CredentialBook, MessagingApi};
use async_trait::async_trait;
use std::sync::Arc;

pub struct ComplianceNotifier {
    pub store: DynStore,
    pub messaging: MessagingApi,
    pub credentials: CredentialBook,
    pub email: Option<Arc<EmailSettings>>,
    pub max_attempts: u32,
}

#[async_trait]
impl Job for ComplianceNotifier {
    const KIND: &'static str = COMPLIANCE_NOTIFY;
    type Payload = ComplianceJob;

    async fn run(&self, job: ComplianceJob, attempt: u32) -> Result<Vec<NewJob>, JobError> {
        let Some((mut object, transition)) = self
            .store
            .compliance_transition(job.transition_id)
            .await
            .map_err(retry_store)?
        else {
            return Err(JobError::Permanent(format!(
                "compliance transition {} does not exist",
                job.transition_id
            )));
        };
        let creds = match self.credentials.resolve(object.account_sid.as_deref()).await {
            Ok(creds) => creds,
            Err(error) => {
                tracing::warn!(object = %object.sid, %error, "could not learn the object's account's credentials");
                None
            }
        };
        if let (false, Some(creds)) = (object.links.complete_for(object.kind), creds) {
            match self
                .messaging
                .links(&creds, object.kind, &object.sid, &object.links)
                .await
            {
                Ok(Some(links)) => {
                    self.store
                        .set_compliance_links(&object.sid, &links)
                        .await
                        .map_err(retry_store)?;
                    object.links = links.or(object.links);
                }
                Ok(None) => {}
                // Told of now with what is known, rather than never.
                Err(error) if error.is_permanent() || attempt >= self.max_attempts => {
                    tracing::warn!(object = %object.sid, %error, "could not fetch what it is linked to");
                }
                Err(error) => {
                    return Err(JobError::Retry {
                        reason: format!("Messaging API: {error}"),
                        after: error.retry_after(),
                    })
                }
            }
        }
        let event_type = object.kind.event_type();
        let webhooks: Vec<Webhook> = self
            .store
            .list_webhooks()
            .await
            .map_err(retry_store)?
            .into_iter()
            .filter(|w| w.wants(event_type))
            .collect();
        let body = serde_json::to_value(Event::compliance(&object, &transition)).expect("events serialize");
        let key = format!("compliance_{}", transition.id);
        let deliveries = deliveries_of(
            &Announcement {
                event_type,
                key: &key,
                transition_id: None,
                profile_sid: &object.sid,
                status: event_type,
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
        tracing::info!(object = %object.sid, to = %transition.to, created, "compliance notifications queued");
        Ok(Vec::new())
    }

    fn max_attempts(&self) -> u32 {
        self.max_attempts
    }
}
