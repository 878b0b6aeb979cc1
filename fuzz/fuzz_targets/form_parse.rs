//! A callback's body as the receiver reads it: the `Content-Type` line, then the raw body.
//! Never panics, refuses exactly what is neither form-encoded nor JSON, and a usable report
//! carries well-formed SIDs drawn from the fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trusthub_hooks::domain::{AccountSid, ProfileSid};
use trusthub_hooks::http::fuzzing::read;
use trusthub_hooks_fuzz::{fields, text};

fuzz_target!(|data: &[u8]| {
    let [content_type, body] = fields::<2>(data);
    let Some(content_type) = text(content_type) else {
        return;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some(reading) = read(content_type, body) else {
        assert!(
            !matches!(
                essence.as_str(),
                "application/x-www-form-urlencoded" | "application/json"
            ),
            "{content_type:?} refused"
        );
        return;
    };
    assert_eq!(reading.content_type, essence);
    assert_eq!(reading.json, essence == "application/json");
    // The media type is case-insensitive (RFC 9110), so its case must not change the reading.
    let upper = read(&content_type.to_ascii_uppercase(), body).expect("upper-case content type");
    assert_eq!(upper.fields, reading.fields);

    if !reading.json {
        // Re-encoding the fields and reading them again gives the same fields: what is signed
        // (the decoded parameters) does not depend on how the sender chose to encode them.
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&reading.fields)
            .finish();
        let again = read(content_type, encoded.as_bytes()).expect("same content type");
        assert_eq!(again.fields, reading.fields);
        assert_eq!(again.account, reading.account);
    }
    if let Some(account) = &reading.account {
        assert!(!account.is_empty() && account.trim() == account);
        assert!(reading.fields.iter().any(|(_, value)| value.trim() == account));
    }
    if let Ok(report) = &reading.report {
        assert_eq!(
            ProfileSid::parse(report.profile_sid.as_str()).as_ref(),
            Ok(&report.profile_sid)
        );
        assert!(reading
            .fields
            .iter()
            .any(|(_, value)| value.trim() == report.profile_sid.as_str()));
        let posted = reading.account.as_deref().map(AccountSid::parse);
        assert_eq!(report.account_sid.clone().map(Ok), posted);
    }
});
