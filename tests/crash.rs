//! kill -9 in the middle of a job loses nothing: after a restart the job's lease expires and
//! it completes. SQLite and PostgreSQL.

mod common;

use common::fake_trusthub::{FakeTrustHub, Fault};
use common::process::{serve_env, ServeProcess};
use common::{bundle, callback, Backend, TestDb, ACCOUNT, API_TOKEN, TOKEN};
use serde_json::Value;
use std::time::Duration;

async fn killed_mid_job_completes_after_restart(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let sid = bundle(1);
    fake.add_profile(&sid, ACCOUNT, "twilio-rejected");
    // The first Trust Hub call hangs long enough to kill the process during it.
    fake.inject([Fault::Delay(Duration::from_secs(30))]);
    let mut env = serve_env(&db.url);
    env.extend([
        ("TRUSTHUB_API_URL", fake.base.clone()),
        ("TWILIO_TIMEOUT_SECS", "60".to_owned()),
        ("JOB_LEASE_SECS", "1".to_owned()),
        ("WORKER_POLL_MS", "50".to_owned()),
    ]);
    let client = reqwest::Client::new();
    let first = ServeProcess::start(&env);
    assert_eq!(
        first
            .post_signed(&client, &callback(&sid, "twilio-rejected"))
            .await,
        204
    );
    common::wait_for(20, "the job's first Trust Hub call", || async {
        (fake.arrivals() > 0).then_some(())
    })
    .await;
    first.kill9();

    let second = ServeProcess::start(&env);
    let path = format!("/v1/profiles/{sid}");
    let evaluation = common::wait_for(30, "the evaluation after restart", || async {
        let profile = second.api_json(&client, &path).await?;
        Some(profile["evaluation"].clone()).filter(|e| !e.is_null())
    })
    .await;
    assert_eq!(evaluation["status"], "noncompliant");
    // The evaluation is stored just before its job is marked done: wait for that too.
    let fetch = common::wait_for(10, "the fetch job to be done", || async {
        let jobs = second.api_json(&client, "/v1/jobs").await?;
        let fetch = jobs["items"]
            .as_array()?
            .iter()
            .find(|j| j["kind"] == "fetch_evaluation")?
            .clone();
        (fetch["state"] == "done").then_some(fetch)
    })
    .await;
    assert_eq!(
        fetch["attempts"], 2,
        "claimed again after the lease expired: {fetch}"
    );
    assert_eq!(second.terminate(), Some(0));
}

both_backends!(killed_mid_job_completes_after_restart);

/// Events produced while the subscriber is down, the process killed, restarted, the
/// subscriber back: every event is delivered.
async fn killed_while_deliveries_wait_loses_none(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    // A port nothing listens on yet: connections are refused until the receiver starts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = serve_env(&db.url);
    env.extend([
        ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("WORKER_POLL_MS", "50".to_owned()),
        ("JOB_LEASE_SECS", "1".to_owned()),
        ("DELIVERY_RETRY_BASE_MS", "100".to_owned()),
        ("DELIVERY_RETRY_MAX_MS", "500".to_owned()),
        ("DELIVERY_MAX_ATTEMPTS", "1000".to_owned()),
    ]);
    let client = reqwest::Client::new();
    let first = ServeProcess::start(&env);
    let created: Value = client
        .post(first.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "url": format!("http://127.0.0.1:{port}/hook") }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    for n in 1..=5 {
        assert_eq!(
            first
                .post_signed(&client, &callback(&bundle(n), "in-review"))
                .await,
            204
        );
    }
    common::wait_for(30, "five failing deliveries", || async {
        let list = first.api_json(&client, "/v1/deliveries?status=failed").await?;
        (list["items"].as_array()?.len() == 5).then_some(())
    })
    .await;
    first.kill9();

    let receiver = common::receiver::Receiver::start_on(port).await;
    let second = ServeProcess::start(&env);
    let hits = common::wait_for(30, "five events delivered after restart", || async {
        let hits = receiver.hits();
        let ids: std::collections::HashSet<_> = hits
            .iter()
            .map(|h| h.headers["webhook-id"].to_str().unwrap().to_owned())
            .collect();
        (ids.len() == 5).then_some(hits)
    })
    .await;
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    let mut sids = std::collections::HashSet::new();
    for hit in &hits {
        verifier.verify(&hit.body, &hit.headers).unwrap();
        let event: Value = serde_json::from_slice(&hit.body).unwrap();
        sids.insert(event["data"]["sid"].as_str().unwrap().to_owned());
    }
    assert_eq!(sids, (1..=5).map(bundle).collect());
    assert_eq!(second.terminate(), Some(0));
}

both_backends!(killed_while_deliveries_wait_loses_none);
