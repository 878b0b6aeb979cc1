//! Persistence: one interface, a SQLite implementation (the embedded default) and a PostgreSQL
//! implementation (several replicas, one database), picked by the URL's scheme.

mod cursor;
mod postgres;
mod sqlite;

use crate::config::SqliteSynchronous;
use crate::domain::{AccountSid, Decision, ProfileSid, ProfileStatus, StatusReport};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

pub use cursor::Cursor;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// A shared store handle.
pub type DynStore = Arc<dyn Store>;

/// Everything kept about a callback that passed its signature check.
#[derive(Debug, Clone)]
pub struct CallbackRecord {
    /// `I-Twilio-Idempotency-Token`: a redelivery with the same token is stored once.
    pub idempotency_token: Option<String>,
    /// Hex SHA-256 of the signed URL and raw body: without a token, a callback repeating its
    /// profile's latest one exactly is a redelivery.
    pub body_hash: String,
    pub account_sid: Option<AccountSid>,
    /// What it reports, or why it is unusable (kept for inspection, answered with 400).
    pub report: Result<StatusReport, String>,
    pub content_type: String,
    /// Every field as received, in order.
    pub fields: Vec<(String, String)>,
    /// Which secret verified it.
    pub credential: String,
    pub received_at: DateTime<Utc>,
}

/// What recording a callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The same callback was stored before; nothing changed.
    Duplicate,
    /// Stored now; `decision` is what it did to the profile (`None` when unusable).
    Stored {
        callback_id: i64,
        decision: Option<Decision>,
    },
}

/// Where a transition was learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Callback,
    Submission,
    Sync,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Callback => "callback",
            Self::Submission => "submission",
            Self::Sync => "sync",
        }
    }

    fn parse(raw: &str) -> Self {
        match raw {
            "submission" => Self::Submission,
            "sync" => Self::Sync,
            _ => Self::Callback,
        }
    }
}

/// A profile and its current status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub sid: String,
    pub account_sid: Option<String>,
    pub status: ProfileStatus,
    /// False when Twilio reported a status this version does not know.
    pub status_known: bool,
    pub friendly_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One reported status change, oldest first in a profile's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: Option<ProfileStatus>,
    pub to: ProfileStatus,
    pub at: DateTime<Utc>,
    pub source: Source,
    pub failure_reason: Option<String>,
    /// False for a report that arrived late (after a later status) and was kept as history only.
    pub applied: bool,
}

/// A profile with its whole history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileDetail {
    #[serde(flatten)]
    pub profile: Profile,
    pub transitions: Vec<Transition>,
}

/// Filters and paging for the profile list.
#[derive(Debug, Clone, Default)]
pub struct ProfileQuery {
    pub status: Option<String>,
    pub account_sid: Option<String>,
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// One page of a list, and where the next starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("DATABASE_URL: {0:?} is neither sqlite: nor postgres://")]
    UnsupportedUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// The operations every backend provides.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations (safe to run from several replicas at once).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Stores a verified callback and, in the same transaction, the transition it reports.
    async fn record_callback(&self, callback: &CallbackRecord) -> Result<Recorded, StoreError>;

    async fn list_profiles(&self, query: &ProfileQuery) -> Result<Page<Profile>, StoreError>;

    async fn get_profile(&self, sid: &ProfileSid) -> Result<Option<ProfileDetail>, StoreError>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes connections, waiting for those in use.
    async fn close(&self);
}

/// Opens the store named by `DATABASE_URL` (creating a SQLite file if missing).
pub async fn connect(url: &str, synchronous: SqliteSynchronous) -> Result<DynStore, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, synchronous).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}

/// The profile-level change a report makes, given the profile's current status.
fn plan(current: Option<&ProfileStatus>, report: &StatusReport) -> Decision {
    crate::domain::decide(current, &report.status)
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
