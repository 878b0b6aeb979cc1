//! Twilio's REST APIs (Trust Hub, and the 2010-04-01 API): basic auth, form-encoded requests,
//! JSON answers, Twilio's error bodies as typed errors, retries, paging.

use super::models::{ErrorBody, PageMeta};
use crate::config::Config;
use reqwest::header::RETRY_AFTER;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// The username and password of one REST call.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: SecretString,
}

/// Which credentials call Twilio for which account: the configured accounts, and the main
/// account's subaccounts when discovery is on (`SUBACCOUNT_DISCOVERY`).
#[derive(Debug, Clone, Default)]
pub struct CredentialBook {
    tokens: Vec<(String, SecretString)>,
    primary: Option<String>,
    api_key: Option<Credentials>,
    subaccounts: Option<std::sync::Arc<super::subaccounts::Subaccounts>>,
}

impl CredentialBook {
    pub fn from_config(config: &Config) -> Self {
        let api_key = config
            .twilio_api_key
            .iter()
            .zip(&config.twilio_api_secret)
            .map(|(key, secret)| Credentials {
                username: key.clone(),
                password: secret.clone(),
            });
        let mut book = Self {
            tokens: config
                .accounts()
                .into_iter()
                .map(|a| (a.sid.to_string(), a.tokens[0].clone()))
                .collect(),
            primary: config.twilio_account_sid.clone(),
            api_key: api_key.into_iter().next(),
            subaccounts: None,
        };
        if config.subaccount_discovery {
            let parent = book
                .primary
                .clone()
                .and_then(|sid| Some((book.for_account(Some(&sid))?, sid)));
            let api = TwilioClient::new(
                &config.twilio_api_url,
                Duration::from_secs(config.twilio_timeout_secs),
            );
            if let (Some((creds, sid)), Ok(api)) = (parent, api) {
                book.subaccounts = Some(std::sync::Arc::new(super::subaccounts::Subaccounts::new(
                    &sid, creds, api,
                )));
            }
        }
        book
    }

    /// The subaccounts learnt through the main account, when discovery is on.
    pub fn subaccounts(&self) -> Option<&super::subaccounts::Subaccounts> {
        self.subaccounts.as_deref()
    }

    /// The credentials of `account` (the main account when `None`): a configured account's,
    /// else, with discovery on, a subaccount's learnt from its parent. `Ok(None)` for an
    /// account we hold nothing for and that is not the parent's.
    pub async fn resolve(&self, account: Option<&str>) -> Result<Option<Credentials>, TwilioError> {
        if let Some(found) = self.for_account(account) {
            return Ok(Some(found));
        }
        let (Some(subaccounts), Some(sid)) = (&self.subaccounts, account) else {
            return Ok(None);
        };
        Ok(subaccounts.token(sid).await?.map(|token| Credentials {
            username: sid.to_owned(),
            password: token,
        }))
    }

    /// Every account to act for: the configured ones, then (with discovery) every open
    /// subaccount of the main account, each with its credentials. When the subaccounts cannot
    /// be listed, the configured accounts are still given, and the reason logged.
    pub async fn every_account(&self) -> Result<Vec<Credentials>, TwilioError> {
        let mut all: Vec<Credentials> = self
            .accounts()
            .filter_map(|sid| self.for_account(Some(sid)))
            .collect();
        if let Some(subaccounts) = &self.subaccounts {
            let listed = match subaccounts.list().await {
                Ok(listed) => listed,
                Err(error) => {
                    tracing::warn!(%error, "could not list the main account's subaccounts: only the configured accounts are covered");
                    Vec::new()
                }
            };
            for (sid, token) in listed {
                if !self.tokens.iter().any(|(known, _)| *known == sid) {
                    all.push(Credentials {
                        username: sid,
                        password: token,
                    });
                }
            }
        }
        Ok(all)
    }

    /// The API key for the main account (`TWILIO_ACCOUNT_SID`) when one is set, else the
    /// account's current auth token. `None` for an account we hold nothing for.
    pub fn for_account(&self, account: Option<&str>) -> Option<Credentials> {
        let account = account.or(self.primary.as_deref())?;
        if self.primary.as_deref() == Some(account) {
            if let Some(key) = &self.api_key {
                return Some(key.clone());
            }
        }
        self.tokens
            .iter()
            .find(|(sid, _)| sid == account)
            .map(|(sid, token)| Credentials {
                username: sid.clone(),
                password: token.clone(),
            })
    }

    /// Every account we can call for.
    pub fn accounts(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().map(|(sid, _)| sid.as_str())
    }
}

/// How hard one call tries before giving up to the caller (the job queue retries later).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    /// The longest `Retry-After` waited for in-line; longer ones are left to the caller.
    pub max_inline_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base_delay: Duration::from_millis(250),
            max_inline_wait: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TwilioError {
    #[error("Twilio answered {status} (code {code:?}): {message}")]
    Api {
        status: u16,
        code: Option<i64>,
        message: String,
        more_info: Option<String>,
        retry_after: Option<Duration>,
    },
    #[error("Twilio did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach Twilio: {0}")]
    Transport(String),
    #[error("unexpected answer from Twilio: {0}")]
    Decode(String),
    #[error("no credentials configured for account {0}")]
    NoCredentials(String),
}

impl TwilioError {
    /// Retrying cannot help: bad credentials, no such resource, a refused request.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Api { status, .. } => (400..500).contains(status) && *status != 408 && *status != 429,
            Self::NoCredentials(_) | Self::Decode(_) => true,
            Self::Timeout(_) | Self::Transport(_) => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client for one Twilio REST base URL.
#[derive(Debug, Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
    policy: RetryPolicy,
}

impl TwilioClient {
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, TwilioError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("trusthub-hooks/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TwilioError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            timeout,
            policy: RetryPolicy::default(),
        })
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub async fn get<T: DeserializeOwned>(&self, creds: &Credentials, path: &str) -> Result<T, TwilioError> {
        let value = self
            .send(creds, Method::GET, &format!("{}{path}", self.base), None)
            .await?;
        decode(value)
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        creds: &Credentials,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<T, TwilioError> {
        let value = self
            .send(creds, Method::POST, &format!("{}{path}", self.base), Some(form))
            .await?;
        decode(value)
    }

    pub async fn delete(&self, creds: &Credentials, path: &str) -> Result<(), TwilioError> {
        self.send(creds, Method::DELETE, &format!("{}{path}", self.base), None)
            .await
            .map(drop)
    }

    /// Every item of a paged list, following `meta.next_page_url` on this base URL only.
    pub async fn list<T: DeserializeOwned>(
        &self,
        creds: &Credentials,
        path: &str,
    ) -> Result<Vec<T>, TwilioError> {
        let mut items = Vec::new();
        let mut url = format!("{}{path}", self.base);
        loop {
            let mut page = self.send(creds, Method::GET, &url, None).await?;
            let meta: PageMeta = serde_json::from_value(page["meta"].take())
                .map_err(|e| TwilioError::Decode(e.to_string()))?;
            let batch: Vec<T> = decode(page[meta.key.as_str()].take())?;
            items.extend(batch);
            match meta.next_page_url {
                // Credentials go only where they came from.
                Some(next) if super::origin::same_origin(&self.base, &next) => url = next,
                Some(next) => {
                    return Err(TwilioError::Decode(format!(
                        "next_page_url {next:?} leaves {}",
                        self.base
                    )))
                }
                None => return Ok(items),
            }
        }
    }

    /// Every item of a 2010-04-01 API list: the items sit under `key`, and the next page is
    /// the top-level `next_page_uri`, a path on this base URL (not `meta.next_page_url`).
    pub async fn list_2010<T: DeserializeOwned>(
        &self,
        creds: &Credentials,
        path: &str,
        key: &str,
    ) -> Result<Vec<T>, TwilioError> {
        let mut items = Vec::new();
        let mut url = format!("{}{path}", self.base);
        loop {
            let mut page = self.send(creds, Method::GET, &url, None).await?;
            let batch: Vec<T> = decode(page[key].take())?;
            items.extend(batch);
            match page["next_page_uri"].as_str().filter(|n| !n.is_empty()) {
                // A path, joined to this base: credentials go nowhere else.
                Some(next) if next.starts_with('/') && !next.starts_with("//") => {
                    url = format!("{}{next}", self.base);
                }
                Some(next) => {
                    return Err(TwilioError::Decode(format!(
                        "next_page_uri {next:?} is not a path on {}",
                        self.base
                    )))
                }
                None => return Ok(items),
            }
        }
    }

    /// One call, retried on connection errors, 5xx and 429 (POST only where the request was
    /// certainly not processed: connection refused, 429, 503).
    async fn send(
        &self,
        creds: &Credentials,
        method: Method,
        url: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Result<serde_json::Value, TwilioError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.send_once(creds, method.clone(), url, form).await;
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let safe_to_repeat = method == Method::GET
                || matches!(error.status(), Some(429 | 503))
                || matches!(&error, TwilioError::Transport(m) if m.starts_with("connect"));
            if error.is_permanent() || !safe_to_repeat || attempt >= self.policy.attempts {
                return Err(error);
            }
            let backoff = self.policy.base_delay * 2u32.pow(attempt - 1);
            let wait = match error.retry_after() {
                Some(after) if after > self.policy.max_inline_wait => return Err(error),
                Some(after) => after.max(backoff),
                None => backoff,
            };
            tracing::debug!(%error, attempt, ?wait, url, "retrying a Twilio call");
            tokio::time::sleep(wait).await;
        }
    }

    #[tracing::instrument(name = "twilio", skip_all, fields(%method, url))]
    async fn send_once(
        &self,
        creds: &Credentials,
        method: Method,
        url: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Result<serde_json::Value, TwilioError> {
        let started = std::time::Instant::now();
        let mut request = self
            .http
            .request(method.clone(), url)
            .basic_auth(&creds.username, Some(creds.password.expose_secret()));
        if let Some(form) = form {
            request = request.form(form);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                crate::metrics::twilio_call(method.as_str(), None, started.elapsed().as_secs_f64());
                return Err(self.transport(error));
            }
        };
        let status = response.status();
        crate::metrics::twilio_call(
            method.as_str(),
            Some(status.as_u16()),
            started.elapsed().as_secs_f64(),
        );
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response.bytes().await.map_err(|e| self.transport(e))?;
        tracing::debug!(%method, url, status = status.as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "twilio call");
        if status == StatusCode::NO_CONTENT || (status.is_success() && body.is_empty()) {
            return Ok(serde_json::Value::Null);
        }
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| TwilioError::Decode(e.to_string()));
        }
        let parsed: Option<ErrorBody> = serde_json::from_slice(&body).ok();
        Err(TwilioError::Api {
            status: status.as_u16(),
            code: parsed.as_ref().and_then(|b| b.code),
            message: parsed
                .as_ref()
                .and_then(|b| b.message.clone())
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned()),
            more_info: parsed.and_then(|b| b.more_info),
            retry_after,
        })
    }

    fn transport(&self, error: reqwest::Error) -> TwilioError {
        if error.is_timeout() {
            TwilioError::Timeout(self.timeout)
        } else if error.is_connect() {
            TwilioError::Transport(format!("connect: {error}"))
        } else {
            TwilioError::Transport(error.to_string())
        }
    }
}

fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, TwilioError> {
    serde_json::from_value(value).map_err(|e| TwilioError::Decode(e.to_string()))
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    if let Ok(seconds) = raw.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn permanence() {
        let api = |status| TwilioError::Api {
            status,
            code: None,
            message: String::new(),
            more_info: None,
            retry_after: None,
        };
        assert!(api(401).is_permanent());
        assert!(api(404).is_permanent());
        assert!(!api(429).is_permanent());
        assert!(!api(503).is_permanent());
        assert!(!TwilioError::Timeout(Duration::from_secs(1)).is_permanent());
    }
}
