//! The records the configuration is made of: accounts, shared keys, alert recipients, the
//! database URL, and the settings with a fixed set of values.

use super::values::secret_list;
use super::{invalid, ConfigError};
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

/// A Twilio webhook SharedKey: its identifier (the header's `key=`), secret, the algorithm it
/// signs with and the accounts it may sign for.
#[derive(Debug, Clone, Deserialize)]
pub struct SharedKeyConfig {
    pub key: String,
    pub secret: SecretString,
    /// Pinned: a request naming another algorithm is refused, whatever its header says.
    #[serde(default)]
    pub algorithm: SharedKeyAlgorithm,
    /// The accounts whose callbacks it may sign. Empty: the one account configured (refused
    /// at start-up when several are).
    #[serde(default)]
    pub accounts: Vec<String>,
}

/// The HMAC a shared key signs with, by Twilio's names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum SharedKeyAlgorithm {
    #[serde(rename = "HMAC_SHA1", alias = "hmac_sha1")]
    HmacSha1,
    /// What shared keys were documented with before the algorithm was pinned.
    #[default]
    #[serde(rename = "HMAC_SHA256", alias = "hmac_sha256")]
    HmacSha256,
}

/// Checks every shared key: a secret that is not blank, accounts that parse and are served,
/// and explicit accounts whenever several are served (the key would otherwise sign for all).
pub(super) fn check_shared_keys(keys: &[SharedKeyConfig], served: &[Account]) -> Result<(), ConfigError> {
    for key in keys {
        super::not_blank("shared_keys.secret", &key.secret)?;
        if key.accounts.is_empty() && served.len() > 1 {
            return Err(invalid(
                "shared_keys.accounts",
                format!(
                    "shared key {:?}: several accounts are configured; list the ones it may sign \
                     for (accounts = [\"AC…\"])",
                    key.key
                ),
            ));
        }
        for sid in &key.accounts {
            let sid = AccountSid::parse(sid).map_err(|e| invalid("shared_keys.accounts", e.to_string()))?;
            if !served.iter().any(|a| a.sid == sid) {
                return Err(invalid(
                    "shared_keys.accounts",
                    format!("shared key {:?}: {sid} is not a configured account", key.key),
                ));
            }
        }
    }
    Ok(())
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
