//! Configuration: defaults < TOML file < environment, one typed struct, checked at start-up
//! with messages that name the variable.

use crate::domain::AccountSid;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};
use std::net::SocketAddr;
use std::path::Path;

/// The environment variables read, each the upper-case name of a top-level key.
pub const ENV_VARS: &[&str] = &[
    "DATABASE_URL",
    "LISTEN_ADDR",
    "PUBLIC_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_API_KEY",
    "TWILIO_API_SECRET",
    "TRUSTHUB_API_URL",
    "TWILIO_API_URL",
    "API_TOKENS",
    "SMTP_URL",
    "ALERT_EMAIL_FROM",
    "ALERT_EMAIL_TO",
    "WEBHOOK_ALLOW_PRIVATE",
    "LOG_FORMAT",
    "SQLITE_SYNCHRONOUS",
    "TWILIO_TIMEOUT_SECS",
    "WORKER_CONCURRENCY",
    "WORKER_POLL_MS",
    "JOB_LEASE_SECS",
    "JOB_RETRY_BASE_MS",
    "JOB_RETRY_MAX_MS",
    "EVALUATION_MAX_ATTEMPTS",
    "DELIVERY_MAX_ATTEMPTS",
    "DELIVERY_RETRY_BASE_MS",
    "DELIVERY_RETRY_MAX_MS",
    "WEBHOOK_TIMEOUT_SECS",
    "SYNC_INTERVAL_SECS",
];

/// The whole configuration. Secrets are `SecretString`: never in logs or `Debug` output.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub database_url: String,
    pub listen_addr: String,
    pub public_url: Option<String>,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<SecretString>,
    pub twilio_api_key: Option<String>,
    pub twilio_api_secret: Option<SecretString>,
    pub trusthub_api_url: String,
    pub twilio_api_url: String,
    #[serde(deserialize_with = "secret_list")]
    pub api_tokens: Vec<SecretString>,
    pub smtp_url: Option<SecretString>,
    pub alert_email_from: Option<String>,
    #[serde(deserialize_with = "string_list")]
    pub alert_email_to: Vec<String>,
    #[serde(deserialize_with = "flag")]
    pub webhook_allow_private: bool,
    pub log_format: LogFormat,
    pub sqlite_synchronous: SqliteSynchronous,
    /// Per-request timeout of Twilio REST calls.
    #[serde(deserialize_with = "number")]
    pub twilio_timeout_secs: u64,
    /// Jobs a worker runs at once.
    #[serde(deserialize_with = "number")]
    pub worker_concurrency: u32,
    /// How often an idle worker looks for due jobs (it is also woken when this process enqueues).
    #[serde(deserialize_with = "number")]
    pub worker_poll_ms: u64,
    /// How long a claimed job belongs to its worker; after a crash it is claimed again then.
    #[serde(deserialize_with = "number")]
    pub job_lease_secs: u64,
    /// First retry delay of a failed job; each retry doubles it (with jitter) up to the max.
    #[serde(deserialize_with = "number")]
    pub job_retry_base_ms: u64,
    #[serde(deserialize_with = "number")]
    pub job_retry_max_ms: u64,
    /// Attempts to fetch an evaluation before the alert goes out without it.
    #[serde(deserialize_with = "number")]
    pub evaluation_max_attempts: u32,
    /// Attempts per webhook or email before the delivery is dead.
    #[serde(deserialize_with = "number")]
    pub delivery_max_attempts: u32,
    /// Deliveries retry on their own, longer schedule (hours, by default).
    #[serde(deserialize_with = "number")]
    pub delivery_retry_base_ms: u64,
    #[serde(deserialize_with = "number")]
    pub delivery_retry_max_ms: u64,
    /// Per-request timeout of outbound webhooks.
    #[serde(deserialize_with = "number")]
    pub webhook_timeout_secs: u64,
    /// `serve` reconciles every profile with Trust Hub this often; 0 turns it off.
    #[serde(deserialize_with = "number")]
    pub sync_interval_secs: u64,
    /// More alert recipients, each with the statuses it wants (TOML file only).
    pub alert_recipients: Vec<crate::notify::Recipient>,
    /// The alert subject: `{name}`, `{sid}`, `{status}` and `{from}` are replaced (TOML file only).
    pub email_subject_template: String,
    /// More accounts (ISV subaccounts) and previous tokens, from the TOML file.
    pub accounts: Vec<AccountConfig>,
    /// Shared signing keys named by `X-Twilio-Webhooks-Signature-Settings`.
    pub shared_keys: Vec<SharedKeyConfig>,
}

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

#[derive(Serialize)]
struct Defaults {
    database_url: &'static str,
    listen_addr: &'static str,
    trusthub_api_url: &'static str,
    twilio_api_url: &'static str,
    api_tokens: Vec<String>,
    alert_email_to: Vec<String>,
    webhook_allow_private: bool,
    log_format: LogFormat,
    sqlite_synchronous: SqliteSynchronous,
    twilio_timeout_secs: u64,
    worker_concurrency: u32,
    worker_poll_ms: u64,
    job_lease_secs: u64,
    job_retry_base_ms: u64,
    job_retry_max_ms: u64,
    evaluation_max_attempts: u32,
    delivery_max_attempts: u32,
    delivery_retry_base_ms: u64,
    delivery_retry_max_ms: u64,
    webhook_timeout_secs: u64,
    sync_interval_secs: u64,
    alert_recipients: Vec<()>,
    email_subject_template: &'static str,
    accounts: Vec<()>,
    shared_keys: Vec<()>,
}

const DEFAULTS: fn() -> Defaults = || Defaults {
    database_url: "sqlite://trusthub-hooks.db",
    listen_addr: "127.0.0.1:8080",
    trusthub_api_url: "https://trusthub.twilio.com",
    twilio_api_url: "https://api.twilio.com",
    api_tokens: Vec::new(),
    alert_email_to: Vec::new(),
    webhook_allow_private: false,
    log_format: LogFormat::Text,
    sqlite_synchronous: SqliteSynchronous::Normal,
    twilio_timeout_secs: 30,
    worker_concurrency: 4,
    worker_poll_ms: 1000,
    job_lease_secs: 300,
    job_retry_base_ms: 5000,
    job_retry_max_ms: 3_600_000,
    // With the defaults above: about 10 minutes of retries.
    evaluation_max_attempts: 8,
    // 5 s doubling to 2 h: 12 attempts span about 4.5 hours.
    delivery_max_attempts: 12,
    delivery_retry_base_ms: 5000,
    delivery_retry_max_ms: 7_200_000,
    webhook_timeout_secs: 15,
    sync_interval_secs: 0,
    alert_recipients: Vec::new(),
    email_subject_template: crate::notify::email::DEFAULT_SUBJECT,
    accounts: Vec::new(),
    shared_keys: Vec::new(),
};

/// A configuration that cannot be used, naming what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("{variable}: {message}")]
    Invalid { variable: &'static str, message: String },
}

fn invalid(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        variable,
        message: message.into(),
    }
}

impl Config {
    /// Loads defaults, then the TOML file (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env = ENV_VARS
            .iter()
            .filter_map(|name| std::env::var(name).ok().map(|value| (*name, value)));
        Self::load_from(file, env)
    }

    /// Loads with an explicit environment (tests use this instead of mutating the process's).
    pub fn load_from<'a>(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (&'a str, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(DEFAULTS()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(invalid(
                    "TRUSTHUB_HOOKS_CONFIG",
                    format!("{} does not exist", file.display()),
                ));
            }
            figment = figment.merge(Toml::file(file));
        }
        // Environment values stay strings: a token of digits must not become a number.
        let env: Dict = env
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), Value::from(value)))
            .collect();
        let config: Self = figment
            .merge(Serialized::defaults(env))
            .extract()
            .map_err(Box::new)?;
        config.check()?;
        Ok(config)
    }

    /// Checks what every command relies on.
    fn check(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if let Some(sid) = &self.twilio_account_sid {
            AccountSid::parse(sid).map_err(|e| invalid("TWILIO_ACCOUNT_SID", e.to_string()))?;
        }
        if self.twilio_account_sid.is_some() != self.twilio_auth_token.is_some() {
            return Err(invalid(
                "TWILIO_AUTH_TOKEN",
                "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN go together: set both or neither",
            ));
        }
        for account in &self.accounts {
            AccountSid::parse(&account.account_sid)
                .map_err(|e| invalid("accounts.account_sid", e.to_string()))?;
        }
        if let Some(url) = &self.public_url {
            PublicUrl::parse(url)?;
        }
        Ok(())
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

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen_addr.parse().map_err(|_| {
            invalid(
                "LISTEN_ADDR",
                format!("{:?} is not an address like 127.0.0.1:8080", self.listen_addr),
            )
        })
    }

    /// `PUBLIC_URL`, which `serve` requires.
    pub fn public_url(&self) -> Result<PublicUrl, ConfigError> {
        let url = self.public_url.as_deref().ok_or_else(|| {
            invalid(
                "PUBLIC_URL",
                "required: the scheme://host[:port][/prefix] that Twilio calls",
            )
        })?;
        PublicUrl::parse(url)
    }

    /// Every account served: `TWILIO_ACCOUNT_SID` first, then the file's `[[accounts]]`;
    /// an account named twice has its tokens merged.
    pub fn accounts(&self) -> Vec<Account> {
        let mut accounts: Vec<Account> = Vec::new();
        let primary = self
            .twilio_account_sid
            .iter()
            .zip(&self.twilio_auth_token)
            .map(|(sid, token)| (sid, vec![token.clone()]));
        let listed = self.accounts.iter().map(|a| {
            let mut tokens = vec![a.auth_token.clone()];
            tokens.extend(a.previous_auth_tokens.iter().cloned());
            (&a.account_sid, tokens)
        });
        for (sid, tokens) in primary.chain(listed) {
            let Ok(sid) = AccountSid::parse(sid) else { continue };
            match accounts.iter_mut().find(|a| a.sid == sid) {
                Some(existing) => {
                    for token in tokens {
                        let known = existing
                            .tokens
                            .iter()
                            .any(|t| t.expose_secret() == token.expose_secret());
                        if !known {
                            existing.tokens.push(token);
                        }
                    }
                }
                None => accounts.push(Account { sid, tokens }),
            }
        }
        accounts
    }
}

/// An account and its auth tokens, current first.
#[derive(Debug, Clone)]
pub struct Account {
    pub sid: AccountSid,
    pub tokens: Vec<SecretString>,
}

/// `PUBLIC_URL`, kept byte for byte as configured, since Twilio signs exactly that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// Scheme, host, port and prefix, without a trailing slash.
    base: String,
    /// The path prefix (`/prefix`), or empty.
    prefix: String,
}

impl PublicUrl {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let parsed =
            url::Url::parse(raw).map_err(|e| invalid("PUBLIC_URL", format!("{raw:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(invalid(
                "PUBLIC_URL",
                format!("{raw:?} must be http(s)://host[:port][/prefix]"),
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid(
                "PUBLIC_URL",
                format!("{raw:?} must not carry a query or fragment"),
            ));
        }
        let base = raw.trim_end_matches('/').to_owned();
        let prefix = parsed.path().trim_end_matches('/').to_owned();
        Ok(Self { base, prefix })
    }

    /// The path prefix requests arrive under, or `""`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The URL Twilio signed for a request with this path and raw query: `PUBLIC_URL`, the path
    /// after the prefix (a proxy may or may not have stripped it), and the query as received.
    pub fn signed_url(&self, path: &str, query: Option<&str>) -> String {
        let rest = path
            .strip_prefix(self.prefix.as_str())
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .unwrap_or(path);
        let mut url = String::with_capacity(self.base.len() + rest.len() + query.map_or(0, |q| q.len() + 1));
        url.push_str(&self.base);
        url.push_str(rest);
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        url
    }

    /// The callback URL to register with Twilio.
    pub fn callback_url(&self) -> String {
        format!("{}{}", self.base, crate::http::CALLBACK_PATH)
    }
}

fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        One(String),
        Many(Vec<String>),
    }
    let items = match List::deserialize(d)? {
        List::One(joined) => joined.split(',').map(str::to_owned).collect(),
        List::Many(items) => items,
    };
    Ok(items
        .into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect())
}

fn secret_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SecretString>, D::Error> {
    Ok(string_list(d)?.into_iter().map(SecretString::from).collect())
}

/// A number from the file, or from a string (environment values are strings).
fn number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr + Deserialize<'de>,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number<T> {
        Value(T),
        Text(String),
    }
    match Number::<T>::deserialize(d)? {
        Number::Value(n) => Ok(n),
        Number::Text(t) => t
            .trim()
            .parse()
            .map_err(|e| serde::de::Error::custom(format!("{t:?}: {e}"))),
    }
}

fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    match Flag::deserialize(d)? {
        Flag::Bool(b) => Ok(b),
        Flag::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" | "" => Ok(false),
            other => Err(serde::de::Error::custom(format!(
                "{other:?} is not a boolean (true or false)"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    const AC1: &str = "AC11111111111111111111111111111111";
    const AC2: &str = "AC22222222222222222222222222222222";

    fn env(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_need_nothing() {
        let config = Config::load_from(None, env(&[])).unwrap();
        assert_eq!(config.database_url, "sqlite://trusthub-hooks.db");
        assert_eq!(config.listen_addr().unwrap().to_string(), "127.0.0.1:8080");
        assert!(config.api_tokens.is_empty());
        assert!(!config.webhook_allow_private);
        assert!(config.public_url().is_err());
    }

    #[test]
    fn environment_overrides_file() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            r#"
listen_addr = "0.0.0.0:9000"
api_tokens = ["from-file"]
webhook_allow_private = true
[[accounts]]
account_sid = "{AC2}"
auth_token = "tok2"
previous_auth_tokens = ["tok2-old"]
[[accounts]]
account_sid = "{AC1}"
auth_token = "tok1"
previous_auth_tokens = ["tok1-old"]
[[shared_keys]]
key = "webhooks_sharedkey_1"
secret = "s1"
"#
        )
        .unwrap();
        let config = Config::load_from(
            Some(file.path()),
            env(&[
                ("API_TOKENS", "123456, abc ,"),
                ("TWILIO_ACCOUNT_SID", AC1),
                ("TWILIO_AUTH_TOKEN", "tok1"),
                ("LISTEN_ADDR", "127.0.0.1:9001"),
            ]),
        )
        .unwrap();
        assert_eq!(config.listen_addr, "127.0.0.1:9001");
        let tokens: Vec<_> = config
            .api_tokens
            .iter()
            .map(|t| t.expose_secret().to_owned())
            .collect();
        assert_eq!(tokens, ["123456", "abc"]);
        assert!(config.webhook_allow_private);
        let accounts = config.accounts();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].sid.as_str(), AC1);
        let ac1: Vec<_> = accounts[0]
            .tokens
            .iter()
            .map(|t| t.expose_secret().to_owned())
            .collect();
        assert_eq!(ac1, ["tok1", "tok1-old"]);
        assert_eq!(config.shared_keys[0].key, "webhooks_sharedkey_1");
    }

    #[test]
    fn the_shipped_example_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/config.example.toml");
        let config = Config::load_from(Some(&path), env(&[])).unwrap();
        assert_eq!(config.accounts()[0].tokens.len(), 2);
        assert!(config.public_url().is_ok());
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let config = Config::load_from(
            None,
            env(&[
                ("TWILIO_ACCOUNT_SID", AC1),
                ("TWILIO_AUTH_TOKEN", "hunter2-token"),
                ("API_TOKENS", "api-secret"),
            ]),
        )
        .unwrap();
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("hunter2-token") && !debug.contains("api-secret"),
            "{debug}"
        );
    }

    #[test]
    fn errors_name_the_variable() {
        let err = Config::load_from(None, env(&[("LISTEN_ADDR", "nowhere")])).unwrap_err();
        assert!(err.to_string().starts_with("LISTEN_ADDR"), "{err}");
        let err = Config::load_from(None, env(&[("TWILIO_ACCOUNT_SID", "AC1")])).unwrap_err();
        assert!(err.to_string().starts_with("TWILIO_ACCOUNT_SID"), "{err}");
        let err = Config::load_from(None, env(&[("TWILIO_ACCOUNT_SID", AC1)])).unwrap_err();
        assert!(err.to_string().starts_with("TWILIO_AUTH_TOKEN"), "{err}");
        let err = Config::load_from(None, env(&[("PUBLIC_URL", "ftp://x")])).unwrap_err();
        assert!(err.to_string().starts_with("PUBLIC_URL"), "{err}");
        let err = Config::load_from(None, env(&[("WORKER_CONCURRENCY", "many")])).unwrap_err();
        assert!(err.to_string().contains("many"), "{err}");
        let ok = Config::load_from(None, env(&[("WORKER_CONCURRENCY", " 9 ")])).unwrap();
        assert_eq!(ok.worker_concurrency, 9);
        let err = Config::load_from(None, env(&[("WEBHOOK_ALLOW_PRIVATE", "maybe")])).unwrap_err();
        assert!(err.to_string().contains("not a boolean"), "{err}");
    }

    #[test]
    fn signed_url_uses_public_url_and_raw_query() {
        let public = PublicUrl::parse("https://Hooks.example.com/th/").unwrap();
        assert_eq!(public.prefix(), "/th");
        assert_eq!(
            public.signed_url("/th/twilio/status-callback", Some("a=%2B1&b")),
            "https://Hooks.example.com/th/twilio/status-callback?a=%2B1&b"
        );
        // A proxy that strips the prefix.
        assert_eq!(
            public.signed_url("/twilio/status-callback", None),
            "https://Hooks.example.com/th/twilio/status-callback"
        );
        // "/thx" is not under the prefix "/th".
        assert_eq!(
            public.signed_url("/thx/cb", Some("")),
            "https://Hooks.example.com/th/thx/cb?"
        );
        let bare = PublicUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(bare.prefix(), "");
        assert_eq!(
            bare.signed_url("/twilio/status-callback", None),
            "http://127.0.0.1:8080/twilio/status-callback"
        );
    }
}
