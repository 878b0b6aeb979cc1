//! The database going away: callbacks are refused with 503 (so Twilio retries) rather than
//! acknowledged, and the service recovers by itself when the database returns. PostgreSQL
//! goes away behind a cut proxy; SQLite's file is locked by another process.

use crate::support;
use crate::support::proxy::Proxy;
use crate::support::{bundle, callback, wait_for, Backend, TestApp};
use serde_json::Value;
use std::collections::HashSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn postgres_unreachable_then_back() {
    // The app reaches its database through a proxy that the test cuts and restores.
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let app = TestApp::spawn_with(Backend::Postgres, None, |env| {
        support::fast_jobs(env);
        // A job in hand when the database went away cannot record its outcome; its lease
        // expiring is what hands it out again.
        env.push(("JOB_LEASE_SECS", "2".into()));
        let url = env.iter_mut().find(|(k, _)| *k == "DATABASE_URL").unwrap();
        url.1 = url.1.replace(":5432/", &format!(":{}/", proxy.port));
    })
    .await;
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
    // Twilio retries the refused callback; a new one arrives too.
    for sid in [&during, &after] {
        let status = app
            .post_signed(&callback(sid, "pending-review"), support::TOKEN)
            .await
            .status();
        assert_eq!(status, 204, "{sid}");
    }
    for sid in [&before, &during, &after] {
        let (status, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
        assert_eq!(status, 200, "{sid}");
        assert_eq!(profile["status"], "pending-review");
        assert_eq!(
            profile["transitions"].as_array().unwrap().len(),
            1,
            "{sid} stored once"
        );
    }
    // The job worker, which failed to claim during the outage, works again: every
    // transition's notify job runs.
    wait_for(30, "notify jobs of all three transitions", || async {
        let (_, jobs) = app.api_get("/v1/jobs?state=done").await;
        let done = jobs["items"]
            .as_array()?
            .iter()
            .filter(|j| j["kind"] == "notify")
            .count();
        (done == 3).then_some(())
    })
    .await;
    app.stop().await;
}

/// Another process holds the SQLite file's write lock (a tool's open write transaction, say):
/// a callback waits out the busy timeout and is then refused with 503, never acknowledged;
/// once the lock is released, the retry and new callbacks are stored, each once, and the job
/// worker, which could not claim meanwhile, works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_then_released() {
    let app = TestApp::spawn_with(Backend::Sqlite, None, |env| {
        support::fast_jobs(env);
        env.push(("JOB_LEASE_SECS", "2".into()));
    })
    .await;
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
    // Twilio retries the refused callback; a new one arrives too.
    for sid in [&during, &after] {
        let status = app
            .post_signed(&callback(sid, "pending-review"), support::TOKEN)
            .await
            .status();
        assert_eq!(status, 204, "{sid}");
    }
    for sid in [&before, &during, &after] {
        let (status, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
        assert_eq!(status, 200, "{sid}");
        assert_eq!(profile["status"], "pending-review");
        assert_eq!(
            profile["transitions"].as_array().unwrap().len(),
            1,
            "{sid} stored once"
        );
    }
    // One notify job may carry several transitions (a job no worker has taken yet is added
    // to): count the transitions that done jobs notified, not the jobs.
    wait_for(30, "notify jobs done for all three transitions", || async {
        let (_, jobs) = app.api_get("/v1/jobs?state=done").await;
        let notified: HashSet<i64> = jobs["items"]
            .as_array()?
            .iter()
            .filter(|j| j["kind"] == "notify")
            .flat_map(|j| match j["payload"]["transition_ids"].as_array() {
                Some(ids) => ids.iter().filter_map(Value::as_i64).collect(),
                None => j["payload"]["transition_id"]
                    .as_i64()
                    .into_iter()
                    .collect::<Vec<_>>(),
            })
            .collect();
        (notified.len() == 3).then_some(())
    })
    .await;
    app.stop().await;
}
