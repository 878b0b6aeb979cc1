//! Statuses as Twilio's APIs spell them: any case and separator, `provisionally-approved`
//! placed between `in-review` and a final decision, and an unknown status that never
//! overwrites a decision. Through signed callbacks, on both backends.

use crate::support::{bundle, callback, Backend, TestApp, TOKEN};
use serde_json::Value;

async fn post(app: &TestApp, sid: &str, status: &str) {
    let response = app.post_signed(&callback(sid, status), TOKEN).await;
    assert_eq!(response.status(), 204, "{status}");
}

async fn current(app: &TestApp, sid: &str) -> Value {
    let (status, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(status, 200, "{profile}");
    profile
}

async fn upper_case_statuses_are_the_known_ones(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sid = bundle(1);
    post(&app, &sid, "IN_REVIEW").await;
    post(&app, &sid, "TWILIO_APPROVED").await;
    let profile = current(&app, &sid).await;
    assert_eq!(profile["status"], "twilio-approved", "{profile}");
    assert_eq!(profile["status_known"], true);
    let to: Vec<&str> = profile["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert_eq!(to, ["in-review", "twilio-approved"]);
}

async fn a_late_provisional_approval_never_overwrites_the_approval(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sid = bundle(2);
    post(&app, &sid, "in-review").await;
    post(&app, &sid, "provisionally-approved").await;
    let profile = current(&app, &sid).await;
    assert_eq!(profile["status"], "provisionally-approved");
    assert_eq!(profile["status_known"], true);
    post(&app, &sid, "twilio-approved").await;
    // The provisional approval delivered again, late (a fresh token: a new delivery).
    let late = app
        .post_form(
            "/th/twilio/status-callback",
            &callback(&sid, "provisionally-approved"),
            Some(&crate::support::sign(
                &format!("{}/twilio/status-callback", crate::support::PUBLIC_URL),
                &callback(&sid, "provisionally-approved"),
                TOKEN,
            )),
            &[("I-Twilio-Idempotency-Token", "late-one")],
        )
        .await;
    assert_eq!(late.status(), 204);
    let profile = current(&app, &sid).await;
    assert_eq!(profile["status"], "twilio-approved", "{profile}");
    let last = profile["transitions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["to"].as_str(), last["applied"].as_bool()),
        (Some("provisionally-approved"), Some(false)),
        "kept in history, not applied: {last}"
    );
}

async fn an_unknown_status_never_overwrites_a_decision(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sid = bundle(3);
    post(&app, &sid, "twilio-rejected").await;
    post(&app, &sid, "twilio-suspended").await;
    let profile = current(&app, &sid).await;
    assert_eq!(profile["status"], "twilio-rejected", "{profile}");
    let last = profile["transitions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["to"].as_str(), last["applied"].as_bool()),
        (Some("twilio-suspended"), Some(false))
    );
}

both_backends!(
    upper_case_statuses_are_the_known_ones,
    a_late_provisional_approval_never_overwrites_the_approval,
    an_unknown_status_never_overwrites_a_decision,
);
