//! The signature verifier alone: verifications per second for a typical Trust Hub callback
//! (four form fields, one account, the URL as received), the worst case (the signature matches
//! the second URL variant with the second token of a rotation), and a forged one (every
//! candidate tried). `cargo bench --bench verifier`.

use std::hint::black_box;
use std::time::Instant;
use trusthub_hooks::config::Config;
use trusthub_hooks::twilio::signature::{self, Algorithm, Payload};
use trusthub_hooks::twilio::{SignedRequest, Verifier};

const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const URL: &str = "https://hooks.example.com/twilio/status-callback";

fn main() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        format!("[[accounts]]\naccount_sid = \"{ACCOUNT}\"\nauth_token = \"new-token\"\nprevious_auth_tokens = [\"old-token\"]\n"),
    )
    .unwrap();
    let verifier = Verifier::from_config(&Config::load_from(Some(file.path()), []).unwrap());
    let params: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT),
        ("BundleSid", "BUbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        ("Status", "twilio-rejected"),
        ("FailureReason", "Business name does not match the registration"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let sign = |url: &str, token: &str| {
        signature::compute(
            token.as_bytes(),
            Algorithm::HmacSha1,
            &signature::signing_string(url, &params),
        )
    };
    let cases = [
        ("typical (first candidate)", sign(URL, "new-token")),
        (
            "rotation, port variant",
            sign(
                "https://hooks.example.com:443/twilio/status-callback",
                "old-token",
            ),
        ),
        ("forged (all 4 tried)", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned()),
    ];
    let n = 200_000;
    for (name, sig) in &cases {
        let started = Instant::now();
        for _ in 0..n {
            let verdict = verifier.verify(black_box(&SignedRequest {
                url: URL,
                signature: Some(sig),
                settings: None,
                payload: Payload::Form(&params),
                account: Some(ACCOUNT),
            }));
            black_box(verdict.result.is_ok());
        }
        let elapsed = started.elapsed();
        println!(
            "{name:<28} {n} verifications in {:>6.0} ms: {:>8.0} per second per core ({:.2} µs each)",
            elapsed.as_secs_f64() * 1e3,
            n as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1e6 / n as f64
        );
    }
}
