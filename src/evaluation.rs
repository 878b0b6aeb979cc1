//! Explaining a rejection: fetch the profile and its latest Trust Hub evaluation (creating one
//! when none exists) and keep it whole.

use crate::outbox::{notify_job, Job, JobError, JobHandler, NewJob, TransitionJob};
use crate::store::{DynStore, EvaluationRecord, Source};
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

fn store_error(error: crate::store::StoreError) -> JobError {
    JobError::Retry {
        reason: error.to_string(),
        after: None,
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
                .map_err(store_error)?;
            crate::metrics::transition(&report.status, Source::Sync, decision);
        }
        Ok(())
    }
}

#[async_trait]
impl JobHandler for EvaluationFetcher {
    async fn run(&self, job: &Job) -> Result<Vec<NewJob>, JobError> {
        let target: TransitionJob = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Permanent(format!("unreadable job payload: {e}")))?;
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
        let record = EvaluationRecord::fetched(&profile, &evaluation, Some(target.transition_id));
        self.store.save_evaluation(&record).await.map_err(store_error)?;
        tracing::info!(profile = sid, evaluation = %record.sid, status = %record.status, "stored evaluation");
        // The alert waited for the reasons; it goes out now.
        Ok(vec![notify_job(target.transition_id, None, Utc::now())])
    }

    fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Out of retries: the alert goes out without the evaluation, saying why.
    fn on_dead(&self, job: &Job, reason: &str) -> Vec<NewJob> {
        match serde_json::from_value::<TransitionJob>(job.payload.clone()) {
            Ok(target) => vec![notify_job(target.transition_id, Some(reason), Utc::now())],
            Err(_) => Vec::new(),
        }
    }
}
