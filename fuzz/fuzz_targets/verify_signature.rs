//! The verifier against its own signer. Lines: the URL as received, the `Content-Type`, the
//! `X-Twilio-Webhooks-Signature-Settings` header, the `X-Twilio-Signature`, then the body.
//!
//! The request as received must never panic, and an acceptance must rest on one matching
//! attempt. Then the oracle: the signature our signer computes for the request (with the secret
//! and URL candidate the verifier's rules select) must verify, against that candidate, unless
//! the rules say why not; and that signature with one byte changed must not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trusthub_hooks::domain::AccountSid;
use trusthub_hooks::http::fuzzing::read;
use trusthub_hooks::twilio::signature::{self, Algorithm, Payload, SignatureSettings};
use trusthub_hooks::twilio::{Rejection, SignedRequest};
use trusthub_hooks_fuzz::{fields, text, verifier, ACCOUNT, SHARED_KEY, SHARED_SECRET, TOKENS};

fuzz_target!(|data: &[u8]| {
    let [url, content_type, settings, received_signature, body] = fields::<5>(data);
    let (Some(url), Some(content_type), Some(settings), Some(received_signature)) = (
        text(url),
        text(content_type),
        text(settings),
        text(received_signature),
    ) else {
        return;
    };
    let Some(reading) = read(content_type, body) else {
        return;
    };
    let payload = if reading.json {
        Payload::Body(body)
    } else {
        Payload::Form(&reading.fields)
    };
    let received = SignedRequest {
        url,
        signature: Some(received_signature),
        settings: (!settings.is_empty()).then_some(settings),
        payload,
        account: reading.account.as_deref(),
    };
    let request = |signature| SignedRequest {
        signature: Some(signature),
        ..received
    };
    let verifier = verifier();

    let verdict = verifier.verify(&received);
    assert!(verdict.attempts.iter().filter(|a| a.matched).count() <= 1);
    if let Ok(verified) = &verdict.result {
        let last = verdict.attempts.last().expect("an accepted request was tried");
        assert!(last.matched && last.url == verified.url && last.credential == verified.credential);
    }

    // The received signature's bytes choose the candidate, the token and the byte to change.
    let pick = |i: usize| usize::from(received_signature.as_bytes().get(i).copied().unwrap_or(0));
    let (secret, algorithm) = match credential(settings, reading.account.as_deref(), pick(1)) {
        Ok(credential) => credential,
        Err(rejection) => {
            assert_eq!(verifier.verify(&request("x")).result, Err(rejection));
            return;
        }
    };
    let candidates = signature::url_candidates(url);
    let chosen = pick(0) % candidates.len();
    let mut data = String::new();
    for candidate in &candidates[..=chosen] {
        match signature::payload_signing_string(candidate, payload) {
            Ok(signed) => data = signed,
            Err(problem) => {
                assert_eq!(
                    verifier.verify(&request("x")).result,
                    Err(Rejection::Payload(problem))
                );
                return;
            }
        }
    }
    let good = signature::compute(secret.as_bytes(), algorithm, &data);
    let verified = match verifier.verify(&request(&good)).result {
        Ok(verified) => verified,
        Err(rejection) => panic!(
            "our own signature for {:?} was refused: {rejection}",
            candidates[chosen]
        ),
    };
    assert_eq!(verified.url, candidates[chosen]);
    let posted = reading.account.as_deref().and_then(|a| AccountSid::parse(a).ok());
    let shared = secret == SHARED_SECRET;
    assert_eq!(
        verified.account,
        posted.or_else(|| (!shared).then(|| AccountSid::parse(ACCOUNT).unwrap()))
    );

    let mut forged = good.clone().into_bytes();
    let at = pick(2) % forged.len();
    // XOR below 0x80 keeps the base64 text ASCII, so it stays a header value.
    forged[at] ^= (pick(3) % 0x7f + 1) as u8;
    let forged = String::from_utf8(forged).expect("ASCII");
    assert!(
        verifier.verify(&request(&forged)).result.is_err(),
        "{forged:?} verified"
    );
});

/// The secret and algorithm the verifier's rules select, or why they select none.
fn credential(
    settings: &str,
    account: Option<&str>,
    token: usize,
) -> Result<(&'static str, Algorithm), Rejection> {
    if let Some(account) = account.filter(|a| *a != ACCOUNT) {
        return Err(Rejection::UnknownAccount(account.to_owned()));
    }
    if settings.trim().is_empty() {
        return Ok((TOKENS[token % TOKENS.len()], Algorithm::HmacSha1));
    }
    let settings = SignatureSettings::parse(settings);
    let algorithm = Algorithm::from_wire(&settings.algorithm)
        .ok_or_else(|| Rejection::UnsupportedAlgorithm(settings.algorithm.clone()))?;
    match settings.key {
        None => Err(Rejection::SharedKeyUnnamed),
        // The key is pinned to HMAC-SHA256 (the default): a header naming another is refused.
        Some(key) if key == SHARED_KEY && algorithm != Algorithm::HmacSha256 => Err(Rejection::AlgorithmNotPinned {
            key,
            named: settings.algorithm,
            pinned: Algorithm::HmacSha256,
        }),
        Some(key) if key == SHARED_KEY => Ok((SHARED_SECRET, algorithm)),
        Some(key) => Err(Rejection::UnknownSharedKey(key)),
    }
}
