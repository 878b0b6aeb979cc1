//! The `confirm_decision` job: before a reported decision is announced, ask Trust Hub for the
//! bundle. When Trust Hub agrees, a rejection gets a fresh evaluation (the reasons as of this
//! rejection, never an older compliant one) and the decision is announced as confirmed. When
//! Trust Hub contradicts it (a replayed or forged callback), the transition is overruled and
//! Trust Hub's own status recorded instead; nothing is announced for it. When Trust Hub cannot
//! be reached within the retry window, the announcement goes out marked unconfirmed.
//!
//! Every call goes to the bundle's kind's API. A bundle of unknown kind is discovered here,
//! on first contact, and its kind stored (with its friendly name) so it is never probed again.

use crate::domain::{BundleKind, ProfileSid, ProfileStatus};
use crate::queue::{retry_store, Job, JobError};
use crate::store::outbox::{confirm_job, notify_job, TransitionJob, CONFIRM_DECISION};
use crate::store::{DynStore, NewJob};
use crate::submit::evaluation_record;
use crate::twilio::models::CustomerProfile;
use crate::twilio::{BundleApi, CredentialBook, Credentials, TwilioError};
use async_trait::async_trait;
use chrono::Utc;

/// The `confirm_decision` job.
pub struct Confirmer {
    pub store: DynStore,
    pub bundles: BundleApi,
    pub credentials: CredentialBook,
    pub max_attempts: u32,
    /// `EXPIRY_ALERT_DAYS` (0: no alerts).
    pub expiry_alert_days: u32,
}

fn job_error(error: TwilioError) -> JobError {
    if error.is_permanent() {
        JobError::Permanent(format!("Trust Hub: {error}"))
    } else {
        JobError::Retry {
            reason: format!("Trust Hub: {error}"),
            after: error.retry_after(),
        }
    }
}

/// A confirmation of `target` with a fresh evaluation, asked for from the dashboard: a fresh
/// key, as the decision's own job has run (and its notify is deduplicated).
pub fn again(target: &TransitionJob, now: chrono::DateTime<Utc>) -> NewJob {
    let target = TransitionJob {
        evaluate: true,
        ..target.clone()
    };
    let key = format!(
        "{CONFIRM_DECISION}:{}:ui:{}",
        target.transition_id,
        now.timestamp_micros()
    );
    confirm_job(&target, now, key)
}

impl Confirmer {
    /// The account and kind stored for a bundle, as far as known.
    async fn stored(&self, sid: &ProfileSid) -> Result<(Option<String>, Option<BundleKind>), JobError> {
        let detail = self.store.get_profile(sid).await.map_err(retry_store)?;
        Ok(detail.map_or((None, None), |d| (d.profile.account_sid, d.profile.kind)))
    }

    /// The bundle from its kind's API (discovering the kind when unknown), its kind and
    /// name then stored.
    async fn fetch(
        &self,
        creds: &Credentials,
        sid: &ProfileSid,
        kind: Option<BundleKind>,
    ) -> Result<(BundleKind, CustomerProfile), JobError> {
        let found = match kind {
            Some(kind) => (kind, self.bundles.fetch(creds, kind, sid.as_str()).await.map_err(job_error)?),
            None => self
                .bundles
                .discover(creds, sid.as_str())
                .await
                .map_err(job_error)?
                .ok_or_else(|| {
                    JobError::Permanent(format!(
                        "Trust Hub answered 404 for {sid} as a customer profile, trust product and regulatory bundle of account {}",
                        creds.username
                    ))
                })?,
        };
        self.store
            .remember_bundle(
                sid,
                found.0,
                found.1.friendly_name.as_deref(),
                found.1.valid_until(),
            )
            .await
            .map_err(retry_store)?;
        Ok(found)
    }

    /// Creates and stores a fresh evaluation of a rejected profile: Twilio evaluates the
    /// bundle as it is now, so the reasons are this rejection's.
    async fn evaluate(
        &self,
        creds: &Credentials,
        kind: BundleKind,
        profile: &CustomerProfile,
        transition_id: i64,
    ) -> Result<(), JobError> {
        let evaluation = self
            .bundles
            .evaluate(creds, kind, profile)
            .await
            .map_err(job_error)?;
        let record = evaluation_record(profile, &evaluation, Some(transition_id));
        self.store.save_evaluation(&record).await.map_err(retry_store)?;
        tracing::info!(profile = %profile.sid, evaluation = %record.sid, status = %record.status, "stored evaluation");
        Ok(())
    }
}

#[async_trait]
impl Job for Confirmer {
    const KIND: &'static str = CONFIRM_DECISION;
    type Payload = TransitionJob;

    async fn run(&self, target: TransitionJob, attempt: u32) -> Result<Vec<NewJob>, JobError> {
        let sid = ProfileSid::parse(&target.profile_sid)
            .map_err(|e| JobError::Permanent(format!("{:?}: {e}", target.profile_sid)))?;
        let (stored_account, kind) = self.stored(&sid).await?;
        // The account that verified the callback, else the one stored for the bundle, else
        // the main account.
        let account = target.account_sid.clone().or(stored_account);
        let creds = self
            .credentials
            .resolve(account.as_deref())
            .await
            .map_err(job_error)?
            .ok_or_else(|| {
                JobError::Permanent(format!(
                    "no credentials for account {}",
                    account.as_deref().unwrap_or("(none)")
                ))
            })?;
        let (kind, profile) = self.fetch(&creds, &sid, kind).await?;
        let reported = ProfileStatus::from_wire(&target.to);
        if profile.status != reported {
            // Still under review: Trust Hub's API may not show the decision yet. Ask again
            // later; past the window the decision goes out unconfirmed.
            if matches!(
                profile.status,
                ProfileStatus::PendingReview | ProfileStatus::InReview
            ) {
                return Err(JobError::Retry {
                    reason: format!(
                        "Trust Hub still reports {sid} as {}, not {reported}",
                        profile.status
                    ),
                    after: None,
                });
            }
            let report = profile.report().ok_or_else(|| {
                JobError::Permanent(format!("Trust Hub returned an unusable SID for {sid}"))
            })?;
            let overruled = self
                .store
                .overrule(target.transition_id, &report, crate::store::now())
                .await
                .map_err(retry_store)?;
            tracing::warn!(
                profile = %sid,
                transition = target.transition_id,
                reported = %reported,
                trusthub = %profile.status,
                overruled,
                "Trust Hub contradicts a reported decision: not announced, Trust Hub's status recorded"
            );
            return Ok(Vec::new());
        }
        let mut evaluation_error = None;
        if reported == ProfileStatus::TwilioRejected || target.evaluate {
            match self.evaluate(&creds, kind, &profile, target.transition_id).await {
                Ok(()) => {}
                // The decision is confirmed: on the last attempt, or when retrying cannot
                // help, it goes out without its evaluation, saying why.
                Err(JobError::Retry { reason, .. }) if attempt >= self.max_attempts => {
                    evaluation_error = Some(reason);
                }
                Err(JobError::Permanent(reason)) => evaluation_error = Some(reason),
                Err(retry) => return Err(retry),
            }
        }
        let now = Utc::now();
        let mut jobs = vec![notify_job(
            target.transition_id,
            true,
            evaluation_error.as_deref(),
            now,
        )];
        // An approval already close to its end is told of now, not at the next hourly check.
        let ends_soon = profile.valid_until().is_some_and(|until| {
            self.expiry_alert_days > 0
                && until <= now + chrono::Duration::days(i64::from(self.expiry_alert_days))
        });
        if ends_soon {
            jobs.push(crate::jobs::expiry::now_job(now));
        }
        Ok(jobs)
    }

    fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Trust Hub could not be reached in time: the decision goes out marked unconfirmed (and a
    /// rejection without its evaluation), saying why.
    fn on_dead(&self, target: &TransitionJob, reason: &str) -> Vec<NewJob> {
        vec![notify_job(target.transition_id, false, Some(reason), Utc::now())]
    }
}
