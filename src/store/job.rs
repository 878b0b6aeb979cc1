//! The job queue's rows: what is enqueued, claimed, settled and listed. The queue's logic
//! (claiming under a lease, retries, typed jobs) lives in `crate::queue`; what each job does
//! in `crate::jobs`.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A job to enqueue: its kind and payload as stored (typed by `crate::queue::Job`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: &'static str,
    pub payload: serde_json::Value,
    /// Enqueueing the same key twice adds nothing, so a retried step may enqueue again.
    pub dedupe_key: Option<String>,
    pub run_at: DateTime<Utc>,
}

/// A job's state, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    Queued,
    Running,
    Done,
    Dead,
}

impl JobState {
    pub const ALL: [JobState; 4] = [Self::Queued, Self::Running, Self::Done, Self::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }

    /// The state named `raw`, if any.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == raw)
    }
}

/// How a claimed job ended, to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub id: i64,
    /// Done, dead, or queued for another attempt at `run_at`.
    pub state: JobState,
    pub error: Option<String>,
    pub run_at: Option<DateTime<Utc>>,
    /// Enqueued atomically with the outcome (done or dead).
    pub follow_ups: Vec<NewJob>,
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
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
