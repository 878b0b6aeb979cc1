//! Trust products and regulatory bundles, which post the same callback as customer profiles
//! but live on other APIs: every follow-up goes to the bundle's own API, its kind learnt once.

mod confirm;
mod contract;
mod dashboard;
mod submit;
mod sync;

use crate::support;
use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::process::{bin, serve_env, ServeProcess};
use crate::support::receiver::Receiver;
use crate::support::{callback, TestDb, ACCOUNT, API_TOKEN, PUBLIC_URL, TOKEN};
use serde_json::Value;

/// `serve` with the fake as both Trust Hub and the numbers API, and a webhook subscription
/// to `receiver`.
async fn start(db: &TestDb, fake: &FakeTrustHub, receiver: &Receiver) -> ServeProcess {
    let mut env = serve_env(&db.url);
    env.extend([
        ("TRUSTHUB_API_URL", fake.base.clone()),
        ("TWILIO_NUMBERS_API_URL", fake.base.clone()),
        ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("WORKER_POLL_MS", "20".to_owned()),
        ("JOB_RETRY_BASE_MS", "20".to_owned()),
        ("JOB_RETRY_MAX_MS", "200".to_owned()),
    ]);
    let serve = ServeProcess::start(&env);
    let created = reqwest::Client::new()
        .post(serve.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "url": receiver.url }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    serve
}

/// Posts a signed status callback, as Twilio does for every kind of bundle.
async fn post(serve: &ServeProcess, sid: &str, status: &str, token: &str) {
    let fields = callback(sid, status);
    let signature = support::sign(&format!("{PUBLIC_URL}/twilio/status-callback"), &fields, TOKEN);
    let response = reqwest::Client::new()
        .post(serve.url("/th/twilio/status-callback"))
        .header("X-Twilio-Signature", signature)
        .header("I-Twilio-Idempotency-Token", token)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "{status}");
}

/// The `data` of the events the subscriber has received, once there are `n`.
async fn events(receiver: &Receiver, n: usize) -> Vec<Value> {
    support::wait_for(30, &format!("{n} events"), || async {
        let hits = receiver.hits();
        (hits.len() >= n).then(|| {
            hits.iter()
                .map(|hit| serde_json::from_slice::<Value>(&hit.body).unwrap()["data"].clone())
                .collect()
        })
    })
    .await
}

/// The requests the fake answered, as "METHOD /path -> status", in order.
fn calls(fake: &FakeTrustHub, sid: &str) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| r.path.contains(sid))
        .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
        .collect()
}

const OTHER: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const OTHER_TOKEN: &str = "other-token-0123456789abcdef0123";

/// Runs the binary as a user would, with `OTHER` configured as a second account (off the
/// runtime's threads, so the fake keeps answering).
async fn cli(db: &TestDb, fake: &FakeTrustHub, args: &[&str]) -> (i32, String) {
    use std::os::unix::fs::PermissionsExt as _;
    let file = tempfile::NamedTempFile::new().unwrap();
    let text = format!("[[accounts]]\naccount_sid = \"{OTHER}\"\nauth_token = \"{OTHER_TOKEN}\"\n");
    std::fs::write(file.path(), text).unwrap();
    std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let env = [
        ("DATABASE_URL", db.url.clone()),
        ("PUBLIC_URL", PUBLIC_URL.to_owned()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT.to_owned()),
        ("TWILIO_AUTH_TOKEN", TOKEN.to_owned()),
        ("TRUSTHUB_API_URL", fake.base.clone()),
        ("TWILIO_NUMBERS_API_URL", fake.base.clone()),
        ("TRUSTHUB_HOOKS_CONFIG", file.path().to_str().unwrap().to_owned()),
    ];
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let output = bin().envs(env).args(&args).output().unwrap();
        drop(file);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code().unwrap_or(-1), text)
    })
    .await
    .unwrap()
}
