//! What alert emails say, to whom.

use super::email_config;
use crate::notify::{app, hits, subscribe, verify};
use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::receiver::Receiver;
use crate::support::smtp::SmtpServer;
use crate::support::{bundle, callback, wait_for, Backend, ACCOUNT, TOKEN};
use serde_json::{json, Value};

const REJECTIONS_ONLY: &str = r#"
email_subject_template = "[TH] {name}: {from} -> {status}"
[[alert_recipients]]
address = "rejections@example.com"
statuses = ["twilio-rejected"]
"#;

async fn rejection_alerts_carry_the_reasons(backend: Backend) {
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let sid = bundle(6);
    // Trust Hub knows the bundle by the name its callbacks carry.
    let policy = crate::support::fake_trusthub::rules::TEST_POLICY;
    fake.add_profile_with(&sid, ACCOUNT, "twilio-rejected", policy, "Acme Corp");
    let smtp = SmtpServer::start().await;
    let receiver = Receiver::start().await;
    let mut extra = email_config(&smtp);
    extra.push(("TRUSTHUB_API_URL", fake.base.clone()));
    let app = app(backend, Some(REJECTIONS_ONLY), extra).await;
    let (_, secret) = subscribe(&app, &receiver.url).await;
    let mut in_review = callback(&sid, "in-review");
    in_review.push(("FriendlyName", "Acme Corp"));
    assert_eq!(app.post_signed(&in_review, TOKEN).await.status(), 204);
    let mut rejected = callback(&sid, "twilio-rejected");
    rejected.push(("FailureReason", "Business information mismatch"));
    assert_eq!(app.post_signed(&rejected, TOKEN).await.status(), 204);
    // Webhook: the rejection event carries the evaluation.
    let hits = hits(&receiver, 2).await;
    let events: Vec<Value> = hits.iter().map(|h| verify(&secret, h)).collect();
    let rejection = events
        .iter()
        .find(|e| e["data"]["to"] == "twilio-rejected")
        .unwrap();
    assert_eq!(
        rejection["data"]["failure_reason"],
        "Business information mismatch"
    );
    assert_eq!(rejection["data"]["evaluation"]["status"], "noncompliant");
    assert!(rejection["data"]["evaluation"]["sid"]
        .as_str()
        .unwrap()
        .starts_with("EL"));
    assert_eq!(rejection["data"]["evaluation"]["results"][0]["error_code"], 22214);
    // The bundle's own errors, and Trust Hub's confirmation of the decision.
    assert_eq!(rejection["data"]["errors"], json!([{"code": 18601}]));
    assert_eq!(rejection["data"]["confirmed"], true);
    // Email: all@ gets both transitions, rejections@ only the rejection.
    let messages = wait_for(20, "three alert emails", || async {
        let messages = smtp.messages();
        (messages.len() == 3).then_some(messages)
    })
    .await;
    let to_rejections: Vec<_> = messages
        .iter()
        .filter(|m| m.to == ["rejections@example.com"])
        .collect();
    assert_eq!(to_rejections.len(), 1);
    let mail = to_rejections[0];
    assert_eq!(mail.from, "alerts@example.com");
    assert_eq!(
        mail.subject(),
        format!("[TH] Acme Corp ({sid}): in-review -> twilio-rejected")
    );
    let (text, html) = mail.parts();
    for part in [&text, &html] {
        assert!(part.contains("Business information mismatch"), "{part}");
        assert!(part.contains("A Business End-User is missing"), "{part}");
        assert!(part.contains("The Business Name is missing"), "{part}");
        assert!(part.contains(sid.as_str()), "{part}");
        assert!(part.contains("Error codes on the bundle: 18601"), "{part}");
    }
    assert!(text.contains("- Business: A Business End-User is missing. Please add one to the regulatory bundle. (error 22214)"), "{text}");
    assert!(
        html.contains("<li>Business Name: The Business Name is missing."),
        "{html}"
    );
    assert_eq!(messages.iter().filter(|m| m.to == ["all@example.com"]).count(), 2);
    // The outcome is recorded just after the server accepts the message.
    wait_for(20, "three delivered emails", || async {
        let delivered = crate::notify::deliveries(&app, "?status=delivered").await;
        (delivered.iter().filter(|d| d["channel"] == "email").count() == 3).then_some(())
    })
    .await;
}

async fn unreachable_trust_hub_still_alerts_and_says_so(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let mut extra = email_config(&smtp);
    extra.push(("TRUSTHUB_API_URL", "http://127.0.0.1:9".into()));
    extra.push(("EVALUATION_MAX_ATTEMPTS", "2".into()));
    let receiver = Receiver::start().await;
    let app = app(backend, None, extra).await;
    let (_, secret) = subscribe(&app, &receiver.url).await;
    assert_eq!(
        app.post_signed(&callback(&bundle(7), "twilio-rejected"), TOKEN)
            .await
            .status(),
        204
    );
    let event = verify(&secret, &hits(&receiver, 1).await[0]);
    assert_eq!(event["data"]["evaluation"], Value::Null);
    let why = event["data"]["evaluation_unavailable"].as_str().unwrap();
    assert!(
        why.contains("could not be fetched") && why.contains("cannot reach"),
        "{why}"
    );
    let mail = wait_for(20, "the alert email", || async {
        smtp.messages().into_iter().next()
    })
    .await;
    assert!(mail.parts().0.contains("could not be fetched"));
}

both_backends!(
    rejection_alerts_carry_the_reasons,
    unreachable_trust_hub_still_alerts_and_says_so,
);
