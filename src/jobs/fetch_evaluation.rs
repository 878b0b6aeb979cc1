//! The `fetch_evaluation` job, explaining a rejection: fetch the profile and its latest Trust
//! Hub evaluation (creating one when none exists) and keep it whole, then notify.

use crate::domain::Source;
use crate::queue::{retry_store, Job, JobError};
use crate::store::outbox::{fetch_evaluation_job, notify_job, TransitionJob, FETCH_EVALUATION};
use crate::store::{DynStore, NewJob};
use crate::submit::evaluation_record;
use crate::twilio::models::{CustomerProfile, Evaluation};
use crate::twilio::{CredentialBook, TwilioClient, TwilioError};
use async_trait::async_trait;
use chrono::Utc;

/// The `fetch_evaluation` job.
pub struct EvaluationFetcher {
    pub store: DynStore,
    pub client: TwilioClient,
    pub credentials: CredentialBook,
    pub max_attempts: u32,
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

/// The most recently created evaluation (Twilio's dates sort as text).
fn latest(evaluations: Vec<Evaluation>) -> Option<Evaluation> {
    evaluations
        .into_iter()
        .enumerate()
        .max_by(|(i, a), (j, b)| (&a.date_created, i).cmp(&(&b.date_created, j)))
        .map(|(_, e)| e)
}

impl EvaluationFetcher {
    /// Records the profile's authoritative status when callbacks missed it.
    async fn record_status(&self, profile: &CustomerProfile) -> Result<(), JobError> {
        if let Some(report) = profile.report() {
            let decision = self
                .store
                .record_report(&report, Source::Sync, crate::store::now())
                .await
                .map_err(retry_store)?;
            crate::metrics::transition(&report.status, Source::Sync, decision);
        }
        Ok(())
    }
}

/// A fetch of the evaluation of `target` asked for again (from the dashboard): a fresh key, as
/// the rejection's own fetch has run (and its notify is deduplicated).
pub fn again(target: &TransitionJob, now: chrono::DateTime<Utc>) -> NewJob {
    let key = format!(
        "{FETCH_EVALUATION}:{}:ui:{}",
        target.transition_id,
        now.timestamp_micros()
    );
    fetch_evaluation_job(target, now, key)
}

#[async_trait]
impl Job for EvaluationFetcher {
    const KIND: &'static str = FETCH_EVALUATION;
    type Payload = TransitionJob;

    async fn run(&self, target: TransitionJob, _attempt: u32) -> Result<Vec<NewJob>, JobError> {
        let creds = self
            .credentials
            .for_account(target.account_sid.as_deref())
            .ok_or_else(|| {
                JobError::Permanent(format!(
                    "no credentials for account {}",
                    target.account_sid.as_deref().unwrap_or("(none)")
                ))
            })?;
        let sid = target.profile_sid.as_str();
        let profile = self
            .client
            .fetch_customer_profile(&creds, sid)
            .await
            .map_err(job_error)?;
        if profile.status.as_wire() != target.to {
            self.record_status(&profile).await?;
        }
        let evaluation = match latest(
            self.client
                .list_evaluations(&creds, sid)
                .await
                .map_err(job_error)?,
        ) {
            Some(evaluation) => evaluation,
            None => {
                let policy = profile.policy_sid.as_deref().ok_or_else(|| {
                    JobError::Permanent(format!("profile {sid} has no policy_sid to evaluate against"))
                })?;
                self.client
                    .create_evaluation(&creds, sid, policy)
                    .await
                    .map_err(job_error)?
            }
        };
        let record = evaluation_record(&profile, &evaluation, Some(target.transition_id));
        self.store.save_evaluation(&record).await.map_err(retry_store)?;
        tracing::info!(profile = sid, evaluation = %record.sid, status = %record.status, "stored evaluation");
        // The alert waited for the reasons; it goes out now.
        Ok(vec![notify_job(target.transition_id, None, Utc::now())])
    }

    fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Out of retries: the alert goes out without the evaluation, saying why.
    fn on_dead(&self, target: &TransitionJob, reason: &str) -> Vec<NewJob> {
        vec![notify_job(target.transition_id, Some(reason), Utc::now())]
    }
}
