//! The durable job queue (outbox): jobs are written in the same transaction as the transition
//! that causes them, claimed by workers under a lease, retried with backoff and jitter, and
//! buried (dead, inspectable, revivable) when their schedule is exhausted.

mod worker;

pub use worker::{Worker, WorkerConfig};

use crate::domain::{ProfileStatus, StatusReport};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Fetch and store Trust Hub's evaluation of a rejected profile.
pub const FETCH_EVALUATION: &str = "fetch_evaluation";
/// Decide who hears of a transition: create its deliveries.
pub const NOTIFY: &str = "notify";
/// Send one delivery (a webhook or an email).
pub const DELIVER: &str = "deliver";
/// Reconcile every profile with Trust Hub (`SYNC_INTERVAL_SECS`).
pub const SYNC: &str = "sync";

/// The `sync` job of the interval containing `now`: replicas enqueue the same key, so one runs.
pub fn sync_job(interval_secs: u64, now: DateTime<Utc>) -> NewJob {
    let bucket = now.timestamp().max(0) as u64 / interval_secs.max(1);
    NewJob {
        kind: SYNC,
        payload: serde_json::json!({ "bucket": bucket }),
        dedupe_key: Some(format!("{SYNC}:{interval_secs}:{bucket}")),
        run_at: now,
    }
}

/// A `sync` of one profile (asked for from the dashboard); `now` keeps each request distinct.
pub fn sync_profile_job(profile_sid: &str, now: DateTime<Utc>) -> NewJob {
    NewJob {
        kind: SYNC,
        payload: serde_json::json!({ "profile_sid": profile_sid }),
        dedupe_key: Some(format!("{SYNC}:{profile_sid}:{}", now.timestamp_micros())),
        run_at: now,
    }
}

/// The `deliver` job of a delivery; `round` tells replays apart.
pub fn deliver_job(delivery_id: i64, round: i64, now: DateTime<Utc>) -> NewJob {
    NewJob {
        kind: DELIVER,
        payload: serde_json::json!({ "delivery_id": delivery_id }),
        dedupe_key: Some(format!("{DELIVER}:{delivery_id}:{round}")),
        run_at: now,
    }
}

/// The `notify` job of a transition, with why its evaluation is missing when it is.
pub fn notify_job(transition_id: i64, evaluation_error: Option<&str>, now: DateTime<Utc>) -> NewJob {
    NewJob {
        kind: NOTIFY,
        payload: serde_json::json!({ "transition_id": transition_id, "evaluation_error": evaluation_error }),
        dedupe_key: Some(format!("{NOTIFY}:{transition_id}")),
        run_at: now,
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: &'static str,
    pub payload: serde_json::Value,
    /// Enqueueing the same key twice adds nothing, so a retried step may enqueue again.
    pub dedupe_key: Option<String>,
    pub run_at: DateTime<Utc>,
}

/// How a claimed job ended, to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub id: i64,
    /// `state::DONE`, `state::DEAD`, or `state::QUEUED` for another attempt at `run_at`.
    pub state: &'static str,
    pub error: Option<String>,
    pub run_at: Option<DateTime<Utc>>,
    /// Enqueued atomically with the outcome (done or dead).
    pub follow_ups: Vec<NewJob>,
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    /// Attempts so far, this one included.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
}

/// A job as listed for inspection.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct JobInfo {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub attempts: u32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How many jobs of one kind are in one state.
#[derive(Debug, Clone, PartialEq)]
pub struct JobCount {
    pub kind: String,
    pub state: String,
    pub count: i64,
    pub oldest: DateTime<Utc>,
}

/// Job states, as stored.
pub mod state {
    pub const QUEUED: &str = "queued";
    pub const RUNNING: &str = "running";
    pub const DONE: &str = "done";
    pub const DEAD: &str = "dead";
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

/// Runs one kind of job. `run` must be idempotent: a job may run again after a crash.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Does the work; returns the jobs to enqueue when it completes (atomically with completion).
    async fn run(&self, job: &Job) -> Result<Vec<NewJob>, JobError>;

    /// Attempts before the job is buried.
    fn max_attempts(&self) -> u32;

    /// Jobs to enqueue, atomically, when this one is buried.
    fn on_dead(&self, _job: &Job, _reason: &str) -> Vec<NewJob> {
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

/// The payload of a job about one transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionJob {
    pub transition_id: i64,
    pub profile_sid: String,
    pub account_sid: Option<String>,
    pub to: String,
}

/// The jobs an applied transition causes, enqueued in its transaction: a rejection first
/// fetches its evaluation (whose job then notifies), anything else notifies at once.
pub fn jobs_for_transition(transition_id: i64, report: &StatusReport, now: DateTime<Utc>) -> Vec<NewJob> {
    let payload = TransitionJob {
        transition_id,
        profile_sid: report.profile_sid.to_string(),
        account_sid: report.account_sid.as_ref().map(ToString::to_string),
        to: report.status.to_string(),
    };
    let payload = serde_json::to_value(payload).expect("plain struct serializes");
    match report.status {
        ProfileStatus::TwilioRejected => vec![NewJob {
            kind: FETCH_EVALUATION,
            payload,
            dedupe_key: Some(format!("{FETCH_EVALUATION}:{transition_id}")),
            run_at: now,
        }],
        _ => vec![notify_job(transition_id, None, now)],
    }
}

/// The jobs of the transitions one transaction applies, `(id, report, at)` in order: an
/// evaluation fetch for each rejection, and one `notify` job for all the others, so that a
/// group commit of many callbacks queues one job rather than one per callback (each job is
/// written, claimed and settled: on the single SQLite writer that cost as much as the
/// callbacks themselves). A lone transition gets the job `jobs_for_transition` gives it.
pub fn jobs_for_transitions(applied: &[(i64, &StatusReport, DateTime<Utc>)]) -> Vec<NewJob> {
    let (rejected, others): (Vec<_>, Vec<_>) = applied
        .iter()
        .partition(|(_, report, _)| report.status == ProfileStatus::TwilioRejected);
    let mut jobs: Vec<NewJob> = rejected
        .iter()
        .flat_map(|(id, report, at)| jobs_for_transition(*id, report, *at))
        .collect();
    match others.as_slice() {
        [] => {}
        [(id, report, at)] => jobs.extend(jobs_for_transition(*id, report, *at)),
        [(first, ..), .., (last, _, at)] => {
            let ids: Vec<i64> = others.iter().map(|(id, ..)| *id).collect();
            jobs.push(NewJob {
                kind: NOTIFY,
                payload: serde_json::json!({ "transition_ids": ids }),
                dedupe_key: Some(format!("{NOTIFY}:{first}..{last}")),
                run_at: *at,
            });
        }
    }
    jobs
}

/// The most transitions a group commit adds to a `notify` job queued before (`open_notify`).
pub const MAX_NOTIFY_TRANSITIONS: usize = 1000;

/// The notify job among a transaction's jobs, and the transitions it names.
pub fn notify_in(jobs: &[NewJob]) -> Option<(usize, Vec<i64>)> {
    let (index, job) = jobs.iter().enumerate().find(|(_, job)| job.kind == NOTIFY)?;
    let ids = match &job.payload["transition_ids"] {
        serde_json::Value::Array(ids) => ids.iter().filter_map(serde_json::Value::as_i64).collect(),
        _ => job.payload["transition_id"].as_i64().into_iter().collect(),
    };
    Some((index, ids))
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

    #[test]
    fn a_rejection_causes_an_evaluation_fetch() {
        let report = |status: &str| StatusReport {
            account_sid: None,
            profile_sid: crate::domain::ProfileSid::parse(&format!("BU{}", "a".repeat(32))).unwrap(),
            status: ProfileStatus::from_wire(status),
            failure_reason: None,
            friendly_name: None,
        };
        let jobs = jobs_for_transition(7, &report("twilio-rejected"), Utc::now());
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].kind, FETCH_EVALUATION);
        assert_eq!(jobs[0].dedupe_key.as_deref(), Some("fetch_evaluation:7"));
        assert_eq!(jobs[0].payload["transition_id"], 7);
        let approved = jobs_for_transition(8, &report("twilio-approved"), Utc::now());
        assert_eq!((approved.len(), approved[0].kind), (1, NOTIFY));
        assert_eq!(approved[0].dedupe_key.as_deref(), Some("notify:8"));
    }

    #[test]
    fn a_batch_of_transitions_notifies_once() {
        let report = |status: &str| StatusReport {
            account_sid: None,
            profile_sid: crate::domain::ProfileSid::parse(&format!("BU{}", "a".repeat(32))).unwrap(),
            status: ProfileStatus::from_wire(status),
            failure_reason: None,
            friendly_name: None,
        };
        let (pending, rejected, approved) = (
            report("pending-review"),
            report("twilio-rejected"),
            report("twilio-approved"),
        );
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        let jobs =
            jobs_for_transitions(&[(3, &pending, at(1)), (4, &rejected, at(2)), (6, &approved, at(3))]);
        let described: Vec<_> = jobs
            .iter()
            .map(|j| {
                (
                    j.kind,
                    j.dedupe_key.as_deref().unwrap(),
                    j.payload.clone(),
                    j.run_at,
                )
            })
            .collect();
        assert_eq!(
            described,
            [
                (
                    FETCH_EVALUATION,
                    "fetch_evaluation:4",
                    jobs_for_transition(4, &rejected, at(2))[0].payload.clone(),
                    at(2)
                ),
                (
                    NOTIFY,
                    "notify:3..6",
                    serde_json::json!({ "transition_ids": [3, 6] }),
                    at(3)
                ),
            ]
        );
        // One transition: the job it would have had alone.
        let alone = jobs_for_transitions(&[(9, &approved, at(5))]);
        assert_eq!(alone, jobs_for_transition(9, &approved, at(5)));
        assert!(jobs_for_transitions(&[]).is_empty());
    }
}
