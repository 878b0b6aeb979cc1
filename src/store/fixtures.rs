//! Callbacks for the bulk paths' unit tests on both backends.

use super::CallbackRecord;
use crate::domain::{AccountSid, ProfileSid, ProfileStatus, StatusReport};
use chrono::DateTime;

/// A tokened callback for profile `n` (profile 4 has no account), received `second`s after a
/// fixed instant.
pub fn callback(token: &str, n: u32, status: &str, second: i64, name: Option<&str>) -> CallbackRecord {
    let account = (n != 4).then(|| AccountSid::parse(&format!("AC{:032x}", 9)).unwrap());
    CallbackRecord {
        idempotency_token: Some(token.to_owned()),
        body_hash: format!("hash-{token}"),
        account_sid: account.clone(),
        report: Ok(StatusReport {
            account_sid: account,
            profile_sid: ProfileSid::parse(&format!("BU{n:032x}")).unwrap(),
            status: ProfileStatus::from_wire(status),
            failure_reason: (status == "twilio-rejected").then(|| "EIN mismatch".to_owned()),
            friendly_name: name.map(str::to_owned),
        }),
        content_type: "application/x-www-form-urlencoded".into(),
        fields: vec![("Status".into(), status.into())],
        credential: "account".into(),
        received_at: DateTime::from_timestamp(1_800_000_000 + second, 0).unwrap(),
    }
}

/// `record` as sent by another account than the fixtures' own (its bundles belong to that one).
pub fn foreign(mut record: CallbackRecord) -> CallbackRecord {
    let other = AccountSid::parse(&format!("AC{:032x}", 8)).unwrap();
    record.account_sid = Some(other.clone());
    if let Ok(report) = &mut record.report {
        report.account_sid = Some(other);
    }
    record
}
