//! The outbound event of the contract: `profile.status_changed`.

use crate::store::{EvaluationRecord, Profile, TransitionRow};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const STATUS_CHANGED: &str = "profile.status_changed";
/// Every event type a subscription may filter on.
pub const EVENT_TYPES: &[&str] = &[STATUS_CHANGED];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: DateTime<Utc>,
    pub data: StatusChanged,
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
            data: StatusChanged {
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
            },
        }
    }
}
