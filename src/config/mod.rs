//! Configuration: defaults < TOML file < environment, one typed struct, checked at start-up
//! with messages that name the variable.

use crate::domain::AccountSid;
mod public_url;
mod records;
mod secrets;
mod values;

pub use public_url::{PublicUrl, CALLBACK_PATH};
pub use records::{
    redact_password, Account, AccountConfig, AlertRecipient, DatabaseUrl, LogFormat, SharedKeyAlgorithm,
    SharedKeyConfig, SqliteSynchronous, DEFAULT_SUBJECT,
};
use values::{flag, number, secret_list, string_list};

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
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
    "TWILIO_NUMBERS_API_URL",
    "TWILIO_MESSAGING_API_URL",
    "TWILIO_EVENTS_API_URL",
    "API_TOKENS",
    "SMTP_URL",
    "SMTP_CA_FILE",
    "ALERT_EMAIL_FROM",
    "ALERT_EMAIL_TO",
    "WEBHOOK_ALLOW_PRIVATE",
    "ALLOW_INSECURE_PUBLIC_URL",
    "SUBACCOUNT_DISCOVERY",
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
    "RETENTION_DAYS",
    "EXPIRY_ALERT_DAYS",
    "HEADER_READ_TIMEOUT_SECS",
    "BODY_READ_TIMEOUT_SECS",
    "MAX_CONNECTIONS",
    "MAX_CONNECTIONS_PER_ADDRESS",
    "WRITE_TIMEOUT_SECS",
    "CONNECTION_MAX_SECS",
    "SIGNATURE_FAILURES_PER_MINUTE",
    "AUTH_FAILURES_PER_MINUTE",
    "CLIENT_IP_HEADER",
];

/// The whole configuration. Secrets are `SecretString`: never in logs or `Debug` output.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub listen_addr: String,
    pub public_url: Option<String>,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<SecretString>,
    pub twilio_api_key: Option<String>,
    pub twilio_api_secret: Option<SecretString>,
    pub trusthub_api_url: String,
    pub twilio_api_url: String,
    /// The numbers v2 API, where regulatory bundles live.
    pub twilio_numbers_api_url: String,
    /// The Messaging API (A2P brands and campaigns, toll-free verifications).
    pub twilio_messaging_api_url: String,
    /// The Events API (Event Streams sinks and subscriptions).
    pub twilio_events_api_url: String,
    #[serde(deserialize_with = "secret_list")]
    pub api_tokens: Vec<SecretString>,
    pub smtp_url: Option<SecretString>,
    /// Root certificates (PEM) trusted besides the web PKI's, for a relay with a private CA.
    pub smtp_ca_file: Option<std::path::PathBuf>,
    pub alert_email_from: Option<String>,
    #[serde(deserialize_with = "string_list")]
    pub alert_email_to: Vec<String>,
    #[serde(deserialize_with = "flag")]
    pub webhook_allow_private: bool,
    /// A plain-http `PUBLIC_URL` beyond loopback is accepted (behind a network you trust).
    #[serde(deserialize_with = "flag")]
    pub allow_insecure_public_url: bool,
    /// An `AccountSid` not configured is asked for as the main account's subaccount (its
    /// token learnt from Twilio). Takes effect when the main account's credentials are set.
    #[serde(deserialize_with = "flag")]
    pub subaccount_discovery: bool,
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
    /// Done jobs, finished deliveries and callbacks that made no transition are deleted
    /// after this many days; 0 keeps everything.
    #[serde(deserialize_with = "number")]
    pub retention_days: u32,
    /// An approval's end (Trust Hub's `valid_until`) is alerted this many days before; 0 turns
    /// the alerts off.
    #[serde(deserialize_with = "number")]
    pub expiry_alert_days: u32,
    /// A request's headers must arrive within this (slow-loris clients are cut off).
    #[serde(deserialize_with = "number")]
    pub header_read_timeout_secs: u64,
    /// A request's body must arrive within this.
    #[serde(deserialize_with = "number")]
    pub body_read_timeout_secs: u64,
    /// Connections served at once; more wait in the listen backlog.
    #[serde(deserialize_with = "number")]
    pub max_connections: u32,
    /// Connections one client address may hold at once; more are closed at once. 0: no cap.
    #[serde(deserialize_with = "number")]
    pub max_connections_per_address: u32,
    /// A response write that makes no progress for this long closes its connection (a
    /// client that never reads cannot hold it).
    #[serde(deserialize_with = "number")]
    pub write_timeout_secs: u64,
    /// The longest a connection is served, however busy; then it is closed.
    #[serde(deserialize_with = "number")]
    pub connection_max_secs: u64,
    /// Failed signature checks allowed per client address and minute before its callbacks
    /// are answered 429 for the rest of the minute; 0 turns the limit off.
    #[serde(deserialize_with = "number")]
    pub signature_failures_per_minute: u32,
    /// Wrong API tokens (`/v1`, `/ui/login`) allowed per client address and minute before
    /// it is answered 429 for the rest of the minute; 0 turns the limit off.
    #[serde(deserialize_with = "number")]
    pub auth_failures_per_minute: u32,
    /// Behind a proxy: the header whose right-most address is the client's (e.g.
    /// `X-Forwarded-For`). Unset: the TCP peer's address.
    pub client_ip_header: Option<String>,
    /// More alert recipients, each with the statuses it wants (TOML file only).
    pub alert_recipients: Vec<AlertRecipient>,
    /// The alert subject: `{name}`, `{sid}`, `{status}` and `{from}` are replaced (TOML file only).
    pub email_subject_template: String,
    /// More accounts (ISV subaccounts) and previous tokens, from the TOML file.
    pub accounts: Vec<AccountConfig>,
    /// Shared signing keys named by `X-Twilio-Webhooks-Signature-Settings`.
    pub shared_keys: Vec<SharedKeyConfig>,
}

#[derive(Serialize)]
struct Defaults {
    database_url: &'static str,
    listen_addr: &'static str,
    trusthub_api_url: &'static str,
    twilio_api_url: &'static str,
    twilio_numbers_api_url: &'static str,
    twilio_messaging_api_url: &'static str,
    twilio_events_api_url: &'static str,
    api_tokens: Vec<String>,
    alert_email_to: Vec<String>,
    webhook_allow_private: bool,
    allow_insecure_public_url: bool,
    subaccount_discovery: bool,
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
    retention_days: u32,
    expiry_alert_days: u32,
    header_read_timeout_secs: u64,
    body_read_timeout_secs: u64,
    max_connections: u32,
    max_connections_per_address: u32,
    write_timeout_secs: u64,
    connection_max_secs: u64,
    signature_failures_per_minute: u32,
    auth_failures_per_minute: u32,
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
    twilio_numbers_api_url: "https://numbers.twilio.com",
    twilio_messaging_api_url: "https://messaging.twilio.com",
    twilio_events_api_url: "https://events.twilio.com",
    api_tokens: Vec::new(),
    alert_email_to: Vec::new(),
    webhook_allow_private: false,
    allow_insecure_public_url: false,
    subaccount_discovery: true,
    log_format: LogFormat::Text,
    sqlite_synchronous: SqliteSynchronous::Normal,
    twilio_timeout_secs: 30,
    worker_concurrency: 32,
    worker_poll_ms: 1000,
    job_lease_secs: 30,
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
    retention_days: 90,
    expiry_alert_days: 30,
    header_read_timeout_secs: 10,
    body_read_timeout_secs: 10,
    max_connections: 4096,
    max_connections_per_address: 1024,
    write_timeout_secs: 10,
    connection_max_secs: 300,
    signature_failures_per_minute: 60,
    auth_failures_per_minute: 20,
    alert_recipients: Vec::new(),
    email_subject_template: DEFAULT_SUBJECT,
    accounts: Vec::new(),
    shared_keys: Vec::new(),
};

/// More than a century is a unit mistaken (hours, seconds?): 0 is how to keep everything.
const MAX_RETENTION_DAYS: u32 = 36_500;
const MAX_EXPIRY_ALERT_DAYS: u32 = 366;

/// A configuration that cannot be used, naming what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("{variable}: {message}")]
    Invalid { variable: &'static str, message: String },
}

/// A configuration error naming `variable`.
pub fn invalid(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        variable,
        message: message.into(),
    }
}

/// A signing secret that is empty (or only spaces) would verify anything signed with an empty
/// key: one blank line in an env file away. Refused, naming where it came from.
fn not_blank(variable: &'static str, secret: &SecretString) -> Result<(), ConfigError> {
    if secret.expose_secret().trim().is_empty() {
        return Err(invalid(
            variable,
            "is empty: a blank secret would accept callbacks signed with an empty key; set the real value",
        ));
    }
    Ok(())
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
            secrets::refuse_exposed_secrets(file)?;
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
            not_blank("accounts.auth_token", &account.auth_token)?;
            for token in &account.previous_auth_tokens {
                not_blank("accounts.previous_auth_tokens", token)?;
            }
        }
        if let Some(token) = &self.twilio_auth_token {
            not_blank("TWILIO_AUTH_TOKEN", token)?;
        }
        records::check_shared_keys(&self.shared_keys, &self.accounts())?;
        if let Some(url) = &self.public_url {
            PublicUrl::parse(url)?;
        }
        if self.retention_days > MAX_RETENTION_DAYS {
            return Err(invalid(
                "RETENTION_DAYS",
                format!(
                    "{} is over {MAX_RETENTION_DAYS} days: to keep everything, set 0",
                    self.retention_days
                ),
            ));
        }
        if self.expiry_alert_days > MAX_EXPIRY_ALERT_DAYS {
            return Err(invalid(
                "EXPIRY_ALERT_DAYS",
                format!(
                    "{} is over {MAX_EXPIRY_ALERT_DAYS} days (Trust Hub approvals last about a year); 0 turns the alerts off",
                    self.expiry_alert_days
                ),
            ));
        }
        Ok(())
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
        PublicUrl::parse(url)?.require_tls(self.allow_insecure_public_url)
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

#[cfg(test)]
mod tests;
