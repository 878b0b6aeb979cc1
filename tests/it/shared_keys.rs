//! Webhook SharedKeys through the receiver: each key is pinned to one algorithm (its
//! `algorithm`, HMAC-SHA256 unless it says otherwise) and signs only for the accounts it is
//! bound to; a request naming another algorithm or account is refused `403` with the generic
//! answer, and nothing is stored.

use crate::support::{bundle, Backend, TestApp, ACCOUNT, PUBLIC_URL, TOKEN};
use trusthub_hooks::twilio::signature::{compute, signing_string, Algorithm};

const CALLBACK: &str = "/th/twilio/status-callback";
const SECOND: &str = "ACdddddddddddddddddddddddddddddddd";
const SETTINGS: &str = "X-Twilio-Webhooks-Signature-Settings";

fn config() -> String {
    format!(
        r#"
[[accounts]]
account_sid = "{ACCOUNT}"
auth_token = "{TOKEN}"

[[accounts]]
account_sid = "{SECOND}"
auth_token = "second-token-0123456789"

[[shared_keys]]
key = "key_sha256"
secret = "secret-of-the-sha256-key"
accounts = ["{ACCOUNT}"]

[[shared_keys]]
key = "key_sha1"
secret = "secret-of-the-sha1-key"
algorithm = "HMAC_SHA1"
accounts = ["{ACCOUNT}", "{SECOND}"]
"#
    )
}

/// Posts a callback for `account` signed with `secret` under `algorithm`, the settings header
/// naming `key` and `named` as the algorithm; returns the status and the JSON answer.
async fn post(
    app: &TestApp,
    account: &str,
    sid: &str,
    (key, secret): (&str, &str),
    algorithm: Algorithm,
    named: &str,
) -> (u16, serde_json::Value) {
    let params = [
        ("AccountSid", account),
        ("BundleSid", sid),
        ("Status", "in-review"),
    ];
    let owned: Vec<(String, String)> = params.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect();
    let url = format!("{PUBLIC_URL}/twilio/status-callback");
    let signature = compute(secret.as_bytes(), algorithm, &signing_string(&url, &owned));
    let settings = format!("key={key},algorithm={named}");
    let response = app
        .post_form(CALLBACK, &params, Some(&signature), &[(SETTINGS, &settings)])
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn stored(app: &TestApp, sid: &str) -> bool {
    app.api_get(&format!("/v1/profiles/{sid}")).await.0 == 200
}

fn refused_generically(status: u16, body: &serde_json::Value) {
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "invalid_signature", "{body}");
    assert_eq!(body["message"], "the signature does not verify", "{body}");
}

/// A key signs with the algorithm it is pinned to, and only with it: a request naming (and
/// signed with) the other one is refused, whichever the pin.
async fn the_algorithm_is_the_keys_not_the_requests(backend: Backend) {
    let app = TestApp::spawn_with(backend, Some(&config()), |_| {}).await;
    let sha256 = ("key_sha256", "secret-of-the-sha256-key");
    let sha1 = ("key_sha1", "secret-of-the-sha1-key");
    let cases = [
        (sha256, Algorithm::HmacSha1, "HMAC_SHA1", false),
        (sha1, Algorithm::HmacSha256, "HMAC_SHA256", false),
        (sha256, Algorithm::HmacSha256, "HMAC_SHA256", true),
        (sha1, Algorithm::HmacSha1, "HMAC_SHA1", true),
    ];
    for (n, (key, algorithm, named, accepted)) in cases.into_iter().enumerate() {
        let sid = bundle(300 + n as u32);
        let (status, body) = post(&app, ACCOUNT, &sid, key, algorithm, named).await;
        if accepted {
            assert_eq!(status, 204, "{} with {named}: {body}", key.0);
        } else {
            refused_generically(status, &body);
        }
        assert_eq!(stored(&app, &sid).await, accepted, "{} with {named}", key.0);
    }
}

/// A key signs only for the accounts it is bound to: a callback naming another configured
/// account, correctly signed with the key, is refused.
async fn a_key_signs_only_for_its_accounts(backend: Backend) {
    let app = TestApp::spawn_with(backend, Some(&config()), |_| {}).await;
    let sha256 = ("key_sha256", "secret-of-the-sha256-key");
    let sid = bundle(310);
    let (status, body) = post(&app, SECOND, &sid, sha256, Algorithm::HmacSha256, "HMAC_SHA256").await;
    refused_generically(status, &body);
    assert!(!stored(&app, &sid).await);
    // The key bound to both accounts signs for the second one.
    let sha1 = ("key_sha1", "secret-of-the-sha1-key");
    let (status, body) = post(&app, SECOND, &sid, sha1, Algorithm::HmacSha1, "HMAC_SHA1").await;
    assert_eq!(status, 204, "{body}");
    let (_, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(profile["account_sid"], SECOND);
}

/// A configuration written before keys were bound (one account, a key without `algorithm` or
/// `accounts`) keeps working: the key signs HMAC-SHA256 for that account.
async fn a_single_account_configuration_keeps_working(backend: Backend) {
    let toml = "[[shared_keys]]\nkey = \"key_old\"\nsecret = \"secret-of-the-old-key\"\n";
    let app = TestApp::spawn_with(backend, Some(toml), |_| {}).await;
    let old = ("key_old", "secret-of-the-old-key");
    let sid = bundle(320);
    let (status, body) = post(&app, ACCOUNT, &sid, old, Algorithm::HmacSha256, "HMAC_SHA256").await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = post(&app, ACCOUNT, &bundle(321), old, Algorithm::HmacSha1, "HMAC_SHA1").await;
    refused_generically(status, &body);
}

both_backends!(
    the_algorithm_is_the_keys_not_the_requests,
    a_key_signs_only_for_its_accounts,
    a_single_account_configuration_keeps_working,
);
