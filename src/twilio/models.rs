//! Trust Hub resources as `../shared/twilio/trusthub_v1.json` describes them. Unknown fields
//! are ignored; fields Twilio may leave out are optional.

use crate::domain::ProfileStatus;
use serde::{Deserialize, Serialize};

/// `trusthub.v1.customer_profile`, and the bundles shaped like it: `trusthub.v1.trust_product`
/// and `numbers.v2.regulatory_compliance.bundle` (whose policy is its `regulation_sid`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct CustomerProfile {
    pub sid: String,
    pub account_sid: Option<String>,
    #[serde(alias = "regulation_sid")]
    pub policy_sid: Option<String>,
    pub friendly_name: Option<String>,
    pub status: ProfileStatus,
    pub email: Option<String>,
    pub status_callback: Option<String>,
    pub date_created: Option<String>,
    pub date_updated: Option<String>,
    /// Until when an approval holds (ISO 8601); `null` otherwise.
    #[serde(default)]
    pub valid_until: Option<String>,
    /// The error codes of a rejection, as Twilio returns them.
    #[serde(default)]
    pub errors: Option<serde_json::Value>,
}

impl CustomerProfile {
    /// `valid_until` as a time; `None` when absent or unreadable (never a reason to fail).
    pub fn valid_until(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let raw = self.valid_until.as_deref()?;
        chrono::DateTime::parse_from_rfc3339(raw)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    /// The profile's status as a report, as Trust Hub states it (no failure reason: Trust Hub
    /// gives its `errors` instead). `None` when its SID is not a customer profile SID.
    pub fn report(&self) -> Option<crate::domain::StatusReport> {
        Some(crate::domain::StatusReport {
            account_sid: self
                .account_sid
                .as_deref()
                .and_then(|a| crate::domain::AccountSid::parse(a).ok()),
            profile_sid: crate::domain::ProfileSid::parse(&self.sid).ok()?,
            status: self.status.clone(),
            failure_reason: None,
            friendly_name: self.friendly_name.clone(),
        })
    }
}

/// `trusthub.v1.customer_profile.customer_profile_evaluation` (and a trust product's or
/// regulatory bundle's, named by their own fields), with `results` kept as returned.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Evaluation {
    pub sid: String,
    pub account_sid: Option<String>,
    #[serde(alias = "regulation_sid")]
    pub policy_sid: Option<String>,
    #[serde(alias = "trust_product_sid", alias = "bundle_sid")]
    pub customer_profile_sid: Option<String>,
    /// `compliant` or `noncompliant`.
    pub status: String,
    #[serde(default)]
    pub results: serde_json::Value,
    pub date_created: Option<String>,
}

impl Evaluation {
    /// The requirements that failed, with Twilio's reasons and the invalid fields.
    pub fn failures(&self) -> Vec<Failure> {
        let Some(results) = self.results.as_array() else {
            return Vec::new();
        };
        results
            .iter()
            .filter(|r| r["passed"] == serde_json::Value::Bool(false))
            .map(|r| Failure {
                requirement: text(&r["friendly_name"])
                    .or_else(|| text(&r["object_type"]))
                    .unwrap_or_default(),
                reason: text(&r["failure_reason"]),
                error_code: r["error_code"].as_i64(),
                invalid_fields: r["invalid"]
                    .as_array()
                    .map(|fields| {
                        fields
                            .iter()
                            .map(|f| InvalidField {
                                field: text(&f["friendly_name"])
                                    .or_else(|| text(&f["object_field"]))
                                    .unwrap_or_default(),
                                reason: text(&f["failure_reason"]),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect()
    }
}

fn text(value: &serde_json::Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// One failed requirement of an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub requirement: String,
    pub reason: Option<String>,
    pub error_code: Option<i64>,
    pub invalid_fields: Vec<InvalidField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidField {
    pub field: String,
    pub reason: Option<String>,
}

/// Any created resource, of which only the SID matters here.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Created {
    pub sid: String,
}

/// Twilio's paging envelope: the items sit under `meta.key`.
#[derive(Debug, Clone, Deserialize)]
pub struct PageMeta {
    pub next_page_url: Option<String>,
    pub key: String,
}

/// Twilio's error body.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    pub code: Option<i64>,
    pub message: Option<String>,
    pub more_info: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_from_the_documented_example() {
        let examples: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/twilio/trusthub_examples.json")).unwrap();
        let evaluation: Evaluation =
            serde_json::from_value(examples["evaluation_create_201"]["create"]["value"].clone()).unwrap();
        assert_eq!(evaluation.status, "noncompliant");
        let failures = evaluation.failures();
        assert!(!failures.is_empty());
        let business = &failures[0];
        assert_eq!(business.requirement, "Business");
        assert_eq!(business.error_code, Some(22214));
        assert!(business
            .reason
            .as_deref()
            .unwrap()
            .contains("Business End-User is missing"));
        assert_eq!(business.invalid_fields[0].field, "Business Name");
        let profile: CustomerProfile =
            serde_json::from_value(examples["customer_profile_fetch_200"]["fetch"]["value"].clone()).unwrap();
        assert_eq!(profile.status, ProfileStatus::Draft);
        assert_eq!(profile.errors, Some(serde_json::json!([{"code": 18601}])));
    }
}
