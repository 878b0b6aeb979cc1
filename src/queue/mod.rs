//! The durable job queue's logic: workers claim due jobs under a lease, run them, retry them
//! with backoff and jitter, and bury them (dead, inspectable, revivable) when their schedule
//! is exhausted. Jobs are rows of the store (`crate::store::job`); what each kind does is in
//! `crate::jobs`, one file per kind, each a typed [`Job`].

mod worker;

pub use worker::{Worker, WorkerConfig};

use crate::store::{ClaimedJob, NewJob};
use async_trait::async_trait;
use rand::Rng as _;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// One kind of job: its payload type and what running it does. `run` must be idempotent: a
/// job may run again after a crash.
#[async_trait]
pub trait Job: Send + Sync + 'static {
    /// The kind, as stored.
    const KIND: &'static str;
    /// What an enqueued job of this kind carries.
    type Payload: DeserializeOwned + Send + Sync + 'static;

    /// Does the work; returns the jobs to enqueue when it completes (atomically with completion).
    async fn run(&self, payload: Self::Payload, attempt: u32) -> Result<Vec<NewJob>, JobError>;

    /// Attempts before the job is buried.
    fn max_attempts(&self) -> u32;

    /// Jobs to enqueue, atomically, when this one is buried.
    fn on_dead(&self, _payload: &Self::Payload, _reason: &str) -> Vec<NewJob> {
        Vec::new()
    }

    /// This kind's retry schedule, when it differs from the worker's.
    fn backoff(&self) -> Option<Backoff> {
        None
    }
}

/// A typed [`Job`] as the worker runs it: the payload read from its row first (an unreadable
/// one is buried at once).
struct Typed<J>(J);

fn payload<P: DeserializeOwned>(job: &ClaimedJob) -> Result<P, JobError> {
    serde_json::from_value(job.payload.clone())
        .map_err(|e| JobError::Permanent(format!("unreadable job payload: {e}")))
}

#[async_trait]
impl<J: Job> JobHandler for Typed<J> {
    async fn run(&self, job: &ClaimedJob) -> Result<Vec<NewJob>, JobError> {
        self.0.run(payload(job)?, job.attempts).await
    }

    fn max_attempts(&self) -> u32 {
        self.0.max_attempts()
    }

    fn on_dead(&self, job: &ClaimedJob, reason: &str) -> Vec<NewJob> {
        match payload(job) {
            Ok(payload) => self.0.on_dead(&payload, reason),
            Err(_) => Vec::new(),
        }
    }

    fn backoff(&self) -> Option<Backoff> {
        self.0.backoff()
    }
}

/// A job's error from a store error: the database may answer next time.
pub fn retry_store(error: crate::store::StoreError) -> JobError {
    JobError::Retry {
        reason: error.to_string(),
        after: None,
    }
}

/// Why a job did not complete.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt, no sooner than `after` when given.
    #[error("{reason}")]
    Retry { reason: String, after: Option<Duration> },
    /// Retrying cannot help: bury it now.
    #[error("{0}")]
    Permanent(String),
}

/// Runs one kind of job from its row: what the worker holds for each kind (a typed [`Job`]
/// through `Worker::register`, or any handler through `Worker::handle`).
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Does the work; returns the jobs to enqueue when it completes (atomically with completion).
    async fn run(&self, job: &ClaimedJob) -> Result<Vec<NewJob>, JobError>;

    /// Attempts before the job is buried.
    fn max_attempts(&self) -> u32;

    /// Jobs to enqueue, atomically, when this one is buried.
    fn on_dead(&self, _job: &ClaimedJob, _reason: &str) -> Vec<NewJob> {
        Vec::new()
    }

    /// This kind's retry schedule, when it differs from the worker's.
    fn backoff(&self) -> Option<Backoff> {
        None
    }
}

/// Exponential backoff with jitter: attempt n waits between half and all of `base * 2^(n-1)`,
/// capped at `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(30)));
        let full = exp.min(self.max);
        let half = full / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let backoff = Backoff {
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
        };
        for _ in 0..100 {
            let first = backoff.delay(1);
            assert!(
                first >= Duration::from_secs(1) && first <= Duration::from_secs(2),
                "{first:?}"
            );
            let fourth = backoff.delay(4);
            assert!(
                fourth >= Duration::from_secs(8) && fourth <= Duration::from_secs(16),
                "{fourth:?}"
            );
            let late = backoff.delay(40);
            assert!(
                late >= Duration::from_secs(30) && late <= Duration::from_secs(60),
                "{late:?}"
            );
        }
    }
}
