//! Telling people: a `notify` job (one per group commit, or one per transition) decides who
//! hears of its transitions and creates one delivery per webhook subscription and email
//! recipient (with their `deliver` jobs, in one transaction); each `deliver` job sends one
//! and records every attempt.

pub mod email;
pub mod event;
mod fanout;
pub mod signing;
pub mod ssrf;
pub mod webhook;

pub use fanout::Fanout;

use crate::outbox::{Backoff, Job, JobError, JobHandler, NewJob};
use crate::store::{channel, delivery_status, Attempt, Delivery, DynStore, StoreError};
use async_trait::async_trait;
use event::Event;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// An alert email recipient and the statuses it wants (all when empty).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Recipient {
    pub address: String,
    #[serde(default)]
    pub statuses: Vec<String>,
}

impl Recipient {
    fn wants(&self, status: &str) -> bool {
        self.statuses.is_empty() || self.statuses.iter().any(|s| s == status)
    }
}

/// Email settings: the transport, who gets alerts, and the subject template.
pub struct EmailSettings {
    pub mailer: email::Mailer,
    pub recipients: Vec<Recipient>,
    pub subject_template: String,
}

fn store_error(error: StoreError) -> JobError {
    JobError::Retry {
        reason: error.to_string(),
        after: None,
    }
}

fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

/// The `deliver` job: one webhook or one email.
pub struct Deliverer {
    pub store: DynStore,
    pub webhooks: webhook::WebhookSender,
    pub email: Option<Arc<EmailSettings>>,
    pub max_attempts: u32,
    pub backoff: Backoff,
}

/// What the worker should do after an attempt, and the delivery's new status.
struct Outcome {
    attempt: Attempt,
    status: &'static str,
    result: Result<(), JobError>,
}

impl Deliverer {
    async fn deliver_webhook(&self, delivery: &Delivery, last: bool) -> Result<Outcome, JobError> {
        let webhook = match &delivery.webhook_id {
            Some(id) => self.store.get_webhook(id).await.map_err(store_error)?,
            None => None,
        };
        let Some(webhook) = webhook.filter(|w| w.enabled) else {
            return Ok(Outcome {
                attempt: attempt(None, 0, Some("the subscription was deleted or disabled".into())),
                status: delivery_status::CANCELLED,
                result: Ok(()),
            });
        };
        let body = serde_json::to_vec(&delivery.payload).expect("JSON values serialize");
        let sent = self
            .webhooks
            .send(&webhook.url, &webhook.secret, &delivery.event_id, &body)
            .await;
        let latency = sent.latency.as_millis() as i64;
        let code = sent.status.map(i32::from);
        let outcome = match sent.status {
            Some(200..=299) => Outcome {
                attempt: attempt(code, latency, None),
                status: delivery_status::DELIVERED,
                result: Ok(()),
            },
            Some(410) => {
                let reason = "the endpoint answered 410 Gone";
                self.store
                    .disable_webhook(&webhook.id, reason)
                    .await
                    .map_err(store_error)?;
                tracing::warn!(webhook = %webhook.id, "subscription disabled: {reason}");
                Outcome {
                    attempt: attempt(code, latency, sent.error),
                    status: delivery_status::DEAD,
                    result: Err(JobError::Permanent(reason.into())),
                }
            }
            _ if sent.refused => Outcome {
                attempt: attempt(code, latency, sent.error.clone()),
                status: delivery_status::DEAD,
                result: Err(JobError::Permanent(sent.error.unwrap_or_default())),
            },
            _ => Outcome {
                attempt: attempt(code, latency, sent.error.clone()),
                status: if last {
                    delivery_status::DEAD
                } else {
                    delivery_status::FAILED
                },
                result: Err(JobError::Retry {
                    reason: sent.error.unwrap_or_default(),
                    after: sent.retry_after,
                }),
            },
        };
        Ok(outcome)
    }

    async fn deliver_email(&self, delivery: &Delivery, last: bool) -> Result<Outcome, JobError> {
        let Some(settings) = &self.email else {
            let reason = "email is not configured (SMTP_URL, ALERT_EMAIL_FROM)";
            return Ok(Outcome {
                attempt: attempt(None, 0, Some(reason.into())),
                status: delivery_status::DEAD,
                result: Err(JobError::Permanent(reason.into())),
            });
        };
        let event: Event = serde_json::from_value(delivery.payload.clone())
            .map_err(|e| JobError::Permanent(format!("unreadable event: {e}")))?;
        let rendered = email::render(&event, &settings.subject_template);
        let started = std::time::Instant::now();
        let sent = settings.mailer.send(&delivery.recipient, &rendered).await;
        let latency = started.elapsed().as_millis() as i64;
        let to = email::mask(&delivery.recipient);
        Ok(match sent {
            Ok(()) => {
                tracing::info!(delivery = delivery.id, to, "alert email accepted");
                Outcome {
                    attempt: attempt(Some(250), latency, None),
                    status: delivery_status::DELIVERED,
                    result: Ok(()),
                }
            }
            Err(error) => {
                tracing::warn!(delivery = delivery.id, to, permanent = error.permanent, %error, "alert email refused");
                let code = error.code.map(i32::from);
                let (status, result) = if error.permanent {
                    (
                        delivery_status::DEAD,
                        Err(JobError::Permanent(error.message.clone())),
                    )
                } else {
                    let status = if last {
                        delivery_status::DEAD
                    } else {
                        delivery_status::FAILED
                    };
                    (
                        status,
                        Err(JobError::Retry {
                            reason: error.message.clone(),
                            after: None,
                        }),
                    )
                };
                Outcome {
                    attempt: attempt(code, latency, Some(error.message)),
                    status,
                    result,
                }
            }
        })
    }
}

fn attempt(status_code: Option<i32>, latency_ms: i64, error: Option<String>) -> Attempt {
    Attempt {
        at: crate::store::now(),
        status_code,
        latency_ms,
        error,
    }
}

#[derive(Deserialize)]
struct DeliverPayload {
    delivery_id: i64,
}

#[async_trait]
impl JobHandler for Deliverer {
    async fn run(&self, job: &Job) -> Result<Vec<NewJob>, JobError> {
        let payload: DeliverPayload = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Permanent(format!("unreadable job payload: {e}")))?;
        let Some(delivery) = self
            .store
            .get_delivery(payload.delivery_id)
            .await
            .map_err(store_error)?
        else {
            return Ok(Vec::new());
        };
        // Idempotent: a job run again after a crash does not send twice what was recorded.
        if [delivery_status::DELIVERED, delivery_status::CANCELLED].contains(&delivery.status.as_str()) {
            return Ok(Vec::new());
        }
        let last = job.attempts >= self.max_attempts;
        let outcome = match delivery.channel.as_str() {
            channel::WEBHOOK => self.deliver_webhook(&delivery, last).await?,
            channel::EMAIL => self.deliver_email(&delivery, last).await?,
            other => return Err(JobError::Permanent(format!("unknown channel {other:?}"))),
        };
        self.store
            .record_attempt(delivery.id, &outcome.attempt, outcome.status)
            .await
            .map_err(store_error)?;
        crate::metrics::delivery_attempt(&delivery.channel, outcome.status, outcome.attempt.latency_ms);
        outcome.result.map(|()| Vec::new())
    }

    fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    fn backoff(&self) -> Option<Backoff> {
        Some(self.backoff)
    }
}
