//! The outbound events: `profile.status_changed` (the contract's) and `profile.expiring`.

use crate::domain::compliance::{ComplianceKind, Links};
use crate::store::{ComplianceObject, ComplianceTransition, EvaluationRecord, Profile, TransitionRow};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const STATUS_CHANGED: &str = "profile.status_changed";
/// An approval ends within `EXPIRY_ALERT_DAYS` (`jobs::expiry`).
pub const EXPIRING: &str = "profile.expiring";
/// Every event type a subscription may filter on (the compliance ones are
/// `ComplianceKind::event_type`'s).
pub const EVENT_TYPES: &[&str] = &[
    STATUS_CHANGED,
    EXPIRING,
    "brand.status_changed",
    "campaign.status_changed",
    "tollfree_verification.status_changed",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: DateTime<Utc>,
    pub data: EventData,
}

/// An event's `data`, by its type. Untagged (the type is beside it): each variant has a field
/// the others lack (`valid_until` and `days_left`; `to`), which is what tells them apart when a
/// stored event is read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventData {
    Expiring(Expiring),
    Compliance(ComplianceChanged),
    StatusChanged(StatusChanged),
}

/// `brand.status_changed`, `campaign.status_changed`, `tollfree_verification.status_changed`:
/// what Event Streams reported, Twilio's status words and errors as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComplianceChanged {
    pub kind: ComplianceKind,
    pub sid: String,
    pub account_sid: Option<String>,
    pub from: Option<String>,
    pub to: String,
    pub at: DateTime<Utc>,
    /// Twilio's errors with this status, as sent (`null` when none).
    pub errors: serde_json::Value,
    /// What the object is linked to, as far as known.
    pub links: Links,
}

/// `profile.expiring`: an approved bundle's approval ends soon (Trust Hub's `valid_until`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expiring {
    pub sid: String,
    pub account_sid: Option<String>,
    pub friendly_name: Option<String>,
    pub kind: Option<crate::domain::BundleKind>,
    /// The bundle's status (an approval).
    pub status: String,
    pub valid_until: DateTime<Utc>,
    /// Whole days from the alert to `valid_until` (0: it ends within a day; negative: it has
    /// ended).
    pub days_left: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChanged {
    pub sid: String,
    pub account_sid: Option<String>,
    pub friendly_name: Option<String>,
    /// Which API the bundle lives on (`customer_profile`, `trust_product`,
    /// `regulatory_bundle`); `null` when it could not be learnt.
    #[serde(default)]
    pub kind: Option<crate::domain::BundleKind>,
    pub from: Option<String>,
    pub to: String,
    pub at: DateTime<Utc>,
    pub failure_reason: Option<String>,
    /// Trust Hub's evaluation, for a rejection; `null` otherwise or when it could not be fetched.
    pub evaluation: Option<EventEvaluation>,
    /// Why a rejection carries no evaluation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub evaluation_unavailable: Option<String>,
    /// The bundle's own `errors`, as Trust Hub returned them with the rejection's evaluation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub errors: Option<serde_json::Value>,
    /// For a decision (approval, provisional approval, rejection): whether Trust Hub's API
    /// confirmed it before it was announced (`false`: Trust Hub could not be reached in time).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub confirmed: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEvaluation {
    pub sid: String,
    pub status: String,
    pub results: serde_json::Value,
}

impl Event {
    /// The event of a transition, with the evaluation that explains it (for a rejection) and
    /// whether Trust Hub confirmed it (for a decision).
    pub fn status_changed(
        row: &TransitionRow,
        profile: Option<&Profile>,
        evaluation: Option<&EvaluationRecord>,
        evaluation_error: Option<&str>,
        confirmed: Option<bool>,
    ) -> Self {
        let t = &row.transition;
        let rejected = t.to == crate::domain::ProfileStatus::TwilioRejected;
        let evaluation_unavailable = (rejected && evaluation.is_none()).then(|| {
            format!(
                "Trust Hub's evaluation could not be fetched: {}",
                evaluation_error.unwrap_or("no evaluation was found")
            )
        });
        Self {
            kind: STATUS_CHANGED.to_owned(),
            timestamp: t.at,
            data: EventData::StatusChanged(StatusChanged {
                sid: row.profile_sid.clone(),
                account_sid: profile.and_then(|p| p.account_sid.clone()),
                friendly_name: profile.and_then(|p| p.friendly_name.clone()),
                kind: profile.and_then(|p| p.kind),
                from: t.from.as_ref().map(ToString::to_string),
                to: t.to.to_string(),
                at: t.at,
                failure_reason: t.failure_reason.clone(),
                evaluation: evaluation.map(|e| EventEvaluation {
                    sid: e.sid.clone(),
                    status: e.status.clone(),
                    results: e.results.clone(),
                }),
                evaluation_unavailable,
                errors: evaluation
                    .map(|e| e.profile_errors.clone())
                    .filter(|errors| !errors.is_null() && errors.as_array().is_none_or(|a| !a.is_empty())),
                confirmed,
            }),
        }
    }

    /// The event of a brand's, campaign's or toll-free verification's transition.
    pub fn compliance(object: &ComplianceObject, t: &ComplianceTransition) -> Self {
        Self {
            kind: object.kind.event_type().to_owned(),
            timestamp: t.at,
            data: EventData::Compliance(ComplianceChanged {
                kind: object.kind,
                sid: object.sid.clone(),
                account_sid: object.account_sid.clone(),
                from: t.from.clone(),
                to: t.to.clone(),
                at: t.at,
                errors: t.errors.clone(),
                links: object.links.clone(),
            }),
        }
    }

    /// The alert that `profile`'s approval ends at `valid_until`, as of `now`.
    pub fn expiring(profile: &Profile, valid_until: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Self {
            kind: EXPIRING.to_owned(),
            timestamp: now,
            data: EventData::Expiring(Expiring {
                sid: profile.sid.clone(),
                account_sid: profile.account_sid.clone(),
                friendly_name: profile.friendly_name.clone(),
                kind: profile.kind,
                status: profile.status.to_string(),
                valid_until,
                days_left: (valid_until - now).num_days(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    #[test]
    fn stored_events_are_read_back_as_their_type() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let profile = Profile {
            sid: format!("BU{}", "a".repeat(32)),
            account_sid: None,
            status: crate::domain::ProfileStatus::TwilioApproved,
            status_known: true,
            friendly_name: Some("Acme".into()),
            kind: Some(crate::domain::BundleKind::TrustProduct),
            valid_until: Some(at + chrono::Duration::days(20)),
            created_at: at,
            updated_at: at,
        };
        let expiring = Event::expiring(&profile, at + chrono::Duration::days(20), at);
        let json = serde_json::to_value(&expiring).unwrap();
        assert_eq!(json["type"], "profile.expiring");
        assert_eq!(json["data"]["days_left"], 20);
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), expiring);
        let changed = json!({"type": "profile.status_changed", "timestamp": at, "data": {
            "sid": profile.sid, "account_sid": null, "friendly_name": null, "from": null,
            "to": "in-review", "at": at, "failure_reason": null, "evaluation": null}});
        let read: Event = serde_json::from_value(changed).unwrap();
        assert!(matches!(read.data, EventData::StatusChanged(ref d) if d.to == "in-review"));
    }
}
