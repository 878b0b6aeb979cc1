//! A status callback's fields, read leniently: Twilio's names, other spellings of them, and
//! every extra field kept.

use super::sid::{AccountSid, ProfileSid, SidError};
use super::status::ProfileStatus;
use std::borrow::Cow;

/// Field names (lower-cased, without `_` and `-`) that may carry each value, best first.
const PROFILE_SID_NAMES: &[&str] = &[
    "bundlesid",
    "customerprofilesid",
    "customerprofilessid",
    "trustproductsid",
    "profilesid",
    "resourcesid",
    "sid",
];
const STATUS_NAMES: &[&str] = &["status", "bundlestatus", "profilestatus"];
const FAILURE_NAMES: &[&str] = &["failurereason", "failurereasons", "rejectionreason"];
const ACCOUNT_NAMES: &[&str] = &["accountsid"];
const FRIENDLY_NAMES: &[&str] = &["friendlyname"];

/// What a usable callback reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub account_sid: Option<AccountSid>,
    pub profile_sid: ProfileSid,
    pub status: ProfileStatus,
    pub failure_reason: Option<String>,
    pub friendly_name: Option<String>,
}

/// Why a correctly signed callback cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("the callback names no profile (expected BundleSid)")]
    MissingProfileSid,
    #[error("BundleSid: {0}")]
    InvalidProfileSid(SidError),
    #[error("the callback carries no Status")]
    MissingStatus,
    #[error("AccountSid: {0}")]
    InvalidAccountSid(SidError),
    #[error("the JSON body is not an object: {0}")]
    InvalidJson(String),
}

/// Whether `name`, lowercased without `_` and `-`, is `wanted` (compared as it goes: this
/// runs for every field against every accepted name of every callback). ASCII names, which
/// Twilio's all are, byte by byte.
fn is_named(name: &str, wanted: &str) -> bool {
    if name.is_ascii() {
        let mut wanted = wanted.bytes();
        return name
            .bytes()
            .filter(|b| !matches!(b, b'_' | b'-'))
            .all(|b| wanted.next() == Some(b.to_ascii_lowercase()))
            && wanted.next().is_none();
    }
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .eq(wanted.chars())
}

/// The first non-empty value of the best-ranked name present.
fn find<'a>(fields: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|wanted| {
        fields
            .iter()
            .find(|(name, value)| is_named(name, wanted) && !value.trim().is_empty())
            .map(|(_, value)| value.trim())
    })
}

/// The account SID as posted, before the signature is checked (it picks the token to check with).
pub fn posted_account(fields: &[(String, String)]) -> Option<&str> {
    find(fields, ACCOUNT_NAMES)
}

/// Flattens a JSON object body into fields: strings as they are, other values as JSON text.
pub fn fields_from_json(body: &[u8]) -> Result<Vec<(String, String)>, ReportError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ReportError::InvalidJson(e.to_string()))?;
    let serde_json::Value::Object(map) = value else {
        return Err(ReportError::InvalidJson("expected an object".into()));
    };
    Ok(map
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            (name, text)
        })
        .collect())
}

/// `text` as the report keeps it: a NUL (which PostgreSQL's text cannot hold) becomes U+FFFD,
/// so that both backends store and show the same. The callback's own fields keep every byte.
pub fn printable(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Reads the report out of a callback's fields.
pub fn parse_report(fields: &[(String, String)]) -> Result<StatusReport, ReportError> {
    let profile_sid = find(fields, PROFILE_SID_NAMES).ok_or(ReportError::MissingProfileSid)?;
    let profile_sid = ProfileSid::parse(profile_sid).map_err(ReportError::InvalidProfileSid)?;
    let status = find(fields, STATUS_NAMES).ok_or(ReportError::MissingStatus)?;
    let account_sid = posted_account(fields)
        .map(AccountSid::parse)
        .transpose()
        .map_err(ReportError::InvalidAccountSid)?;
    Ok(StatusReport {
        account_sid,
        profile_sid,
        status: ProfileStatus::from_wire(&printable(status)),
        failure_reason: find(fields, FAILURE_NAMES).map(|text| printable(text).into_owned()),
        friendly_name: find(fields, FRIENDLY_NAMES).map(|text| printable(text).into_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    const BU: &str = "BUaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const AC: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn names_are_compared_lowercased_without_separators_ascii_or_not() {
        let reference = |name: &str, wanted: &str| name.to_lowercase().replace(['_', '-'], "") == wanted;
        let names = [
            "BundleSid",
            "bundle_sid",
            "BUNDLE-SID",
            "_Bundle_Sid-",
            "BundleSi",
            "BundleSids",
            "b_u_n_d_l_e_s_i_d",
            "BÜndleSid",
            "Status",
            "STATUS",
            "ſtatus",
            "AccountSİd",
            "",
            "-",
        ];
        let wanted = [
            PROFILE_SID_NAMES,
            STATUS_NAMES,
            FAILURE_NAMES,
            ACCOUNT_NAMES,
            FRIENDLY_NAMES,
        ]
        .concat();
        let mut matched = 0;
        for wanted in &wanted {
            for name in names {
                assert_eq!(
                    is_named(name, wanted),
                    reference(name, wanted),
                    "{name:?} as {wanted:?}"
                );
                matched += usize::from(is_named(name, wanted));
            }
        }
        assert_eq!(matched, 7, "five spellings of BundleSid, two of Status");
    }

    #[test]
    fn reads_twilio_names() {
        let report = parse_report(&f(&[
            ("AccountSid", AC),
            ("BundleSid", BU),
            ("Status", "twilio-rejected"),
            ("FailureReason", "Name mismatch"),
            ("Extra", "kept elsewhere"),
        ]))
        .unwrap();
        assert_eq!(report.profile_sid.as_str(), BU);
        assert_eq!(report.account_sid.unwrap().as_str(), AC);
        assert_eq!(report.status, ProfileStatus::TwilioRejected);
        assert_eq!(report.failure_reason.as_deref(), Some("Name mismatch"));
    }

    #[test]
    fn reads_other_spellings_and_prefers_bundle_sid() {
        let report = parse_report(&f(&[
            ("sid", "BUcccccccccccccccccccccccccccccccc"),
            ("customer_profile_sid", BU),
            ("status", "in-review"),
            ("failure_reason", ""),
        ]))
        .unwrap();
        assert_eq!(report.profile_sid.as_str(), BU);
        assert_eq!(report.failure_reason, None);
        assert_eq!(report.account_sid, None);
    }

    #[test]
    fn unusable_callbacks_say_why() {
        assert_eq!(
            parse_report(&f(&[("Status", "draft")])),
            Err(ReportError::MissingProfileSid)
        );
        assert_eq!(
            parse_report(&f(&[("BundleSid", BU)])),
            Err(ReportError::MissingStatus)
        );
        assert!(matches!(
            parse_report(&f(&[("BundleSid", "BU1"), ("Status", "draft")])),
            Err(ReportError::InvalidProfileSid(_))
        ));
    }

    #[test]
    fn json_bodies_flatten() {
        let body =
            br#"{"BundleSid":"BUaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","Status":"draft","Errors":[1,2],"X":null}"#;
        let fields = fields_from_json(body).unwrap();
        assert!(fields.contains(&("Errors".into(), "[1,2]".into())));
        assert_eq!(parse_report(&fields).unwrap().status, ProfileStatus::Draft);
        assert!(fields_from_json(b"[1]").is_err());
        assert!(fields_from_json(b"\xff").is_err());
    }

    #[test]
    fn a_nul_in_the_report_becomes_a_replacement_character() {
        let report = parse_report(&f(&[
            ("BundleSid", "BUaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            ("Status", "in\0review"),
            ("FailureReason", "bad\0reason"),
            ("FriendlyName", "\0Acme"),
        ]))
        .unwrap();
        assert_eq!(report.status.as_wire(), "in\u{FFFD}review");
        assert_eq!(report.failure_reason.as_deref(), Some("bad\u{FFFD}reason"));
        assert_eq!(report.friendly_name.as_deref(), Some("\u{FFFD}Acme"));
        let unusable = parse_report(&f(&[("BundleSid", "BU\0"), ("Status", "draft")])).unwrap_err();
        assert!(!unusable.to_string().contains('\0'), "{unusable}");
    }
}
