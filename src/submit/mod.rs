//! Submitting profiles to Trust Hub and reconciling their status: `set-callback`, `submit`,
//! `create` (the whole secondary-customer-profile flow) and `sync`. Each call about a bundle
//! goes to its kind's API (`crate::twilio::BundleApi`), the kind discovered when unknown.

pub mod create;
pub mod spec;

use crate::domain::{BundleKind, Decision, ProfileSid, ProfileStatus, Source};
use crate::store::{DynStore, EvaluationRecord};
use crate::twilio::models::{CustomerProfile, Evaluation, Failure};
use crate::twilio::{BundleApi, CredentialBook, Credentials, TwilioClient, TwilioError};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("Trust Hub: {0}")]
    Twilio(#[from] TwilioError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Setup(String),
}

/// What `submit` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Submitted {
    /// Sent for review (`forced` when the evaluation was noncompliant).
    Submitted { evaluation: Evaluation, forced: bool },
    /// Not sent: the evaluation is noncompliant.
    Refused {
        evaluation: Evaluation,
        failures: Vec<Failure>,
    },
}

/// One profile's status as `sync` found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Synced {
    pub sid: String,
    pub status: ProfileStatus,
    pub decision: Decision,
}

/// Calls Trust Hub for profiles of the configured accounts and records what it learns.
pub struct Submitter {
    pub store: DynStore,
    pub trusthub: TwilioClient,
    /// Bundles of every kind, each on its own API.
    pub bundles: BundleApi,
    /// The 2010-04-01 API (Addresses).
    pub api: TwilioClient,
    pub credentials: CredentialBook,
    /// `PUBLIC_URL` + the callback path, when `PUBLIC_URL` is set.
    pub callback_url: Option<String>,
    pub primary_account: Option<String>,
    /// `--account`: every call is made as this account (a configured one, or a subaccount of
    /// the main account), whatever is recorded for the bundle.
    pub account: Option<String>,
}

impl Submitter {
    pub fn from_config(config: &crate::config::Config, store: DynStore) -> Result<Self, SubmitError> {
        let timeout = Duration::from_secs(config.twilio_timeout_secs);
        let setup = |e: TwilioError| SubmitError::Setup(e.to_string());
        Ok(Self {
            store,
            trusthub: TwilioClient::new(&config.trusthub_api_url, timeout).map_err(setup)?,
            bundles: BundleApi::from_config(config).map_err(setup)?,
            api: TwilioClient::new(&config.twilio_api_url, timeout).map_err(setup)?,
            credentials: CredentialBook::from_config(config),
            callback_url: config
                .public_url
                .as_ref()
                .and_then(|_| config.public_url().ok())
                .map(|p| p.callback_url()),
            primary_account: config.twilio_account_sid.clone(),
            account: None,
        })
    }

    /// Acts as `account` (`--account`), checked to be an account SID.
    pub fn acting_as(mut self, account: Option<&str>) -> Result<Self, SubmitError> {
        if let Some(account) = account {
            let sid = crate::domain::AccountSid::parse(account)
                .map_err(|e| SubmitError::Setup(format!("--account: {e}")))?;
            self.account = Some(sid.to_string());
        }
        Ok(self)
    }

    /// The credentials of a profile's account (as recorded locally), else the main account's.
    pub async fn credentials_for(&self, sid: &ProfileSid) -> Result<Credentials, SubmitError> {
        if self.account.is_some() {
            return self.credentials_of(self.account.as_deref()).await;
        }
        let known = self
            .store
            .get_profile(sid)
            .await?
            .and_then(|d| d.profile.account_sid);
        let account = known.as_deref().or(self.primary_account.as_deref());
        self.credentials_of(account).await
    }

    /// The credentials of `account` (the main account when `None`): configured, or a
    /// subaccount of the main account learnt from Twilio.
    pub async fn credentials_of(&self, account: Option<&str>) -> Result<Credentials, SubmitError> {
        let found = self.credentials.resolve(account).await.map_err(|e| {
            SubmitError::Setup(format!(
                "asking Twilio for account {}: {e}",
                account.unwrap_or("(main)")
            ))
        })?;
        found.ok_or_else(|| {
            SubmitError::Setup(format!(
                "no credentials for account {}: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or [[accounts]]); a subaccount of TWILIO_ACCOUNT_SID is found by itself unless SUBACCOUNT_DISCOVERY=false",
                account.unwrap_or("(none configured)")
            ))
        })
    }

    fn callback(&self, url: Option<&str>) -> Result<String, SubmitError> {
        url.map(str::to_owned)
            .or_else(|| self.callback_url.clone())
            .ok_or_else(|| SubmitError::Setup("no callback URL: pass --url or set PUBLIC_URL".into()))
    }

    /// Points the profile's `StatusCallback` at this service (or at `url`).
    pub async fn set_callback(
        &self,
        sid: &ProfileSid,
        url: Option<&str>,
    ) -> Result<CustomerProfile, SubmitError> {
        let url = self.callback(url)?;
        let creds = self.credentials_for(sid).await?;
        let form = [("StatusCallback", url.as_str())];
        let (kind, bundle) = match self.stored_kind(sid).await? {
            Some(kind) => (
                kind,
                self.bundles.update(&creds, kind, sid.as_str(), &form).await?,
            ),
            None => self
                .bundles
                .update_any(&creds, sid.as_str(), &form)
                .await?
                .ok_or_else(|| not_found(sid, &creds.username))?,
        };
        self.store
            .remember_bundle(sid, kind, bundle.friendly_name.as_deref(), bundle.valid_until())
            .await?;
        Ok(bundle)
    }

    async fn stored_kind(&self, sid: &ProfileSid) -> Result<Option<BundleKind>, SubmitError> {
        Ok(self.store.get_profile(sid).await?.and_then(|d| d.profile.kind))
    }

    /// A bundle from its kind's API, the kind discovered when not stored.
    async fn fetch_bundle(
        &self,
        creds: &Credentials,
        sid: &ProfileSid,
    ) -> Result<(BundleKind, CustomerProfile), SubmitError> {
        match self.stored_kind(sid).await? {
            Some(kind) => Ok((kind, self.bundles.fetch(creds, kind, sid.as_str()).await?)),
            None => self.discover(creds, sid).await,
        }
    }

    async fn discover(
        &self,
        creds: &Credentials,
        sid: &ProfileSid,
    ) -> Result<(BundleKind, CustomerProfile), SubmitError> {
        let found = self.bundles.discover(creds, sid.as_str()).await?;
        found.ok_or_else(|| not_found(sid, &creds.username))
    }

    /// Evaluates the profile; unless noncompliant (or `force`), sets `StatusCallback`, then
    /// `Status=pending-review`, and records the transition locally (source `submission`).
    pub async fn submit(&self, sid: &ProfileSid, force: bool) -> Result<Submitted, SubmitError> {
        let url = self.callback(None)?;
        let creds = self.credentials_for(sid).await?;
        let (kind, profile) = self.fetch_bundle(&creds, sid).await?;
        if kind != BundleKind::RegulatoryBundle && profile.policy_sid.is_none() {
            return Err(SubmitError::Setup(format!(
                "{kind} {sid} has no policy_sid to evaluate against"
            )));
        }
        let evaluation = self.bundles.evaluate(&creds, kind, &profile).await?;
        self.keep(&profile, &evaluation).await?;
        let failures = evaluation.failures();
        let compliant = evaluation.status == "compliant";
        if !compliant && !force {
            return Ok(Submitted::Refused { evaluation, failures });
        }
        // The callback first, so that Twilio reports the submission itself to us.
        self.bundles
            .update(&creds, kind, sid.as_str(), &[("StatusCallback", &url)])
            .await?;
        let updated = self
            .bundles
            .update(&creds, kind, sid.as_str(), &[("Status", "pending-review")])
            .await?;
        if self.store.get_profile(sid).await?.is_none() {
            self.record(kind, &profile, Source::Sync).await?;
        }
        let submitted = CustomerProfile {
            status: ProfileStatus::PendingReview,
            ..updated
        };
        self.record(kind, &submitted, Source::Submission).await?;
        Ok(Submitted::Submitted {
            evaluation,
            forced: !compliant,
        })
    }

    async fn keep(&self, profile: &CustomerProfile, evaluation: &Evaluation) -> Result<(), SubmitError> {
        self.store
            .save_evaluation(&evaluation_record(profile, evaluation, None))
            .await?;
        Ok(())
    }

    /// Records a bundle's status as Twilio reports it, with its kind and name.
    async fn record(
        &self,
        kind: BundleKind,
        profile: &CustomerProfile,
        source: Source,
    ) -> Result<Decision, SubmitError> {
        let report = profile
            .report()
            .ok_or_else(|| SubmitError::Setup(format!("{:?} is not a customer profile SID", profile.sid)))?;
        let decision = self
            .store
            .record_report(&report, source, crate::store::now())
            .await?;
        crate::metrics::transition(&report.status, source, decision);
        self.store
            .remember_bundle(
                &report.profile_sid,
                kind,
                profile.friendly_name.as_deref(),
                profile.valid_until(),
            )
            .await?;
        Ok(decision)
    }

    /// A bundle fetched as its account: the one recorded here, else each configured account
    /// in turn, since Twilio answers 404 to any other account's credentials. On its kind's
    /// API when known, else found by asking as each kind.
    async fn fetch_in_its_account(
        &self,
        sid: &ProfileSid,
    ) -> Result<(BundleKind, CustomerProfile), SubmitError> {
        let known = self
            .store
            .get_profile(sid)
            .await?
            .and_then(|d| d.profile.account_sid);
        let accounts: Vec<String> = self.credentials.accounts().map(str::to_owned).collect();
        if known.is_some() || accounts.is_empty() || self.account.is_some() {
            let creds = self.credentials_for(sid).await?;
            return self.fetch_bundle(&creds, sid).await;
        }
        for account in &accounts {
            let creds = self
                .credentials
                .for_account(Some(account))
                .expect("listed accounts have credentials");
            if let Some(found) = self.bundles.discover(&creds, sid.as_str()).await? {
                return Ok(found);
            }
        }
        Err(SubmitError::Setup(format!(
            "Twilio answered 404 for {sid} as a customer profile, trust product and regulatory bundle in every configured account ({})",
            accounts.join(", ")
        )))
    }

    /// Asks Twilio for the named bundles (or every bundle of every kind in every configured
    /// account) and records each status no callback reported.
    pub async fn sync(&self, sids: &[ProfileSid]) -> Result<Vec<Synced>, SubmitError> {
        let mut profiles = Vec::new();
        if sids.is_empty() {
            let every = match &self.account {
                Some(account) => vec![self.credentials_of(Some(account)).await?],
                None => self.credentials.every_account().await.map_err(|e| {
                    SubmitError::Setup(format!("listing the main account's subaccounts: {e}"))
                })?,
            };
            for creds in every {
                for kind in BundleKind::ALL {
                    let listed = self.bundles.list(&creds, kind).await?;
                    profiles.extend(listed.into_iter().map(|bundle| (kind, bundle)));
                }
            }
        } else {
            for sid in sids {
                profiles.push(self.fetch_in_its_account(sid).await?);
            }
        }
        let mut synced = Vec::new();
        for (kind, profile) in profiles {
            let decision = self.record(kind, &profile, Source::Sync).await?;
            synced.push(Synced {
                sid: profile.sid,
                status: profile.status,
                decision,
            });
        }
        Ok(synced)
    }
}

fn not_found(sid: &ProfileSid, account: &str) -> SubmitError {
    SubmitError::Setup(format!(
        "Twilio answered 404 for {sid} as a customer profile, trust product and regulatory bundle of account {account}"
    ))
}

/// What is kept of an evaluation fetched with its profile, now.
pub fn evaluation_record(
    profile: &CustomerProfile,
    evaluation: &Evaluation,
    transition_id: Option<i64>,
) -> EvaluationRecord {
    EvaluationRecord {
        sid: evaluation.sid.clone(),
        profile_sid: profile.sid.clone(),
        account_sid: evaluation
            .account_sid
            .clone()
            .or_else(|| profile.account_sid.clone()),
        policy_sid: evaluation.policy_sid.clone(),
        status: evaluation.status.clone(),
        results: evaluation.results.clone(),
        profile_errors: profile.errors.clone().unwrap_or(serde_json::Value::Null),
        date_created: evaluation.date_created.clone(),
        fetched_at: crate::store::now(),
        transition_id,
    }
}
