//! The records the configuration is made of: accounts, shared keys, alert recipients, the
//! database URL, and the settings with a fixed set of values.

use super::values::secret_list;
use crate::domain::AccountSid;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// One account whose callbacks are accepted.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountConfig {
    pub account_sid: String,
    pub auth_token: SecretString,
    /// Tokens still accepted during a rotation.
    #[serde(default, deserialize_with = "secret_list")]
    pub previous_auth_tokens: Vec<SecretString>,
}

/// A Twilio webhook SharedKey: its identifier (the header's `key=`) and secret.
#[derive(Debug, Clone, Deserialize)]
pub struct SharedKeyConfig {
    pub key: String,
    pub secret: SecretString,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// SQLite's `synchronous` pragma: `normal` survives a process crash (kill -9); `full` also
/// survives power loss, at the cost of an fsync per commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Normal,
    Full,
}

/// `DATABASE_URL`, whose password never shows in `Debug` output or in an error.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl std::ops::Deref for DatabaseUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact_password(&self.0))
    }
}

/// `url` with its password, if it has one, replaced by `***`.
pub fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The alert email subject when `email_subject_template` is not set.
pub const DEFAULT_SUBJECT: &str = "[Trust Hub] {name} is now {status}";

/// An alert email recipient and the statuses it wants (all when empty).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AlertRecipient {
    pub address: String,
    #[serde(default)]
    pub statuses: Vec<String>,
}

impl AlertRecipient {
    pub fn wants(&self, status: &str) -> bool {
        self.statuses.is_empty() || self.statuses.iter().any(|s| s == status)
    }
}

/// An account and its auth tokens, current first.
#[derive(Debug, Clone)]
pub struct Account {
    pub sid: AccountSid,
    pub tokens: Vec<SecretString>,
}
