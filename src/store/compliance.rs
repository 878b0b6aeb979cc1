//! Brands, campaigns and toll-free verifications (Event Streams, `crate::domain::compliance`):
//! every event kept once by its id, each object's current status and its history.
//!
//! An event applies when it is at least as recent as the one that set the current status
//! (Twilio's own time): a late one is kept in the history with `applied: false`. The first
//! account to report an object owns it; another account's event is stored but changes
//! nothing. A transition that changes the status enqueues its `compliance_notify` job in the
//! same transaction (the outbox).

use super::{Cursor, NewJob, Page, StoreError};
use crate::domain::compliance::{ComplianceKind, ComplianceReport, Links, StreamEvent};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The job that tells of a compliance transition (`jobs::compliance`).
pub const COMPLIANCE_NOTIFY: &str = "compliance_notify";

/// The payload of `compliance_notify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceJob {
    pub transition_id: i64,
}

pub fn notify_job(transition_id: i64, now: DateTime<Utc>) -> NewJob {
    NewJob {
        kind: COMPLIANCE_NOTIFY,
        payload: serde_json::to_value(ComplianceJob { transition_id }).expect("plain structs serialize"),
        dedupe_key: Some(format!("{COMPLIANCE_NOTIFY}:{transition_id}")),
        run_at: now,
    }
}

/// A brand, campaign or toll-free verification as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ComplianceObject {
    pub sid: String,
    pub kind: ComplianceKind,
    pub account_sid: Option<String>,
    /// Twilio's word, as sent.
    pub status: String,
    /// Twilio's errors with the current status, as sent (`null` when none).
    #[schema(value_type = Object)]
    pub errors: Value,
    pub links: Links,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One reported status, oldest first in an object's history.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ComplianceTransition {
    #[serde(skip)]
    pub id: i64,
    pub from: Option<String>,
    pub to: String,
    /// When Twilio says it happened.
    pub at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub errors: Value,
    /// The Event Streams event that reported it.
    pub event_id: String,
    /// False when a more recent status was already known (kept, not applied).
    pub applied: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ComplianceDetail {
    #[serde(flatten)]
    pub object: ComplianceObject,
    pub transitions: Vec<ComplianceTransition>,
}

/// What became of each event of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRecorded {
    Stored,
    /// Its id was stored before: nothing changed.
    Duplicate,
}

/// What a stored report does to its object, given the object's current status and the time
/// that status was reported (`None`: a new object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// A new object, or a newer different status: a transition, applied, told of.
    Apply { from: Option<String> },
    /// The same status again, at least as recent: errors and links refreshed, no transition.
    Refresh,
    /// Older than the current status: kept in the history, not applied.
    Late { from: String },
}

pub fn plan(current: Option<(&str, DateTime<Utc>)>, report: &ComplianceReport) -> Plan {
    match current {
        None => Plan::Apply { from: None },
        Some((status, at)) if report.at < at => Plan::Late {
            from: status.to_owned(),
        },
        Some((status, _)) if status == report.status => Plan::Refresh,
        Some((status, _)) => Plan::Apply {
            from: Some(status.to_owned()),
        },
    }
}

/// The customer profile an object belongs to, and its brand, as stored beside it for lookups.
pub fn owners(kind: ComplianceKind, links: &Links) -> (Option<String>, Option<String>) {
    match kind {
        ComplianceKind::Brand => (links.customer_profile_bundle_sid.clone(), None),
        ComplianceKind::Campaign => (None, links.brand_sid.clone()),
        ComplianceKind::TollfreeVerification => (links.customer_profile_sid.clone(), None),
    }
}

/// Which objects a list asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceQuery {
    pub kind: ComplianceKind,
    pub status: Option<String>,
    pub account_sid: Option<String>,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

#[async_trait]
pub trait ComplianceStore: Send + Sync {
    /// Stores a sink request's events (verified for `account`) in one transaction, with the
    /// transitions they make and their jobs.
    async fn record_events(
        &self,
        events: &[StreamEvent],
        account: Option<&str>,
        received_at: DateTime<Utc>,
    ) -> Result<Vec<EventRecorded>, StoreError>;

    async fn list_compliance(&self, query: &ComplianceQuery) -> Result<Page<ComplianceObject>, StoreError>;

    async fn get_compliance(
        &self,
        kind: ComplianceKind,
        sid: &str,
    ) -> Result<Option<ComplianceDetail>, StoreError>;

    /// One transition with its object as it stands now.
    async fn compliance_transition(
        &self,
        id: i64,
    ) -> Result<Option<(ComplianceObject, ComplianceTransition)>, StoreError>;

    /// Links learnt from the Messaging API (what the object had is kept where `links` has
    /// none).
    async fn set_compliance_links(&self, sid: &str, links: &Links) -> Result<(), StoreError>;

    /// What a customer profile is waiting on: the brands and toll-free verifications that name
    /// it, and those brands' campaigns.
    async fn compliance_for_profile(&self, profile_sid: &str) -> Result<Vec<ComplianceObject>, StoreError>;
}

/// Cuts a `limit + 1` fetch to `limit` items and a cursor when there are more.
pub(crate) fn page(mut items: Vec<ComplianceObject>, limit: u32) -> Page<ComplianceObject> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: &str, at: i64) -> ComplianceReport {
        ComplianceReport {
            kind: ComplianceKind::Brand,
            sid: "BN1".into(),
            status: status.into(),
            errors: Value::Null,
            links: Links::default(),
            at: DateTime::from_timestamp(at, 0).unwrap(),
        }
    }

    #[test]
    fn newer_reports_apply_older_ones_are_kept_and_repeats_refresh() {
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        assert_eq!(plan(None, &report("PENDING", 5)), Plan::Apply { from: None });
        assert_eq!(
            plan(Some(("PENDING", at(5))), &report("APPROVED", 6)),
            Plan::Apply {
                from: Some("PENDING".into())
            }
        );
        assert_eq!(
            plan(Some(("APPROVED", at(6))), &report("PENDING", 5)),
            Plan::Late {
                from: "APPROVED".into()
            }
        );
        assert_eq!(
            plan(Some(("APPROVED", at(6))), &report("APPROVED", 7)),
            Plan::Refresh
        );
        // Same time, other status: the later arrival applies (Twilio's clock cannot tell).
        assert_eq!(
            plan(Some(("APPROVED", at(6))), &report("FAILED", 6)),
            Plan::Apply {
                from: Some("APPROVED".into())
            }
        );
    }
}
