//! What bounds an outbound webhook, on the real binary: `Retry-After` capped at an hour,
//! `WEBHOOK_TIMEOUT_SECS`, and the private-address refusal at connect time (a subscription
//! that was allowed when made, once `WEBHOOK_ALLOW_PRIVATE` is off).

use crate::support;
use crate::support::process::{serve_env, ServeProcess};
use crate::support::receiver::Receiver;
use crate::support::{bundle, callback, Backend, TestDb, API_TOKEN};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

/// `serve` on a fresh SQLite file, allowed to deliver to loopback unless `private` is false.
fn serve(db: &TestDb, private: bool, extra: &[(&'static str, &str)]) -> ServeProcess {
    let mut env = serve_env(&db.url);
    env.push(("WEBHOOK_ALLOW_PRIVATE", private.to_string()));
    env.push(("WORKER_POLL_MS", "50".to_owned()));
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    ServeProcess::start(&env)
}

async fn subscribe(serve: &ServeProcess, client: &reqwest::Client, url: &str) {
    let created = client
        .post(serve.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "url": url }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
}

/// The one delivery's detail once it has reached `status` with at least one attempt.
async fn delivery(serve: &ServeProcess, client: &reqwest::Client, status: &str) -> Value {
    let id = support::wait_for(30, &format!("a {status} delivery"), || async {
        let list = serve
            .api_json(client, &format!("/v1/deliveries?status={status}"))
            .await?;
        Some(list["items"].as_array()?.first()?["id"].clone())
    })
    .await;
    serve
        .api_json(client, &format!("/v1/deliveries/{id}"))
        .await
        .unwrap()
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_long_retry_after_waits_one_hour() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start().await;
    receiver.script(&[(429, Some(86_400))]);
    let client = reqwest::Client::new();
    let serve = serve(&db, true, &[]);
    subscribe(&serve, &client, &receiver.url).await;
    assert_eq!(
        serve
            .post_signed(&client, &callback(&bundle(1), "in-review"))
            .await,
        204
    );
    let failed = delivery(&serve, &client, "failed").await;
    let attempted = time(&failed["attempt_log"][0]["at"]);
    assert_eq!(failed["attempt_log"][0]["status_code"], 429, "{failed}");
    let jobs = serve.api_json(&client, "/v1/jobs?state=queued").await.unwrap();
    let job = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "deliver")
        .unwrap_or_else(|| panic!("no queued deliver job: {jobs}"));
    let wait = (time(&job["run_at"]) - attempted).num_seconds();
    assert!((3590..=3610).contains(&wait), "next attempt in {wait} s: {job}");
    assert_eq!(receiver.hits().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_slower_than_the_timeout_is_cut_off() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start().await;
    receiver.answer_after(Duration::from_secs(60));
    let client = reqwest::Client::new();
    let serve = serve(&db, true, &[("WEBHOOK_TIMEOUT_SECS", "1")]);
    subscribe(&serve, &client, &receiver.url).await;
    assert_eq!(
        serve
            .post_signed(&client, &callback(&bundle(1), "in-review"))
            .await,
        204
    );
    // With the setting ignored the attempt would last the 15 s default: its latency tells.
    let failed = delivery(&serve, &client, "failed").await;
    let attempt = &failed["attempt_log"][0];
    let latency = attempt["latency_ms"].as_i64().unwrap();
    assert!(
        (1000..5000).contains(&latency),
        "cut off after {latency} ms: {attempt}"
    );
    assert!(
        attempt["error"].as_str().unwrap().starts_with("timed out"),
        "{attempt}"
    );
    assert_eq!(attempt["status_code"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_address_is_refused_when_connecting() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start().await;
    let client = reqwest::Client::new();
    // Subscribed while loopback was allowed; the operator then turns that off. The URL names
    // a host, so the refusal can only come from the address the name resolves to when
    // connecting (as after a DNS rebinding), not from the URL's text.
    let allowing = serve(&db, true, &[]);
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    subscribe(&allowing, &client, &by_name).await;
    assert_eq!(allowing.terminate(), Some(0));
    let strict = serve(&db, false, &[]);
    assert_eq!(
        strict
            .post_signed(&client, &callback(&bundle(1), "in-review"))
            .await,
        204
    );
    let dead = delivery(&strict, &client, "dead").await;
    assert_eq!(dead["attempts"], 1, "a refusal is not retried: {dead}");
    let error = dead["last_error"].as_str().unwrap();
    assert!(error.contains("non-public"), "{dead}");
    assert!(receiver.hits().is_empty(), "nothing reached the private address");
    assert_eq!(strict.terminate(), Some(0));
}
