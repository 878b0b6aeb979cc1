//! The `deliver` job: sends one delivery (a webhook or an email) and records every attempt.

use crate::config::Config;
use crate::notify::event::Event;
use crate::notify::{email, webhook, EmailSettings};
use crate::queue::{retry_store, Backoff, Job, JobError};
use crate::store::outbox::{DeliverPayload, DELIVER};
use crate::store::{Attempt, Channel, Delivery, DeliveryStatus, DynStore, NewJob};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// The `deliver` job: one webhook or one email.
pub struct Deliverer {
    pub store: DynStore,
    pub webhooks: webhook::WebhookSender,
    pub email: Option<Arc<EmailSettings>>,
    pub max_attempts: u32,
    pub backoff: Backoff,
}

impl Deliverer {
    /// The `deliver` job of a configuration, sending email through `email` when set.
    pub fn from_config(
        config: &Config,
        store: DynStore,
        email: Option<Arc<EmailSettings>>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            webhooks: webhook::WebhookSender::new(
                Duration::from_secs(config.webhook_timeout_secs),
                config.webhook_allow_private,
            )?,
            email,
            max_attempts: config.delivery_max_attempts.max(1),
            backoff: Backoff {
                base: Duration::from_millis(config.delivery_retry_base_ms),
                max: Duration::from_millis(config.delivery_retry_max_ms.max(config.delivery_retry_base_ms)),
            },
        })
    }
}

/// What the worker should do after an attempt, and the delivery's new status.
struct Outcome {
    attempt: Attempt,
    status: DeliveryStatus,
    result: Result<(), JobError>,
}

impl Deliverer {
    async fn deliver_webhook(&self, delivery: &Delivery, last: bool) -> Result<Outcome, JobError> {
        let webhook = match &delivery.webhook_id {
            Some(id) => self.store.get_webhook(id).await.map_err(retry_store)?,
            None => None,
        };
        let Some(webhook) = webhook.filter(|w| w.enabled) else {
            return Ok(Outcome {
                attempt: attempt(None, 0, Some("the subscription was deleted or disabled".into())),
                status: DeliveryStatus::Cancelled,
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
                status: DeliveryStatus::Delivered,
                result: Ok(()),
            },
            Some(410) => {
                let reason = "the endpoint answered 410 Gone";
                self.store
                    .disable_webhook(&webhook.id, reason)
                    .await
                    .map_err(retry_store)?;
                tracing::warn!(webhook = %webhook.id, "subscription disabled: {reason}");
                Outcome {
                    attempt: attempt(code, latency, sent.error),
                    status: DeliveryStatus::Dead,
                    result: Err(JobError::Permanent(reason.into())),
                }
            }
            _ if sent.refused => Outcome {
                attempt: attempt(code, latency, sent.error.clone()),
                status: DeliveryStatus::Dead,
                result: Err(JobError::Permanent(sent.error.unwrap_or_default())),
            },
            _ => Outcome {
                attempt: attempt(code, latency, sent.error.clone()),
                status: if last {
                    DeliveryStatus::Dead
                } else {
                    DeliveryStatus::Failed
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
                status: DeliveryStatus::Dead,
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
                    status: DeliveryStatus::Delivered,
                    result: Ok(()),
                }
            }
            Err(error) => {
                // Servers often quote the recipient in their refusal: the log masks it there too.
                let said = error.to_string().replace(delivery.recipient.as_str(), &to);
                tracing::warn!(delivery = delivery.id, to, permanent = error.permanent, error = %said, "alert email refused");
                let code = error.code.map(i32::from);
                let (status, result) = if error.permanent {
                    (
                        DeliveryStatus::Dead,
                        Err(JobError::Permanent(error.message.clone())),
                    )
                } else {
                    let status = if last {
                        DeliveryStatus::Dead
                    } else {
                        DeliveryStatus::Failed
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

#[async_trait]
impl Job for Deliverer {
    const KIND: &'static str = DELIVER;
    type Payload = DeliverPayload;

    async fn run(&self, payload: DeliverPayload, attempt: u32) -> Result<Vec<NewJob>, JobError> {
        let Some(delivery) = self
            .store
            .get_delivery(payload.delivery_id)
            .await
            .map_err(retry_store)?
        else {
            return Ok(Vec::new());
        };
        // Idempotent: a job run again after a crash does not send twice what was recorded.
        let status = DeliveryStatus::parse(&delivery.status);
        if matches!(
            status,
            Some(DeliveryStatus::Delivered | DeliveryStatus::Cancelled)
        ) {
            return Ok(Vec::new());
        }
        let last = attempt >= self.max_attempts;
        let outcome = match Channel::parse(&delivery.channel) {
            Some(Channel::Webhook) => self.deliver_webhook(&delivery, last).await?,
            Some(Channel::Email) => self.deliver_email(&delivery, last).await?,
            None => {
                let channel = &delivery.channel;
                return Err(JobError::Permanent(format!("unknown channel {channel:?}")));
            }
        };
        self.store
            .record_attempt(delivery.id, &outcome.attempt, outcome.status)
            .await
            .map_err(retry_store)?;
        crate::metrics::delivery_attempt(
            &delivery.channel,
            outcome.status.as_str(),
            outcome.attempt.latency_ms,
        );
        outcome.result.map(|()| Vec::new())
    }

    fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    fn backoff(&self) -> Option<Backoff> {
        Some(self.backoff)
    }
}
