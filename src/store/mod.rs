//! Persistence: one interface, a SQLite implementation (the embedded default) and a PostgreSQL
//! implementation (several replicas, one database), picked by the URL's scheme.

mod batch_state;
pub mod compliance;
mod cursor;
mod dashboard;
pub mod expiry;
#[cfg(test)]
mod fixtures;
pub mod job;
mod model;
pub mod outbox;
mod postgres;
pub mod retention;
mod rows;
mod sqlite;

use crate::config::SqliteSynchronous;
use crate::domain::{BundleKind, Decision, ProfileSid, ProfileStatus, Source, StatusReport};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

pub use compliance::{
    ComplianceDetail, ComplianceObject, ComplianceQuery, ComplianceStore, ComplianceTransition, EventRecorded,
};
pub use cursor::Cursor;
pub use dashboard::{DashboardStore, ProfileSearch, StatusCount, WebhookHealth};
pub use expiry::ExpiryStore;
pub use job::{ClaimedJob, JobCount, JobInfo, JobState, NewJob, Settlement};
pub use model::{
    Attempt, CallbackRecord, Channel, Delivery, DeliveryQuery, DeliveryStatus, EvaluationRecord, NewDelivery,
    Page, Profile, ProfileDetail, ProfileQuery, Recorded, Transition, TransitionRow, Webhook,
};
pub use postgres::PostgresStore;
pub use retention::{RetentionStore, SweptBatch, SweptTable};
pub use sqlite::{ServeLock, SqliteStore};

/// A shared store handle.
pub type DynStore = Arc<dyn Store>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// From the SQLite group commit's own connection.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("DATABASE_URL: {0:?} is neither sqlite: nor postgres://")]
    UnsupportedUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A report named another account than the one the bundle belongs to.
    #[error("bundle {profile} belongs to account {owner}, not the one reported")]
    ForeignAccount { profile: String, owner: String },
}

/// Everything a backend provides.
#[async_trait]
pub trait Store:
    CallbackStore
    + JobStore
    + EvaluationStore
    + NotifyStore
    + CreationStore
    + DashboardStore
    + RetentionStore
    + ExpiryStore
    + ComplianceStore
    + Send
    + Sync
    + 'static
{
    /// Applies pending migrations (safe to run from several replicas at once).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The migrations this version has that the database has not applied (empty: current).
    async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError>;

    /// The secret kept under `name`, storing `candidate` first if there is none: replicas
    /// starting together each offer one and all end with the same (the first stored).
    async fn server_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// Closes connections, waiting for those in use.
    async fn close(&self);
}

/// Profiles, callbacks and transitions.
#[async_trait]
pub trait CallbackStore: Send + Sync {
    /// Stores a verified callback and, in the same transaction, the transition it reports and
    /// the jobs that transition causes.
    async fn record_callback(&self, callback: CallbackRecord) -> Result<Recorded, StoreError>;

    /// Records a status learnt another way (submission, sync), with the same rules and jobs.
    async fn record_report(
        &self,
        report: &StatusReport,
        source: Source,
        at: DateTime<Utc>,
    ) -> Result<Decision, StoreError>;

    async fn list_profiles(&self, query: &ProfileQuery) -> Result<Page<Profile>, StoreError>;

    async fn get_profile(&self, sid: &ProfileSid) -> Result<Option<ProfileDetail>, StoreError>;

    /// What Twilio said a bundle is: its kind (fixed once known), its friendly name and until
    /// when its approval holds (the latest Twilio gave). Does nothing for a bundle not stored
    /// yet.
    async fn remember_bundle(
        &self,
        sid: &ProfileSid,
        kind: BundleKind,
        friendly_name: Option<&str>,
        valid_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// One transition, by id.
    async fn transition(&self, id: i64) -> Result<Option<TransitionRow>, StoreError>;

    /// Trust Hub contradicts an applied transition (a replayed or forged decision): it is
    /// marked not applied, the profile goes back to the status before it when nothing has
    /// moved it since, and Trust Hub's own status is then recorded as a `sync` report, with
    /// the jobs that causes. `false` when the transition is unknown or not applied.
    async fn overrule(
        &self,
        transition_id: i64,
        trusthub: &StatusReport,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// The durable job queue.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Enqueues jobs (a job whose `dedupe_key` exists already is skipped).
    async fn enqueue_jobs(&self, jobs: &[NewJob]) -> Result<(), StoreError>;

    /// Claims up to `limit` due jobs (or jobs whose lease expired) for `lease`.
    async fn claim_jobs(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        self.claim_jobs_except(worker, limit, lease, &[]).await
    }

    /// Claims as `claim_jobs` does, leaving jobs of the kinds in `except` where they are.
    async fn claim_jobs_except(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
        except: &[String],
    ) -> Result<Vec<ClaimedJob>, StoreError>;

    /// Marks a job done and enqueues its follow-ups, atomically. False if the lease was lost.
    async fn complete_job(&self, id: i64, worker: &str, follow_ups: &[NewJob]) -> Result<bool, StoreError>;

    /// Schedules another attempt. False if the lease was lost.
    async fn retry_job_later(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        run_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Marks a job dead and enqueues `follow_ups`, atomically. False if the lease was lost.
    async fn bury_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        follow_ups: &[NewJob],
    ) -> Result<bool, StoreError>;

    /// Records the outcomes of several jobs we hold; for each, whether its lease was still
    /// ours. Each settles atomically with its follow-ups; a store may commit them together.
    async fn settle_jobs(&self, worker: &str, settlements: &[Settlement]) -> Result<Vec<bool>, StoreError> {
        let mut kept = Vec::with_capacity(settlements.len());
        for s in settlements {
            kept.push(match s.state {
                JobState::Done => self.complete_job(s.id, worker, &s.follow_ups).await?,
                JobState::Dead => {
                    let error = s.error.as_deref().unwrap_or_default();
                    self.bury_job(s.id, worker, error, &s.follow_ups).await?
                }
                _ => {
                    let error = s.error.as_deref().unwrap_or_default();
                    self.retry_job_later(s.id, worker, error, s.run_at.unwrap_or_else(Utc::now))
                        .await?
                }
            });
        }
        Ok(kept)
    }

    /// Jobs, newest first, optionally in one state.
    async fn list_jobs(&self, state: Option<&str>, limit: u32) -> Result<Vec<JobInfo>, StoreError>;

    /// Queues a dead job again with a fresh schedule. False unless it was dead.
    async fn revive_job(&self, id: i64) -> Result<bool, StoreError>;

    /// Queues again, at once, every job marked running: for a starting process that alone
    /// serves its database (SQLite, under `sqlite::ServeLock`), whose running jobs belonged
    /// to the process before it, dead. Returns how many. (PostgreSQL's replicas share the
    /// jobs: theirs come back when their leases expire.)
    async fn reclaim_running_jobs(&self) -> Result<u64, StoreError>;

    /// The worker's heartbeat: extends the lease of each job in `ids` that `worker` still
    /// holds (running, under its name) to `lease` from now, and returns those; a job missing
    /// from the answer was lost (its lease expired and another worker took it).
    async fn renew_leases(&self, worker: &str, ids: &[i64], lease: Duration) -> Result<Vec<i64>, StoreError>;

    /// Queued, running and dead jobs by kind and state, with the oldest `run_at` of each.
    async fn job_counts(&self) -> Result<Vec<JobCount>, StoreError>;
}

/// Trust Hub evaluations.
#[async_trait]
pub trait EvaluationStore: Send + Sync {
    /// Stores an evaluation (again: the same SID replaces the earlier copy).
    async fn save_evaluation(&self, evaluation: &EvaluationRecord) -> Result<(), StoreError>;

    /// A profile's evaluations, most recently fetched first.
    async fn evaluations(&self, profile_sid: &str) -> Result<Vec<EvaluationRecord>, StoreError>;
}

/// Webhook subscriptions and deliveries.
#[async_trait]
pub trait NotifyStore: Send + Sync {
    async fn create_webhook(&self, webhook: &Webhook) -> Result<(), StoreError>;

    async fn list_webhooks(&self) -> Result<Vec<Webhook>, StoreError>;

    async fn get_webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError>;

    /// False when there was no such subscription.
    async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError>;

    async fn disable_webhook(&self, id: &str, reason: &str) -> Result<(), StoreError>;

    /// Creates deliveries and, in the same transaction, a `deliver` job for each one created
    /// (an event id that exists already is skipped), and takes the transitions `notified` off
    /// the pending notifications. Returns how many deliveries were created.
    async fn create_deliveries(
        &self,
        deliveries: &[NewDelivery],
        notified: &[i64],
    ) -> Result<usize, StoreError>;

    /// Up to `limit` transitions whose notification is pending (`outbox::follow_ups`), oldest
    /// first.
    async fn pending_notifications(&self, limit: u32) -> Result<Vec<i64>, StoreError>;

    async fn get_delivery(&self, id: i64) -> Result<Option<Delivery>, StoreError>;

    async fn list_deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError>;

    /// Records an attempt and the delivery's new status.
    async fn record_attempt(
        &self,
        id: i64,
        attempt: &Attempt,
        status: DeliveryStatus,
    ) -> Result<(), StoreError>;

    /// A delivery's attempts, oldest first.
    async fn attempts(&self, id: i64) -> Result<Vec<Attempt>, StoreError>;

    /// Marks a delivery pending and enqueues a fresh `deliver` job for it, atomically.
    /// False when there is no such delivery.
    async fn replay_delivery(&self, id: i64) -> Result<bool, StoreError>;
}

/// The progress of `create`, per declarative file.
#[async_trait]
pub trait CreationStore: Send + Sync {
    /// The steps done so far (step name -> SID), if this key was started before.
    async fn creation(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError>;

    async fn save_creation(
        &self,
        key: &str,
        account_sid: Option<&str>,
        state: &serde_json::Value,
    ) -> Result<(), StoreError>;
}

/// Opens the store named by `DATABASE_URL` (creating a SQLite file if missing).
pub async fn connect(url: &str, synchronous: SqliteSynchronous) -> Result<DynStore, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, synchronous).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(crate::config::redact_password(url)))
    }
}

/// The status a profile returns to when transition `from -> to` is overruled: the one before
/// it, unless the transition created the profile (`from` is `None`), the profile no longer
/// has its status, or a later transition was applied (`superseded`).
fn revert_to(
    from: Option<&ProfileStatus>,
    to: &ProfileStatus,
    current: &ProfileStatus,
    superseded: bool,
) -> Option<ProfileStatus> {
    (!superseded && current == to).then(|| from.cloned()).flatten()
}

/// The account a bundle belongs to (`owner`) when `report` names another: such a report is
/// refused, so that a callback signed by one account never rewrites another's bundle.
fn foreign_owner(owner: Option<&str>, report: &StatusReport) -> Option<String> {
    match (owner, &report.account_sid) {
        (Some(owner), Some(named)) if owner != named.as_str() => Some(owner.to_owned()),
        _ => None,
    }
}

/// The profile-level change a report makes, given the profile's current status.
fn plan(current: Option<&ProfileStatus>, report: &StatusReport) -> Decision {
    crate::domain::decide(current, &report.status)
}

fn json_text(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn json_value(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Cuts a `limit + 1` fetch to `limit` items and a cursor when there are more.
fn page(mut items: Vec<Profile>, limit: u32) -> Page<Profile> {
    let limit = limit as usize;
    let next = (items.len() > limit).then(|| {
        items.truncate(limit);
        let last = items.last().expect("limit is at least 1");
        Cursor {
            updated_at: last.updated_at,
            sid: last.sid.clone(),
        }
    });
    Page { items, next }
}

/// Microsecond precision, so that a timestamp survives both backends unchanged.
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
