//! Settings derived from the configuration: the worker, the delivery schedule, email.

use super::{invalid, Config, ConfigError};

impl Config {
    /// What bounds each HTTP connection.
    pub fn connection_limits(&self) -> crate::http::Limits {
        use std::time::Duration;
        crate::http::Limits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
            body_read_timeout: Duration::from_secs(self.body_read_timeout_secs.max(1)),
            max_connections: self.max_connections.max(1) as usize,
        }
    }

    /// The worker settings.
    pub fn worker(&self) -> crate::outbox::WorkerConfig {
        use std::time::Duration;
        crate::outbox::WorkerConfig {
            concurrency: self.worker_concurrency.max(1),
            lease: Duration::from_secs(self.job_lease_secs.max(1)),
            poll: Duration::from_millis(self.worker_poll_ms.max(10)),
            backoff: crate::outbox::Backoff {
                base: Duration::from_millis(self.job_retry_base_ms),
                max: Duration::from_millis(self.job_retry_max_ms.max(self.job_retry_base_ms)),
            },
            max_retry_after: Duration::from_secs(3600),
        }
    }

    /// The email alert settings, or `None` when `SMTP_URL` is not set.
    pub fn email(&self) -> Result<Option<crate::notify::EmailSettings>, ConfigError> {
        use secrecy::ExposeSecret as _;
        let Some(smtp_url) = &self.smtp_url else {
            if !self.alert_email_to.is_empty() || !self.alert_recipients.is_empty() {
                tracing::warn!("alert recipients are configured but SMTP_URL is not: email is off");
            }
            return Ok(None);
        };
        let from = self
            .alert_email_from
            .as_deref()
            .ok_or_else(|| invalid("ALERT_EMAIL_FROM", "required when SMTP_URL is set"))?;
        let mailer = crate::notify::email::Mailer::new(
            smtp_url.expose_secret(),
            from,
            std::time::Duration::from_secs(30),
        )
        .map_err(|message| invalid("SMTP_URL", message))?;
        let mut recipients: Vec<crate::notify::Recipient> = self
            .alert_email_to
            .iter()
            .map(|address| crate::notify::Recipient {
                address: address.clone(),
                statuses: Vec::new(),
            })
            .collect();
        recipients.extend(self.alert_recipients.iter().cloned());
        for recipient in &recipients {
            recipient
                .address
                .parse::<lettre::Address>()
                .map_err(|e| invalid("ALERT_EMAIL_TO", format!("{:?}: {e}", recipient.address)))?;
        }
        if recipients.is_empty() {
            tracing::warn!("SMTP_URL is set but ALERT_EMAIL_TO is empty: no alert email will be sent");
        }
        Ok(Some(crate::notify::EmailSettings {
            mailer,
            recipients,
            subject_template: self.email_subject_template.clone(),
        }))
    }

    /// The retry schedule of deliveries.
    pub fn delivery_backoff(&self) -> crate::outbox::Backoff {
        use std::time::Duration;
        crate::outbox::Backoff {
            base: Duration::from_millis(self.delivery_retry_base_ms),
            max: Duration::from_millis(self.delivery_retry_max_ms.max(self.delivery_retry_base_ms)),
        }
    }
}
