//! The database going away: callbacks are refused with 503 (so Twilio retries) rather than
//! acknowledged, and the service recovers by itself when the database returns. PostgreSQL
//! goes away behind a cut proxy; SQLite's file is locked by another process.

use crate::support;
use crate::support::proxy::Proxy;
use crate::support::receiver::Receiver;
use crate::support::{bundle, callback, wait_for, Backend, TestApp, API_TOKEN};
use serde_json::{json, Value};
use std::collections::HashSet;

/// Job and delivery settings that make a recovery quick to see, with webhooks to loopback.
fn recovering(env: &mut Vec<(&'static str, String)>) {
    support::fast_jobs(env);
    // A job in hand when the database went away cannot record its outcome; its lease
    // expiring is what hands it out again.
    env.push(("JOB_LEASE_SECS", "2".into()));
    env.push(("WEBHOOK_ALLOW_PRIVATE", "true".into()));
    env.push(("DELIVERY_RETRY_BASE_MS", "20".into()));
    env.push(("DELIVERY_RETRY_MAX_MS", "200".into()));
}

async fn subscribe(app: &TestApp, receiver: &Receiver) {
    let response = app
        .client
        .post(app.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&json!({ "url": receiver.url }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

/// After an outage: Twilio retries the refused callback (`during`) and a new one arrives
/// (`after`); each is stored, and every profile holds its one transition.
async fn recovered(app: &TestApp, [before, during, after]: [&str; 3]) {
    for sid in [during, after] {
        let status = app
            .post_signed(&callback(sid, "pending-review"), support::TOKEN)
            .await
            .status();
        assert_eq!(status, 204, "{sid}");
    }
    for sid in [before, during, after] {
        let (status, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
        assert_eq!(status, 200, "{sid}");
        assert_eq!(profile["status"], "pending-review");
        assert_eq!(
            profile["transitions"].as_array().unwrap().len(),
            1,
            "{sid} stored once"
        );
    }
}

/// Waits until the subscriber has heard of each profile in `sids`: every transition was
/// notified, however the notifications were batched into jobs.
async fn every_transition_notified(receiver: &Receiver, sids: [&str; 3]) {
    let wanted: HashSet<String> = sids.iter().map(|s| s.to_string()).collect();
    wait_for(30, "an event for each of the three transitions", || async {
        let heard: HashSet<String> = receiver
            .hits()
            .iter()
            .filter_map(|hit| {
                let event: Value = serde_json::from_slice(&hit.body).ok()?;
                Some(event["data"]["sid"].as_str()?.to_owned())
            })
            .collect();
        (heard == wanted).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn postgres_unreachable_then_back() {
    // The app reaches its database through a proxy that the test cuts and restores.
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let receiver = Receiver::start().await;
    let app = TestApp::spawn_with(Backend::Postgres, None, |env| {
        recovering(env);
        let url = env.iter_mut().find(|(k, _)| *k == "DATABASE_URL").unwrap();
        url.1 = url.1.replace(":5432/", &format!(":{}/", proxy.port));
    })
    .await;
    subscribe(&app, &receiver).await;
    let before = bundle(1);
    let during = bundle(2);
    let after = bundle(3);
    assert_eq!(
        app.post_signed(&callback(&before, "pending-review"), support::TOKEN)
            .await
            .status(),
        204
    );

    proxy.cut().await;
    let refused = app
        .post_signed(&callback(&during, "pending-review"), support::TOKEN)
        .await;
    assert_eq!(
        refused.status(),
        503,
        "never a 2xx for a callback that was not stored"
    );
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "unavailable");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let alive = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), 200, "alive, only not ready");

    proxy.restore().await;
    wait_for(30, "readiness after the database returned", || async {
        let ready = app.client.get(app.url("/readyz")).send().await.ok()?;
        (ready.status() == 200).then_some(())
    })
    .await;
    recovered(&app, [&before, &during, &after]).await;
    // The job worker, which failed to claim during the outage, works again: every
    // transition is notified.
    every_transition_notified(&receiver, [&before, &during, &after]).await;
    app.stop().await;
}

/// Another process holds the SQLite file's write lock (a tool's open write transaction, say):
/// a callback waits out the busy timeout and is then refused with 503, never acknowledged;
/// once the lock is released, the retry and new callbacks are stored, each once, and the job
/// worker, which could not claim meanwhile, works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_then_released() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn_with(Backend::Sqlite, None, recovering).await;
    subscribe(&app, &receiver).await;
    let before = bundle(1);
    let during = bundle(2);
    let after = bundle(3);
    assert_eq!(
        app.post_signed(&callback(&before, "pending-review"), support::TOKEN)
            .await
            .status(),
        204
    );

    let path = app.db.url.strip_prefix("sqlite://").unwrap();
    let lock = rusqlite::Connection::open(path).unwrap();
    lock.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    lock.execute_batch("begin immediate").unwrap();
    let refused = app
        .post_signed(&callback(&during, "pending-review"), support::TOKEN)
        .await;
    assert_eq!(
        refused.status(),
        503,
        "never a 2xx for a callback that was not stored"
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "unavailable");
    let alive = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), 200);

    lock.execute_batch("rollback").unwrap();
    drop(lock);
    recovered(&app, [&before, &during, &after]).await;
    // The job worker, which could not claim meanwhile, works again: every transition is
    // notified.
    every_transition_notified(&receiver, [&before, &during, &after]).await;
    app.stop().await;
}
