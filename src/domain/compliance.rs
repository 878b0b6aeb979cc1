//! What Twilio's Event Streams report about A2P 10DLC brands, campaigns and toll-free
//! verifications: CloudEvents (`specversion`, `type`, `id`, `time`, `data`) whose `data` names
//! the object in lower-case run-together fields (`brandsid`, `brandstatus`,
//! `brandregistrationerrors`, `campaignsid`, `campaignregistrationstatus`,
//! `tollfreeverificationsid`, `verificationstatus`, …; Twilio's event-type pages,
//! `/docs/events/event-types/a2p` and `/toll-free`). Statuses are kept as Twilio sends them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The objects Event Streams reports on beside bundles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComplianceKind {
    Brand,
    Campaign,
    TollfreeVerification,
}

impl ComplianceKind {
    pub const ALL: [Self; 3] = [Self::Brand, Self::Campaign, Self::TollfreeVerification];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Brand => "brand",
            Self::Campaign => "campaign",
            Self::TollfreeVerification => "tollfree_verification",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// The outbound event type of its status changes.
    pub fn event_type(self) -> &'static str {
        match self {
            Self::Brand => "brand.status_changed",
            Self::Campaign => "campaign.status_changed",
            Self::TollfreeVerification => "tollfree_verification.status_changed",
        }
    }

    /// As a sentence names it.
    pub fn title(self) -> &'static str {
        match self {
            Self::Brand => "A2P brand",
            Self::Campaign => "A2P campaign",
            Self::TollfreeVerification => "Toll-free verification",
        }
    }
}

impl std::fmt::Display for ComplianceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an object is linked to, as far as known (every field optional: events carry some,
/// the Messaging API the rest).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Links {
    /// A brand's secondary customer profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_profile_bundle_sid: Option<String>,
    /// A brand's A2P messaging profile (a trust product).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a2p_profile_bundle_sid: Option<String>,
    /// A campaign's brand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_sid: Option<String>,
    /// A campaign's messaging service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_service_sid: Option<String>,
    /// A toll-free verification's customer profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_profile_sid: Option<String>,
    /// A toll-free verification's trust product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_product_sid: Option<String>,
    /// A toll-free verification's phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_sid: Option<String>,
}

impl Links {
    /// Whether what this kind is linked to is known (else it is fetched once).
    pub fn complete_for(&self, kind: ComplianceKind) -> bool {
        match kind {
            ComplianceKind::Brand => self.customer_profile_bundle_sid.is_some(),
            ComplianceKind::Campaign => self.brand_sid.is_some() && self.messaging_service_sid.is_some(),
            ComplianceKind::TollfreeVerification => self.customer_profile_sid.is_some(),
        }
    }

    /// `self`, with what it lacks taken from `other`.
    pub fn or(self, other: Links) -> Links {
        Links {
            customer_profile_bundle_sid: self
                .customer_profile_bundle_sid
                .or(other.customer_profile_bundle_sid),
            a2p_profile_bundle_sid: self.a2p_profile_bundle_sid.or(other.a2p_profile_bundle_sid),
            brand_sid: self.brand_sid.or(other.brand_sid),
            messaging_service_sid: self.messaging_service_sid.or(other.messaging_service_sid),
            customer_profile_sid: self.customer_profile_sid.or(other.customer_profile_sid),
            trust_product_sid: self.trust_product_sid.or(other.trust_product_sid),
            phone_number_sid: self.phone_number_sid.or(other.phone_number_sid),
        }
    }
}

/// One status of one object, as an event reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplianceReport {
    pub kind: ComplianceKind,
    pub sid: String,
    /// Twilio's own word, as sent (`registered`, `registration_failed`, `approved`, …).
    pub status: String,
    /// Twilio's errors as sent (`brandregistrationerrors`, `campaignregistrationerrors`, a
    /// toll-free verification's rejection reasons, or an `errorcode`), `null` when none.
    pub errors: Value,
    pub links: Links,
    /// When Twilio says it happened (the event's own time when `data` gives none).
    pub at: DateTime<Utc>,
}

/// One event of a sink's request.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// CloudEvents `id`: what makes a redelivery a duplicate.
    pub id: String,
    /// CloudEvents `type`.
    pub event_type: String,
    /// `data.accountsid`.
    pub account_sid: Option<String>,
    /// The event as received.
    pub body: Value,
    /// What it reports, when it is a compliance event this version reads; `None` for any
    /// other type (kept and acknowledged, never refused).
    pub report: Option<ComplianceReport>,
}

/// Why a sink's request cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventsError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("expected a CloudEvents object or an array of them")]
    NotEvents,
    #[error("event {0}: {1}")]
    Event(usize, String),
    #[error("the events name more than one account ({0} and {1}): a sink belongs to one")]
    MixedAccounts(String, String),
}

/// Reads a sink's body: one event or a batch.
pub fn parse_events(body: &[u8]) -> Result<Vec<StreamEvent>, EventsError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| EventsError::NotJson(e.to_string()))?;
    let items = match value {
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        _ => return Err(EventsError::NotEvents),
    };
    if items.is_empty() {
        return Err(EventsError::NotEvents);
    }
    let events = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| parse_event(item).map_err(|why| EventsError::Event(i, why)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut accounts = events.iter().filter_map(|e| e.account_sid.as_deref());
    if let Some(first) = accounts.next() {
        if let Some(other) = accounts.find(|a| *a != first) {
            return Err(EventsError::MixedAccounts(first.to_owned(), other.to_owned()));
        }
    }
    Ok(events)
}

/// The account a sink's body names (for picking the key to verify it with), read leniently:
/// the first `data.accountsid`, whatever else is wrong with the body.
pub fn named_account(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let first = match &value {
        Value::Array(items) => items.first()?,
        object => object,
    };
    text(&first["data"]["accountsid"])
}

fn text(value: &Value) -> Option<String> {
    value
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 256 && !s.contains('\0'))
        .map(str::to_owned)
}

/// A SID as events carry it: two letters and up to 64 alphanumerics.
fn sid_in(value: &Value) -> Option<String> {
    let raw = text(value)?;
    let valid = raw.len() >= 3
        && raw.len() <= 66
        && raw.as_bytes()[..2].iter().all(u8::is_ascii_uppercase)
        && raw.bytes().all(|b| b.is_ascii_alphanumeric());
    valid.then_some(raw)
}

/// A time in `data`: milliseconds since the epoch (as Twilio sends them) or ISO 8601.
fn time(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Number(n) => DateTime::from_timestamp_millis(n.as_i64()?),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        _ => None,
    }
}

fn parse_event(item: Value) -> Result<StreamEvent, String> {
    let id = text(&item["id"]).ok_or("no id")?;
    let event_type = text(&item["type"]).ok_or("no type")?;
    let data = &item["data"];
    let account_sid = text(&data["accountsid"]);
    let report = report(&event_type, data, text(&item["time"]).as_deref());
    Ok(StreamEvent {
        id,
        event_type,
        account_sid,
        body: item,
        report,
    })
}

/// The object a compliance event reports on, by the fields its `data` carries.
fn report(event_type: &str, data: &Value, event_time: Option<&str>) -> Option<ComplianceReport> {
    if !event_type.starts_with("com.twilio.messaging.compliance.") {
        return None;
    }
    let (kind, sid, status, errors) = if let Some(sid) = sid_in(&data["tollfreeverificationsid"]) {
        let errors = first_present(data, &["rejectionreasons", "rejectionreason", "errorcode"]);
        (
            ComplianceKind::TollfreeVerification,
            sid,
            text(&data["verificationstatus"]),
            errors,
        )
    } else if let Some(sid) = sid_in(&data["campaignsid"]) {
        let errors = first_present(data, &["campaignregistrationerrors", "errors", "errorcode"]);
        (
            ComplianceKind::Campaign,
            sid,
            text(&data["campaignregistrationstatus"]),
            errors,
        )
    } else if let Some(sid) = sid_in(&data["brandsid"]) {
        let errors = first_present(data, &["brandregistrationerrors", "errors", "errorcode"]);
        (ComplianceKind::Brand, sid, text(&data["brandstatus"]), errors)
    } else {
        return None;
    };
    // An event without a status word is named by its type's last part (`brand-registered`).
    let status = status.unwrap_or_else(|| event_type.rsplit('.').next().unwrap_or(event_type).to_owned());
    let links = Links {
        customer_profile_bundle_sid: sid_in(&data["customerprofilebundlesid"]),
        a2p_profile_bundle_sid: sid_in(&data["a2pprofilebundlesid"]),
        brand_sid: (kind == ComplianceKind::Campaign)
            .then(|| sid_in(&data["brandsid"]))
            .flatten(),
        messaging_service_sid: sid_in(&data["messagingservicesid"]),
        customer_profile_sid: sid_in(&data["customerprofilesid"]),
        trust_product_sid: sid_in(&data["trustproductsid"]),
        phone_number_sid: sid_in(&data["phonenumbersid"]),
    };
    let at = ["timestamp", "updateddate", "processeddate"]
        .iter()
        .find_map(|field| time(&data[*field]))
        .or_else(|| event_time.and_then(|t| time(&Value::String(t.to_owned()))))
        .unwrap_or_else(Utc::now);
    Some(ComplianceReport {
        kind,
        sid,
        status,
        errors,
        links,
        at,
    })
}

/// The first of `fields` present and not empty, as sent; `null` when none is.
fn first_present(data: &Value, fields: &[&str]) -> Value {
    fields
        .iter()
        .map(|f| &data[*f])
        .find(|v| match v {
            Value::Null => false,
            Value::Array(a) => !a.is_empty(),
            Value::String(s) => !s.is_empty(),
            _ => true,
        })
        .cloned()
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Twilio's own example of a brand failure (`/docs/events/event-types/a2p/brand-registration`).
    fn brand_failure() -> Value {
        json!({
            "specversion": "1.0",
            "type": "com.twilio.messaging.compliance.brand-registration.brand-failure",
            "source": "AB00000000000000000000000001",
            "id": "NO00000000000000000000000001",
            "dataschema": "https://events-schemas.twilio.com/A2P.BrandRegistrationFailure/3",
            "datacontenttype": "2025-10-08T07:17:02.363Z",
            "data": {
                "accountsid": "AC0000000000000000000000000000001",
                "brandsid": "BN0000000000000000000000000000001",
                "brandstatus": "registration_failed",
                "createddate": 1756043494500u64,
                "updateddate": 1756043494500u64,
                "brandregistrationerrors": [{
                    "registrationerrorcode": 21736,
                    "registrationerrordescription": "The Brand contact email is invalid.",
                    "registrationerrorurl": "https://www.twilio.com/docs/api/errors/21736",
                    "registrationerrorfields": ["brand_contact_email"]
                }]
            }
        })
    }

    #[test]
    fn reads_twilios_examples() {
        let events = parse_events(brand_failure().to_string().as_bytes()).unwrap();
        let report = events[0].report.as_ref().unwrap();
        assert_eq!(report.kind, ComplianceKind::Brand);
        assert_eq!(report.sid, "BN0000000000000000000000000000001");
        assert_eq!(report.status, "registration_failed");
        assert_eq!(report.errors[0]["registrationerrorcode"], 21736);
        assert_eq!(report.at.timestamp_millis(), 1_756_043_494_500);
        assert_eq!(
            events[0].account_sid.as_deref(),
            Some("AC0000000000000000000000000000001")
        );

        let campaign = json!([{
            "specversion": "1.0", "id": "NO2", "time": "2025-10-08T07:17:02Z",
            "type": "com.twilio.messaging.compliance.campaign-registration.campaign-approved",
            "data": {"accountsid": "AC1", "brandsid": "BN1", "campaignsid": "CM1",
                     "messagingservicesid": "MG1", "campaignregistrationstatus": "approved"}
        }]);
        let events = parse_events(campaign.to_string().as_bytes()).unwrap();
        let report = events[0].report.as_ref().unwrap();
        assert_eq!(
            (report.kind, report.status.as_str()),
            (ComplianceKind::Campaign, "approved")
        );
        assert_eq!(report.links.brand_sid.as_deref(), Some("BN1"));
        assert!(report.links.complete_for(ComplianceKind::Campaign));
        assert_eq!(report.errors, Value::Null);
        assert_eq!(report.at.to_rfc3339(), "2025-10-08T07:17:02+00:00");

        let tollfree = json!({
            "id": "NO3", "type": "com.twilio.messaging.compliance.toll-free-verification.edit",
            "data": {"accountsid": "AC1", "tollfreeverificationsid": "HH1",
                     "customerprofilesid": "BU1", "verificationstatus": "in_review"}
        });
        let events = parse_events(tollfree.to_string().as_bytes()).unwrap();
        let report = events[0].report.as_ref().unwrap();
        assert_eq!(report.kind, ComplianceKind::TollfreeVerification);
        assert_eq!(report.links.customer_profile_sid.as_deref(), Some("BU1"));
    }

    #[test]
    fn unknown_types_are_kept_without_a_report_and_bad_bodies_refused() {
        let other = json!({"id": "NO9", "type": "com.twilio.messaging.message.delivered", "data": {"accountsid": "AC1"}});
        let events = parse_events(other.to_string().as_bytes()).unwrap();
        assert!(events[0].report.is_none());
        assert!(matches!(parse_events(b"[]"), Err(EventsError::NotEvents)));
        assert!(matches!(parse_events(b"{"), Err(EventsError::NotJson(_))));
        assert!(matches!(
            parse_events(br#"[{"type": "x"}]"#),
            Err(EventsError::Event(0, _))
        ));
        let mixed = json!([
            {"id": "1", "type": "t", "data": {"accountsid": "AC1"}},
            {"id": "2", "type": "t", "data": {"accountsid": "AC2"}}
        ]);
        assert!(matches!(
            parse_events(mixed.to_string().as_bytes()),
            Err(EventsError::MixedAccounts(..))
        ));
        assert_eq!(
            named_account(mixed.to_string().as_bytes()).as_deref(),
            Some("AC1")
        );
    }
}
