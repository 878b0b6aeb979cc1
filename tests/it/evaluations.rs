//! On rejection the service fetches Trust Hub's evaluation (from a local fake that follows
//! Twilio's OpenAPI description) and serves it; faults are retried, permanent errors recorded.

use crate::support;
use crate::support::fake_trusthub::{FakeTrustHub, Fault};
use crate::support::{bundle, callback, fast_jobs, wait_for, Backend, TestApp, ACCOUNT, TOKEN};
use serde_json::Value;

async fn app_with(backend: Backend, fake: &FakeTrustHub, extra: &[(&'static str, &str)]) -> TestApp {
    let base = fake.base.clone();
    let extra: Vec<(&'static str, String)> = extra.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    TestApp::spawn_with(backend, None, move |env| {
        env.push(("TRUSTHUB_API_URL", base));
        fast_jobs(env);
        env.extend(extra);
    })
    .await
}

async fn reject(app: &TestApp, sid: &str) {
    for status in ["pending-review", "in-review"] {
        assert_eq!(app.post_signed(&callback(sid, status), TOKEN).await.status(), 204);
    }
    let mut rejected = callback(sid, "twilio-rejected");
    rejected.push(("FailureReason", "Business information mismatch"));
    assert_eq!(app.post_signed(&rejected, TOKEN).await.status(), 204);
}

async fn evaluation_of(app: &TestApp, sid: &str) -> Value {
    wait_for(20, "the evaluation", || async {
        let (_, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
        Some(profile["evaluation"].clone()).filter(|e| !e.is_null())
    })
    .await
}

/// The first `confirm_decision` job in `state` (other jobs, such as `notify`, are skipped).
async fn job_in_state(app: &TestApp, state: &str) -> Value {
    wait_for(20, &format!("a {state} confirm_decision job"), || async {
        let (_, jobs) = app.api_get(&format!("/v1/jobs?state={state}")).await;
        jobs["items"]
            .as_array()?
            .iter()
            .find(|j| j["kind"] == "confirm_decision")
            .cloned()
    })
    .await
}

async fn rejection_fetches_and_keeps_the_evaluation(backend: Backend) {
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let sid = bundle(1);
    fake.add_profile(&sid, ACCOUNT, "twilio-rejected");
    let app = app_with(backend, &fake, &[]).await;
    reject(&app, &sid).await;
    let evaluation = evaluation_of(&app, &sid).await;
    assert_eq!(evaluation["status"], "noncompliant");
    assert!(evaluation["sid"].as_str().unwrap().starts_with("EL"));
    assert_eq!(evaluation["profile_errors"], serde_json::json!([{"code": 18601}]));
    let results = evaluation["results"].as_array().unwrap();
    assert_eq!(results[0]["error_code"], 22214);
    assert_eq!(results[0]["invalid"][0]["object_field"], "business_name");
    // The calls made, in order, with basic auth as the account, the policy in a form body:
    // the profile (confirming the rejection), then a fresh evaluation.
    let calls: Vec<(String, String)> = fake
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    let profile_path = format!("/v1/CustomerProfiles/{sid}");
    let evaluations_path = format!("{profile_path}/Evaluations");
    assert_eq!(
        calls,
        [("GET".into(), profile_path), ("POST".into(), evaluations_path)]
    );
    let requests = fake.requests();
    assert!(requests.iter().all(|r| r.username.as_deref() == Some(ACCOUNT)));
    assert_eq!(
        requests[1].form,
        [("PolicySid".to_owned(), format!("RN{}", "1".repeat(32)))]
    );
    let (_, list) = app.api_get(&format!("/v1/profiles/{sid}/evaluations")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0], evaluation);
    // An approval is confirmed (the profile fetched) but nothing is evaluated.
    let other = bundle(2);
    fake.add_profile(&other, ACCOUNT, "twilio-approved");
    assert_eq!(
        app.post_signed(&callback(&other, "twilio-approved"), TOKEN)
            .await
            .status(),
        204
    );
    wait_for(20, "the approval confirmed", || async {
        let (_, jobs) = app.api_get("/v1/jobs?state=done").await;
        let confirmed = jobs["items"]
            .as_array()?
            .iter()
            .filter(|j| j["kind"] == "confirm_decision")
            .count();
        (confirmed == 2).then_some(())
    })
    .await;
    let other_calls: Vec<(String, String)> = fake
        .requests()
        .iter()
        .filter(|r| r.path.contains(&other))
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        other_calls,
        [("GET".into(), format!("/v1/CustomerProfiles/{other}"))]
    );
}

/// A profile once compliant (its customer evaluated it then), rejected after a human review:
/// the alert carries a fresh, noncompliant evaluation, never the older compliant one.
async fn a_rejection_gets_a_fresh_evaluation(backend: Backend) {
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let sid = bundle(3);
    fake.add_profile(&sid, ACCOUNT, "twilio-rejected");
    fake.make_compliant(&sid);
    let old = fake.add_evaluation(&sid);
    assert_eq!(old["status"], "compliant");
    fake.make_noncompliant(&sid);
    let app = app_with(backend, &fake, &[]).await;
    reject(&app, &sid).await;
    let evaluation = evaluation_of(&app, &sid).await;
    assert_ne!(evaluation["sid"], old["sid"]);
    assert_eq!(evaluation["status"], "noncompliant", "{evaluation}");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.method == "POST" && r.path.ends_with("/Evaluations")),
        "a new evaluation was created"
    );
}

async fn faults_are_retried_until_it_works(backend: Backend) {
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let sid = bundle(4);
    fake.add_profile(&sid, ACCOUNT, "twilio-rejected");
    // Three 503s exhaust one attempt's in-line retries; then a 429 with Retry-After, then a
    // slow answer past the timeout.
    fake.inject([
        Fault::Status(503),
        Fault::Status(503),
        Fault::Status(503),
        Fault::TooManyRequests { retry_after_secs: 1 },
        Fault::Delay(std::time::Duration::from_millis(2500)),
    ]);
    let app = app_with(backend, &fake, &[("TWILIO_TIMEOUT_SECS", "1")]).await;
    reject(&app, &sid).await;
    let evaluation = evaluation_of(&app, &sid).await;
    assert_eq!(evaluation["status"], "noncompliant");
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..4], [503, 503, 503, 429], "{statuses:?}");
    // The first attempt's three calls all got 503; the second got the 429, waited its
    // Retry-After in line, timed out on the slow answer, and the third call of it worked.
    let done = job_in_state(&app, "done").await;
    assert_eq!(done["attempts"], 2, "{done}");
}

async fn unauthorized_is_permanent_and_revivable(backend: Backend) {
    let fake = FakeTrustHub::start().await;
    let sid = bundle(5);
    fake.add_profile(&sid, ACCOUNT, "twilio-rejected");
    let app = app_with(backend, &fake, &[]).await;
    reject(&app, &sid).await;
    let dead = job_in_state(&app, "dead").await;
    assert_eq!(dead["attempts"], 1, "401 is not retried");
    assert!(dead["last_error"].as_str().unwrap().contains("401"), "{dead}");
    assert_eq!(fake.requests().len(), 1);
    // The operator fixes the credentials and retries the job.
    fake.add_account(ACCOUNT, TOKEN);
    let id = dead["id"].as_i64().unwrap();
    let retried = app
        .client
        .post(app.url(&format!("/v1/jobs/{id}/retry")))
        .bearer_auth(support::API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 202);
    assert_eq!(evaluation_of(&app, &sid).await["status"], "noncompliant");
    let again = app
        .client
        .post(app.url(&format!("/v1/jobs/{id}/retry")))
        .bearer_auth(support::API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
}

async fn unknown_profile_is_recorded_as_dead(backend: Backend) {
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let app = app_with(backend, &fake, &[]).await;
    reject(&app, &bundle(6)).await;
    let dead = job_in_state(&app, "dead").await;
    assert!(dead["last_error"].as_str().unwrap().contains("404"), "{dead}");
    assert_eq!(dead["attempts"], 1, "404 buries at once: {dead}");
}

/// 403 (the credentials may not read this profile) is permanent too: one attempt, the
/// reason kept, and the rejection announced unconfirmed rather than never.
async fn forbidden_buries_at_once_and_still_announces(backend: Backend) {
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let sid = bundle(7);
    fake.add_profile(&sid, ACCOUNT, "twilio-rejected");
    fake.inject_on(&format!("GET /v1/CustomerProfiles/{sid}"), Fault::Status(403));
    let app = app_with(backend, &fake, &[]).await;
    reject(&app, &sid).await;
    let dead = job_in_state(&app, "dead").await;
    assert_eq!(dead["attempts"], 1, "403 buries at once: {dead}");
    assert!(dead["last_error"].as_str().unwrap().contains("403"), "{dead}");
    assert_eq!(fake.requests().len(), 1, "not retried in line either");
    let notify = wait_for(20, "the rejection's notify job", || async {
        let (_, jobs) = app.api_get("/v1/jobs?state=done").await;
        // The decision's own notify (it names its transition), not a drain of the earlier
        // undecided transitions, which may have run first.
        jobs["items"]
            .as_array()?
            .iter()
            .find(|j| j["kind"] == "notify" && j["payload"]["transition_id"].is_number())
            .cloned()
    })
    .await;
    assert_eq!(notify["payload"]["confirmed"], false, "{notify}");
    assert!(
        notify["payload"]["evaluation_error"]
            .as_str()
            .unwrap()
            .contains("403"),
        "{notify}"
    );
}

async fn trust_hub_down_blocks_nothing(backend: Backend) {
    // A Trust Hub that takes connections and never answers (the kernel completes them into
    // the backlog of a listener nobody accepts on): a call waits TWILIO_TIMEOUT_SECS, so a
    // callback that called Trust Hub before answering would take at least that.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let app = TestApp::spawn_with(backend, None, move |env| {
        env.push(("TRUSTHUB_API_URL", url));
        env.push(("TWILIO_TIMEOUT_SECS", "3".into()));
        fast_jobs(env);
    })
    .await;
    let sid = bundle(7);
    let started = std::time::Instant::now();
    reject(&app, &sid).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "callbacks must not wait for Trust Hub (one call of it takes 3 s here)"
    );
    // The first attempt's three calls take about 10 s.
    let retrying = wait_for(40, "a retried job", || async {
        let (_, jobs) = app.api_get("/v1/jobs").await;
        let job = jobs["items"]
            .as_array()?
            .iter()
            .find(|j| j["kind"] == "confirm_decision")?
            .clone();
        Some(job).filter(|j| j["attempts"].as_u64().unwrap_or(0) >= 2)
    })
    .await;
    assert!(
        retrying["last_error"]
            .as_str()
            .unwrap()
            .contains("did not answer"),
        "{retrying}"
    );
    assert_ne!(retrying["state"], "dead");
    // Receiving goes on meanwhile.
    assert_eq!(
        app.post_signed(&callback(&bundle(8), "draft"), TOKEN)
            .await
            .status(),
        204
    );
}

both_backends!(
    rejection_fetches_and_keeps_the_evaluation,
    a_rejection_gets_a_fresh_evaluation,
    faults_are_retried_until_it_works,
    unauthorized_is_permanent_and_revivable,
    unknown_profile_is_recorded_as_dead,
    forbidden_buries_at_once_and_still_announces,
    trust_hub_down_blocks_nothing,
);
