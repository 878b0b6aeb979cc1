//! The channels that tell people, and what they send: events (`event.rs`) signed per Standard
//! Webhooks (`signing.rs`) and posted to public addresses only (`ssrf.rs`, `webhook.rs`), and
//! alert emails (`email.rs`). The jobs that use them are `crate::jobs::{notify, deliver}`.

pub mod email;
pub mod event;
pub mod signing;
pub mod ssrf;
pub mod webhook;

use crate::config::{AlertRecipient as Recipient, Config, ConfigError};

/// Email settings: the transport, who gets alerts, and the subject template.
pub struct EmailSettings {
    pub mailer: email::Mailer,
    pub recipients: Vec<Recipient>,
    pub subject_template: String,
}

impl EmailSettings {
    /// The email alert settings of a configuration, or `None` when `SMTP_URL` is not set.
    pub fn from_config(config: &Config) -> Result<Option<Self>, ConfigError> {
        use secrecy::ExposeSecret as _;
        let Some(smtp_url) = &config.smtp_url else {
            if !config.alert_email_to.is_empty() || !config.alert_recipients.is_empty() {
                tracing::warn!("alert recipients are configured but SMTP_URL is not: email is off");
            }
            return Ok(None);
        };
        let from = config
            .alert_email_from
            .as_deref()
            .ok_or_else(|| crate::config::invalid("ALERT_EMAIL_FROM", "required when SMTP_URL is set"))?;
        let ca_file = config.smtp_ca_file.as_deref();
        let timeout = std::time::Duration::from_secs(30);
        let mailer = email::Mailer::new(smtp_url.expose_secret(), ca_file, from, timeout)?;
        let mut recipients: Vec<Recipient> = config
            .alert_email_to
            .iter()
            .map(|address| Recipient {
                address: address.clone(),
                statuses: Vec::new(),
            })
            .collect();
        recipients.extend(config.alert_recipients.iter().cloned());
        for recipient in &recipients {
            recipient.address.parse::<lettre::Address>().map_err(|e| {
                crate::config::invalid("ALERT_EMAIL_TO", format!("{:?}: {e}", recipient.address))
            })?;
        }
        if recipients.is_empty() {
            tracing::warn!("SMTP_URL is set but ALERT_EMAIL_TO is empty: no alert email will be sent");
        }
        Ok(Some(Self {
            mailer,
            recipients,
            subject_template: config.email_subject_template.clone(),
        }))
    }
}
