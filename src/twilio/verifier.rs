//! Which secrets to check a request with, and a record of every attempt so that a failure can
//! be explained (`trusthub-hooks verify`, and the logs).

use super::signature::{self, Algorithm, Payload, PayloadError, SignatureSettings};
use crate::config::{Account, Config, SharedKeyAlgorithm, SharedKeyConfig};
use crate::domain::AccountSid;
use secrecy::{ExposeSecret, SecretString};
use std::borrow::Cow;
use std::fmt;

/// One secret that may have signed a request, described without revealing it.
#[derive(Debug, Clone)]
struct Credential {
    account: Option<AccountSid>,
    label: String,
    secret: SecretString,
    algorithm: Algorithm,
}

/// A webhook SharedKey as configured: pinned to one algorithm and to its accounts.
#[derive(Debug, Clone)]
struct SharedKey {
    name: String,
    secret: SecretString,
    algorithm: Algorithm,
    /// `None`: any account served (only when one is configured, which start-up ensures).
    accounts: Option<Vec<AccountSid>>,
}

impl SharedKey {
    fn from_config(key: &SharedKeyConfig) -> Self {
        let accounts: Vec<AccountSid> = key
            .accounts
            .iter()
            .filter_map(|sid| AccountSid::parse(sid).ok())
            .collect();
        Self {
            name: key.key.clone(),
            secret: key.secret.clone(),
            algorithm: match key.algorithm {
                SharedKeyAlgorithm::HmacSha1 => Algorithm::HmacSha1,
                SharedKeyAlgorithm::HmacSha256 => Algorithm::HmacSha256,
            },
            accounts: (!key.accounts.is_empty()).then_some(accounts),
        }
    }

    fn may_sign_for(&self, account: &str) -> bool {
        self.accounts
            .as_ref()
            .is_none_or(|bound| bound.iter().any(|sid| sid.as_str() == account))
    }
}

/// The secrets this deployment accepts.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    accounts: Vec<Account>,
    /// Every account's tokens, labelled once rather than per request.
    tokens: Vec<Credential>,
    shared_keys: Vec<SharedKey>,
    /// An explicit token (`verify --token`), tried for any account.
    override_token: Option<SecretString>,
}

/// A request as it arrived, reduced to what the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The URL Twilio called (built from `PUBLIC_URL`).
    pub url: &'a str,
    pub signature: Option<&'a str>,
    /// The `X-Twilio-Webhooks-Signature-Settings` header, if present.
    pub settings: Option<&'a str>,
    pub payload: Payload<'a>,
    /// The posted `AccountSid`, if any: it selects the account's tokens.
    pub account: Option<&'a str>,
}

/// One (URL, secret) pair tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub url: String,
    pub credential: String,
    pub algorithm: Algorithm,
    pub matched: bool,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no X-Twilio-Signature header")]
    MissingSignature,
    /// The posted account, unverified: at most 64 characters, shown escaped (`{:?}`) so that
    /// a forged value cannot write control characters into a log.
    #[error("account {0:?} is not served by this deployment")]
    UnknownAccount(String),
    #[error("no auth token is configured")]
    NoCredentials,
    #[error("shared key {0:?} is not configured")]
    UnknownSharedKey(String),
    #[error("X-Twilio-Webhooks-Signature-Settings names no key")]
    SharedKeyUnnamed,
    #[error("unsupported signature algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The header named an algorithm the key is not pinned to (a downgrade, or a mistake).
    #[error("shared key {key:?} signs with {pinned}, not {named:?}")]
    AlgorithmNotPinned {
        key: String,
        named: String,
        pinned: Algorithm,
    },
    /// The posted account (unverified, at most 64 characters, escaped) is not the key's.
    #[error("shared key {key:?} may not sign for account {account:?}")]
    AccountNotBound { key: String, account: String },
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("the signature matches no URL variant with any accepted secret")]
    NoMatch,
}

/// The outcome, with every attempt made.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub result: Result<Verified, Rejection>,
    pub attempts: Vec<Attempt>,
}

/// What a valid signature established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The account the request belongs to: the posted one, or the one whose token matched.
    pub account: Option<AccountSid>,
    /// Which secret matched, e.g. `account AC… token 2 (previous)`.
    pub credential: String,
    pub url: String,
}

impl Verifier {
    pub fn from_config(config: &Config) -> Self {
        let accounts = config.accounts();
        let tokens = accounts
            .iter()
            .flat_map(|account| {
                account.tokens.iter().enumerate().map(|(i, token)| Credential {
                    account: Some(account.sid.clone()),
                    label: format!(
                        "account {} token {} ({})",
                        account.sid,
                        i + 1,
                        if i == 0 { "current" } else { "previous" }
                    ),
                    secret: token.clone(),
                    algorithm: Algorithm::HmacSha1,
                })
            })
            .collect();
        Self {
            accounts,
            tokens,
            shared_keys: config.shared_keys.iter().map(SharedKey::from_config).collect(),
            override_token: None,
        }
    }

    /// Checks with this token instead of the configured ones (shared keys still apply).
    pub fn with_token(mut self, token: SecretString) -> Self {
        self.override_token = Some(token);
        self
    }

    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// Whether this account's callbacks are accepted.
    pub fn serves(&self, account: &str) -> bool {
        self.override_token.is_some() || self.accounts.iter().any(|a| a.sid.as_str() == account)
    }

    pub fn verify(&self, request: &SignedRequest<'_>) -> Verdict {
        let mut attempts = Vec::new();
        let result = self.check(request, &mut attempts);
        Verdict { result, attempts }
    }

    fn check(&self, request: &SignedRequest<'_>, attempts: &mut Vec<Attempt>) -> Result<Verified, Rejection> {
        let signature = request.signature.map(str::trim).filter(|s| !s.is_empty());
        let signature = signature.ok_or(Rejection::MissingSignature)?;
        if let Some(account) = request.account {
            if !self.serves(account) {
                return Err(Rejection::UnknownAccount(account.chars().take(64).collect()));
            }
        }
        let credentials = self.credentials(request)?;
        if credentials.is_empty() {
            return Err(Rejection::NoCredentials);
        }
        Self::try_each(request, signature, &credentials, attempts)
    }

    /// Checks a request naming `account`, a subaccount this deployment learnt through its
    /// parent, with that account's `token` (HMAC-SHA1, as Twilio signs with auth tokens).
    pub fn verify_as(
        &self,
        request: &SignedRequest<'_>,
        account: &AccountSid,
        token: &SecretString,
    ) -> Verdict {
        let mut attempts = Vec::new();
        let credential = Credential {
            account: Some(account.clone()),
            label: format!("subaccount {account} token (discovered)"),
            secret: token.clone(),
            algorithm: Algorithm::HmacSha1,
        };
        let result = match request.signature.map(str::trim).filter(|s| !s.is_empty()) {
            None => Err(Rejection::MissingSignature),
            Some(signature) => Self::try_each(request, signature, &[Cow::Owned(credential)], &mut attempts),
        };
        Verdict { result, attempts }
    }

    fn try_each(
        request: &SignedRequest<'_>,
        signature: &str,
        credentials: &[Cow<'_, Credential>],
        attempts: &mut Vec<Attempt>,
    ) -> Result<Verified, Rejection> {
        for url in signature::url_candidates(request.url) {
            let data = signature::payload_signing_string(&url, request.payload)?;
            for credential in credentials {
                let expected = signature::compute(
                    credential.secret.expose_secret().as_bytes(),
                    credential.algorithm,
                    &data,
                );
                let matched = signature::constant_time_eq(&expected, signature);
                attempts.push(Attempt {
                    url: url.clone(),
                    credential: credential.label.clone(),
                    algorithm: credential.algorithm,
                    matched,
                });
                if matched {
                    let posted = request.account.and_then(|a| AccountSid::parse(a).ok());
                    return Ok(Verified {
                        account: posted.or_else(|| credential.account.clone()),
                        credential: credential.label.clone(),
                        url,
                    });
                }
            }
        }
        Err(Rejection::NoMatch)
    }

    fn credentials(&self, request: &SignedRequest<'_>) -> Result<Vec<Cow<'_, Credential>>, Rejection> {
        if let Some(header) = request.settings.filter(|h| !h.trim().is_empty()) {
            let settings = SignatureSettings::parse(header);
            let algorithm = Algorithm::from_wire(&settings.algorithm)
                .ok_or_else(|| Rejection::UnsupportedAlgorithm(settings.algorithm.clone()))?;
            let name = settings.key.ok_or(Rejection::SharedKeyUnnamed)?;
            let key = self
                .shared_keys
                .iter()
                .find(|key| key.name == name)
                .ok_or_else(|| Rejection::UnknownSharedKey(name.clone()))?;
            if algorithm != key.algorithm {
                return Err(Rejection::AlgorithmNotPinned {
                    key: name,
                    named: settings.algorithm,
                    pinned: key.algorithm,
                });
            }
            if let Some(account) = request.account.filter(|a| !key.may_sign_for(a)) {
                return Err(Rejection::AccountNotBound {
                    key: name,
                    account: account.chars().take(64).collect(),
                });
            }
            return Ok(vec![Cow::Owned(Credential {
                account: None,
                label: format!("shared key {name}"),
                secret: key.secret.clone(),
                algorithm,
            })]);
        }
        if let Some(token) = &self.override_token {
            return Ok(vec![Cow::Owned(Credential {
                account: None,
                label: "the --token given".to_owned(),
                secret: token.clone(),
                algorithm: Algorithm::HmacSha1,
            })]);
        }
        Ok(self
            .tokens
            .iter()
            .filter(|t| {
                let sid = t.account.as_ref().map(AccountSid::as_str);
                request.account.is_none_or(|posted| sid == Some(posted))
            })
            .map(Cow::Borrowed)
            .collect())
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.matched { "match   " } else { "no match" };
        write!(
            f,
            "{mark} {} with {} ({})",
            self.url, self.credential, self.algorithm
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Rejection;

    /// A forged AccountSid reaches the log escaped: no terminal escape or line break of its own.
    #[test]
    fn an_unknown_account_is_logged_escaped() {
        let shown = Rejection::UnknownAccount("AC\u{1b}[2J\nforged line".into()).to_string();
        assert!(!shown.contains('\u{1b}') && !shown.contains('\n'), "{shown}");
        assert!(shown.contains("\\u{1b}[2J\\nforged line"), "{shown}");
        let unbound = Rejection::AccountNotBound {
            key: "k".into(),
            account: "AC\u{1b}x".into(),
        }
        .to_string();
        assert!(!unbound.contains('\u{1b}'), "{unbound}");
    }
}
