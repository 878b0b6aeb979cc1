//! The records the store keeps and returns.

use super::Cursor;
use crate::domain::{AccountSid, BundleKind, Decision, ProfileStatus, Source, StatusReport};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

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
    /// Stored for inspection but not applied: the bundle belongs to another account than
    /// the one that signed the callback, `owner`.
    Foreign { callback_id: i64, owner: String },
}

/// A profile and its current status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Profile {
    pub sid: String,
    pub account_sid: Option<String>,
    /// Twilio's wire name: draft, pending-review, in-review, twilio-rejected, twilio-approved (or a newer one).
    #[schema(value_type = String)]
    pub status: ProfileStatus,
    /// False when Twilio reported a status this version does not know.
    pub status_known: bool,
    pub friendly_name: Option<String>,
    /// Which API the bundle lives on; `null` until this service has learnt it.
    #[schema(value_type = Option<String>, example = "trust_product")]
    pub kind: Option<BundleKind>,
    /// Until when Twilio's approval holds (Trust Hub's `valid_until`), as Twilio last gave it;
    /// `null` when not approved or not known. An alert goes out `EXPIRY_ALERT_DAYS` before.
    pub valid_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One reported status change, oldest first in a profile's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Transition {
    #[schema(value_type = Option<String>)]
    pub from: Option<ProfileStatus>,
    #[schema(value_type = String)]
    pub to: ProfileStatus,
    pub at: DateTime<Utc>,
    pub source: Source,
    pub failure_reason: Option<String>,
    /// False for a report that arrived late (after a later status) and was kept as history only.
    pub applied: bool,
}

/// A profile with its whole history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
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
    pub kind: Option<BundleKind>,
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// One page of a list, and where the next starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

/// A Trust Hub evaluation as stored: Twilio's `results` exactly as returned.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EvaluationRecord {
    pub sid: String,
    pub profile_sid: String,
    pub account_sid: Option<String>,
    pub policy_sid: Option<String>,
    /// `compliant` or `noncompliant`.
    pub status: String,
    pub results: serde_json::Value,
    /// The profile's `errors` when the evaluation was fetched.
    pub profile_errors: serde_json::Value,
    /// Twilio's `date_created`, as given.
    pub date_created: Option<String>,
    pub fetched_at: DateTime<Utc>,
    /// The transition (a rejection) it explains, when fetched for one.
    pub transition_id: Option<i64>,
}

/// A transition with its identity, for the jobs that act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionRow {
    pub id: i64,
    pub profile_sid: String,
    pub transition: Transition,
}

/// An outbound webhook subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// Event types delivered; empty means every type.
    pub events: Vec<String>,
    pub description: Option<String>,
    /// The signing secret; shown once, when the subscription is created.
    #[serde(skip)]
    pub secret: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Webhook {
    pub fn wants(&self, event_type: &str) -> bool {
        self.enabled && (self.events.is_empty() || self.events.iter().any(|e| e == event_type))
    }
}

/// How a delivery goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Webhook,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Email => "email",
        }
    }

    /// The channel named `raw`, if any.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Webhook, Self::Email]
            .into_iter()
            .find(|c| c.as_str() == raw)
    }
}

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// The last attempt failed; another is scheduled.
    Failed,
    Dead,
    /// Its subscription was deleted or disabled before it could go out.
    Cancelled,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 5] = [
        Self::Pending,
        Self::Delivered,
        Self::Failed,
        Self::Dead,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
        }
    }

    /// The state named `raw`, if any.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// A delivery to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub channel: Channel,
    pub webhook_id: Option<String>,
    pub recipient: String,
    /// Unique: creating the same event id twice creates one delivery.
    pub event_id: String,
    pub event_type: String,
    pub transition_id: Option<i64>,
    pub profile_sid: Option<String>,
    pub payload: serde_json::Value,
}

/// One notification to one recipient, with its latest outcome.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub channel: String,
    pub webhook_id: Option<String>,
    pub recipient: String,
    pub event_id: String,
    pub event_type: String,
    pub transition_id: Option<i64>,
    pub profile_sid: Option<String>,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: u32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// One attempt to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// HTTP status, or the SMTP reply code.
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// Filters and paging for the delivery list (newest first).
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub status: Option<String>,
    pub webhook_id: Option<String>,
    pub profile_sid: Option<String>,
    pub limit: u32,
    /// List deliveries with a smaller id than this.
    pub before_id: Option<i64>,
}
