//! A JSON callback: the request's raw query line, then the body. The receiver flattens the
//! body into fields and signs the URL only when its `bodySHA256` carries the body's SHA-256.
//! Never panics; the hash check accepts exactly the body's hash, and a body whose hash is
//! carried first in the query is accepted whatever else the query holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trusthub_hooks::config::PublicUrl;
use trusthub_hooks::http::fuzzing::read;
use trusthub_hooks::config::CALLBACK_PATH;
use trusthub_hooks::twilio::signature::{self, Payload, PayloadError, BODY_SHA256_PARAM};
use trusthub_hooks_fuzz::{fields, text, PUBLIC_URL};

fuzz_target!(|data: &[u8]| {
    let [query, body] = fields::<2>(data);
    let Some(query) = text(query) else {
        return;
    };
    let reading = read("application/json", body).expect("JSON is accepted");
    assert!(reading.json);
    if serde_json::from_slice::<serde_json::Value>(body).is_err() {
        // An unreadable body is stored with its problem, and carries no fields to act on.
        assert!(reading.fields.is_empty() && reading.report.is_err());
    }

    let public = PublicUrl::parse(PUBLIC_URL).expect("a valid PUBLIC_URL");
    let query = (!query.is_empty()).then_some(query);
    let url = public.signed_url(CALLBACK_PATH, query);
    let hash = signature::body_sha256_hex(body);
    match signature::payload_signing_string(&url, Payload::Body(body)) {
        Ok(signed) => {
            assert_eq!(signed, url, "a JSON body is signed through the URL alone");
            assert_eq!(signature::body_sha256_param(&url).as_deref(), Some(hash.as_str()));
        }
        Err(PayloadError::MissingBodyHash) => assert_eq!(signature::body_sha256_param(&url), None),
        Err(PayloadError::BodyHashMismatch { expected, actual }) => {
            assert_eq!(actual, hash);
            assert_ne!(expected, hash);
        }
    }

    // Twilio puts bodySHA256 into the URL it calls; with it first, the rest of the query is free.
    let signed_query = match query {
        Some(query) => format!("{BODY_SHA256_PARAM}={hash}&{query}"),
        None => format!("{BODY_SHA256_PARAM}={hash}"),
    };
    let url = public.signed_url(CALLBACK_PATH, Some(&signed_query));
    assert_eq!(
        signature::payload_signing_string(&url, Payload::Body(body)),
        Ok(url.clone())
    );
    // And a different body under that hash is refused.
    let mut other = body.to_vec();
    match other.first_mut() {
        Some(byte) => *byte ^= 1,
        None => other.push(b' '),
    }
    assert!(matches!(
        signature::payload_signing_string(&url, Payload::Body(&other)),
        Err(PayloadError::BodyHashMismatch { .. })
    ));
});
