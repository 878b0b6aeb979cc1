//! Decisions are confirmed with Trust Hub before anyone is told, on the real binary: a
//! replayed decision that Trust Hub contradicts is overruled and never announced; a decision
//! Trust Hub does not show yet waits for it; one it cannot confirm in time goes out marked
//! unconfirmed.

use crate::support;
use crate::support::fake_trusthub::{FakeTrustHub, Fault};
use crate::support::process::{serve_env, ServeProcess};
use crate::support::receiver::Receiver;
use crate::support::{bundle, callback, Backend, TestDb, ACCOUNT, API_TOKEN, PUBLIC_URL, TOKEN};
use serde_json::Value;

/// `serve` with the fake Trust Hub and a webhook subscription to `receiver`.
async fn start(
    db: &TestDb,
    fake: &FakeTrustHub,
    receiver: &Receiver,
    extra: &[(&'static str, &str)],
) -> ServeProcess {
    let mut env = serve_env(&db.url);
    env.extend([
        ("TRUSTHUB_API_URL", fake.base.clone()),
        ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("WORKER_POLL_MS", "20".to_owned()),
        ("JOB_RETRY_BASE_MS", "20".to_owned()),
        ("JOB_RETRY_MAX_MS", "200".to_owned()),
    ]);
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
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

/// Posts a signed callback with an idempotency token, as Twilio (or a replayer) would.
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

/// The events the subscriber has received, once there are `n` (in arrival order).
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

/// Waits until no job is queued or running: everything caused so far has run.
async fn settled(serve: &ServeProcess) {
    let client = reqwest::Client::new();
    support::wait_for(30, "the job queue to settle", || async {
        let jobs = serve.api_json(&client, "/v1/jobs?limit=500").await?;
        let busy = jobs["items"]
            .as_array()?
            .iter()
            .any(|j| j["state"] == "queued" || j["state"] == "running");
        (!busy).then_some(())
    })
    .await;
}

/// The finding: approved, then rejected, then the first approval re-posted with a fresh
/// token put the profile back to approved and notified everyone.
async fn a_replayed_decision_is_overruled_and_never_announced(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let sid = bundle(1);
    fake.add_profile(&sid, ACCOUNT, "twilio-approved");
    let receiver = Receiver::start().await;
    let serve = start(&db, &fake, &receiver, &[]).await;
    post(&serve, &sid, "twilio-approved", "t1").await;
    let first = events(&receiver, 1).await;
    assert_eq!(
        (first[0]["to"].as_str(), first[0]["confirmed"].as_bool()),
        (Some("twilio-approved"), Some(true))
    );
    fake.set_status(&sid, "twilio-rejected");
    post(&serve, &sid, "twilio-rejected", "t2").await;
    let second = events(&receiver, 2).await;
    assert_eq!(
        (second[1]["to"].as_str(), second[1]["confirmed"].as_bool()),
        (Some("twilio-rejected"), Some(true))
    );

    // The captured approval, re-posted with a fresh token: stored and applied at once, then
    // contradicted by Trust Hub.
    post(&serve, &sid, "twilio-approved", "replayed").await;
    settled(&serve).await;
    let client = reqwest::Client::new();
    let profile = serve
        .api_json(&client, &format!("/v1/profiles/{sid}"))
        .await
        .unwrap();
    assert_eq!(profile["status"], "twilio-rejected", "{profile}");
    let last = profile["transitions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            last["to"].as_str(),
            last["source"].as_str(),
            last["applied"].as_bool()
        ),
        (Some("twilio-approved"), Some("callback"), Some(false)),
        "the replayed transition is kept, marked not applied: {profile}"
    );
    assert_eq!(receiver.hits().len(), 2, "nothing announced for the replay");
    assert_eq!(serve.terminate(), Some(0));
}

/// The callback can arrive before Trust Hub's API shows the decision: the confirmation waits
/// for it rather than overruling a true decision.
async fn a_decision_trusthub_does_not_show_yet_is_waited_for(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let sid = bundle(2);
    fake.add_profile(&sid, ACCOUNT, "in-review");
    let receiver = Receiver::start().await;
    let serve = start(&db, &fake, &receiver, &[]).await;
    post(&serve, &sid, "twilio-approved", "t1").await;
    let asked = |fake: &FakeTrustHub| {
        fake.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(sid.as_str()))
            .count()
    };
    support::wait_for(30, "Trust Hub asked twice", || async {
        (asked(&fake) >= 2).then_some(())
    })
    .await;
    assert!(receiver.hits().is_empty(), "not announced while unconfirmed");
    fake.set_status(&sid, "twilio-approved");
    let announced = events(&receiver, 1).await;
    assert_eq!(
        (announced[0]["to"].as_str(), announced[0]["confirmed"].as_bool()),
        (Some("twilio-approved"), Some(true))
    );
    assert_eq!(serve.terminate(), Some(0));
}

/// Trust Hub unreachable for the whole retry window: the decision still goes out, marked
/// unconfirmed, saying why.
async fn an_unreachable_trusthub_announces_it_unconfirmed(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let sid = bundle(3);
    fake.add_profile(&sid, ACCOUNT, "twilio-approved");
    fake.inject(std::iter::repeat_n(Fault::Status(503), 100));
    let receiver = Receiver::start().await;
    let serve = start(&db, &fake, &receiver, &[("EVALUATION_MAX_ATTEMPTS", "2")]).await;
    post(&serve, &sid, "twilio-approved", "t1").await;
    let announced = events(&receiver, 1).await;
    assert_eq!(
        (announced[0]["to"].as_str(), announced[0]["confirmed"].as_bool()),
        (Some("twilio-approved"), Some(false)),
        "{announced:?}"
    );
    assert_eq!(serve.terminate(), Some(0));
}

both_backends!(
    a_replayed_decision_is_overruled_and_never_announced,
    a_decision_trusthub_does_not_show_yet_is_waited_for,
    an_unreachable_trusthub_announces_it_unconfirmed,
);
