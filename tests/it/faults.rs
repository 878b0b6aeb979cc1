//! The database going away: callbacks are refused with 503 (so Twilio retries) rather than
//! acknowledged, and the service recovers by itself when the database returns.

use crate::support;
use crate::support::proxy::Proxy;
use crate::support::{bundle, callback, wait_for, Backend, TestApp};

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
