//! Subaccounts found through their parent (`SUBACCOUNT_DISCOVERY`): an ISV configures only its
//! own (parent) account, and each customer's subaccount is learnt when it first matters. The
//! parent asks `GET /2010-04-01/Accounts/{sid}.json` (`../shared/twilio/api_v2010_accounts.json`):
//! a subaccount's record carries its `auth_token` when its parent asks, and names its parent in
//! `owner_account_sid`; any other account is a 404 to the parent.
//!
//! Tokens stay in memory only (`SecretString`: never logged, never stored). A signature that
//! fails with a cached token refreshes it (rotation): the first time at once, then at most once
//! per [`REFRESH_EVERY`] per account, so forged signatures cannot make it ask Twilio more. An account that is not ours is remembered as such for [`STRANGER_FOR`], so forged
//! `AccountSid`s make at most one lookup per SID per window; lookups are made one at a time, so
//! a burst naming the same SID makes one. The cache holds at most [`MAX_ENTRIES`] accounts.

use super::client::{Credentials, TwilioClient, TwilioError};
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an account that is not the parent's is remembered as such.
pub const STRANGER_FOR: Duration = Duration::from_secs(600);
/// The least time between two refreshes of one subaccount's token.
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);
/// Accounts remembered at most (strangers are forgotten first).
pub const MAX_ENTRIES: usize = 10_000;

/// `api.v2010.account`, what discovery reads of it.
#[derive(Debug, Clone, Deserialize)]
struct AccountRecord {
    sid: String,
    owner_account_sid: Option<String>,
    auth_token: Option<String>,
    status: Option<String>,
}

#[derive(Debug)]
enum Entry {
    /// `refreshed`: when its token was last asked for again after a failed signature.
    Ours {
        token: SecretString,
        refreshed: Option<Instant>,
    },
    Stranger {
        since: Instant,
    },
}

/// The parent's subaccounts, as far as learnt.
#[derive(Debug)]
pub struct Subaccounts {
    parent: Credentials,
    parent_sid: String,
    api: TwilioClient,
    cache: Mutex<HashMap<String, Entry>>,
    /// One lookup at a time: a burst naming one SID makes one call.
    lookups: tokio::sync::Mutex<()>,
}

impl Subaccounts {
    /// `parent` calls as the account `parent_sid` (its auth token, or an API key of it).
    pub fn new(parent_sid: &str, parent: Credentials, api: TwilioClient) -> Self {
        Self {
            parent,
            parent_sid: parent_sid.to_owned(),
            api,
            cache: Mutex::new(HashMap::new()),
            lookups: tokio::sync::Mutex::new(()),
        }
    }

    pub fn parent_sid(&self) -> &str {
        &self.parent_sid
    }

    /// What is cached for `sid`: `Some(Some(token))` ours, `Some(None)` a stranger still
    /// remembered, `None` unknown (or a stranger forgotten).
    fn cached(&self, sid: &str) -> Option<Option<SecretString>> {
        let cache = self.cache.lock().expect("the cache lock is never poisoned");
        match cache.get(sid)? {
            Entry::Ours { token, .. } => Some(Some(token.clone())),
            Entry::Stranger { since } if since.elapsed() < STRANGER_FOR => Some(None),
            Entry::Stranger { .. } => None,
        }
    }

    fn remember(&self, sid: &str, entry: Entry) {
        let mut cache = self.cache.lock().expect("the cache lock is never poisoned");
        if cache.len() >= MAX_ENTRIES && !cache.contains_key(sid) {
            cache.retain(|_, e| !matches!(e, Entry::Stranger { since } if since.elapsed() >= STRANGER_FOR));
            if cache.len() >= MAX_ENTRIES {
                let oldest = cache
                    .iter()
                    .filter_map(|(k, e)| match e {
                        Entry::Stranger { since } => Some((k.clone(), *since)),
                        Entry::Ours { .. } => None,
                    })
                    .min_by_key(|(_, since)| *since)
                    .map(|(k, _)| k);
                match oldest {
                    Some(key) => {
                        cache.remove(&key);
                    }
                    // Full of our own subaccounts: this one is looked up again next time.
                    None => return,
                }
            }
        }
        cache.insert(sid.to_owned(), entry);
    }

    /// The auth token of the parent's subaccount `sid`; `None` when `sid` is not one (the
    /// parent itself included: it is configured, not discovered).
    pub async fn token(&self, sid: &str) -> Result<Option<SecretString>, TwilioError> {
        if let Some(known) = self.cached(sid) {
            return Ok(known);
        }
        let _one = self.lookups.lock().await;
        if let Some(known) = self.cached(sid) {
            return Ok(known);
        }
        self.look_up(sid).await
    }

    /// After a signature failed with the cached token: the token asked for again, unless it
    /// was already refreshed within [`REFRESH_EVERY`] (then `None`: nothing new to try).
    pub async fn refresh(&self, sid: &str) -> Result<Option<SecretString>, TwilioError> {
        let _one = self.lookups.lock().await;
        {
            let mut cache = self.cache.lock().expect("the cache lock is never poisoned");
            match cache.get_mut(sid) {
                Some(Entry::Ours { refreshed, .. })
                    if refreshed.is_none_or(|at| at.elapsed() >= REFRESH_EVERY) =>
                {
                    *refreshed = Some(Instant::now());
                }
                _ => return Ok(None),
            }
        }
        let refreshed = Some(Instant::now());
        let token = self.look_up(sid).await?;
        if let Some(Entry::Ours { refreshed: at, .. }) = self
            .cache
            .lock()
            .expect("the cache lock is never poisoned")
            .get_mut(sid)
        {
            *at = refreshed;
        }
        Ok(token)
    }

    async fn look_up(&self, sid: &str) -> Result<Option<SecretString>, TwilioError> {
        if sid == self.parent_sid || !crate::domain::AccountSid::parse(sid).is_ok_and(|s| s.as_str() == sid) {
            return Ok(None);
        }
        let path = format!("/2010-04-01/Accounts/{sid}.json");
        let record: AccountRecord = match self.api.get(&self.parent, &path).await {
            Ok(record) => record,
            Err(error) if matches!(error.status(), Some(401 | 403 | 404)) => {
                tracing::info!(account = %sid, status = ?error.status(), "not a subaccount of the configured parent: remembered for 10 minutes");
                self.remember(
                    sid,
                    Entry::Stranger {
                        since: Instant::now(),
                    },
                );
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        let ours = record.sid == sid
            && record.owner_account_sid.as_deref() == Some(self.parent_sid.as_str())
            && record.status.as_deref() != Some("closed");
        match (ours, record.auth_token) {
            (true, Some(token)) if !token.trim().is_empty() => {
                let token = SecretString::from(token);
                tracing::info!(account = %sid, "subaccount discovered through its parent");
                self.remember(
                    sid,
                    Entry::Ours {
                        token: token.clone(),
                        refreshed: None,
                    },
                );
                Ok(Some(token))
            }
            _ => {
                tracing::info!(account = %sid, "not an open subaccount of the configured parent: remembered for 10 minutes");
                self.remember(
                    sid,
                    Entry::Stranger {
                        since: Instant::now(),
                    },
                );
                Ok(None)
            }
        }
    }

    /// Every open subaccount of the parent with its token (paged as the 2010 API pages), each
    /// remembered.
    pub async fn list(&self) -> Result<Vec<(String, SecretString)>, TwilioError> {
        let records: Vec<AccountRecord> = self
            .api
            .list_2010(&self.parent, "/2010-04-01/Accounts.json?PageSize=100", "accounts")
            .await?;
        let mut found = Vec::new();
        for record in records {
            let ours = record.sid != self.parent_sid
                && record.owner_account_sid.as_deref() == Some(self.parent_sid.as_str())
                && record.status.as_deref() != Some("closed");
            if let (true, Some(token)) = (ours, record.auth_token) {
                let token = SecretString::from(token);
                self.remember(
                    &record.sid,
                    Entry::Ours {
                        token: token.clone(),
                        refreshed: None,
                    },
                );
                found.push((record.sid, token));
            }
        }
        Ok(found)
    }
}
