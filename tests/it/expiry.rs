//! Approvals end (Trust Hub's `valid_until`): the date is stored and shown, and an alert
//! (`profile.expiring`, by webhook and email) goes out `EXPIRY_ALERT_DAYS` before, once per
//! approval — again only when a renewal moves the date. On the real binary, restarted between
//! checks.

use crate::support::fake_trusthub::kinds::TRUST_PRODUCT;
use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::process::{bin, serve_env, ServeProcess};
use crate::support::receiver::Receiver;
use crate::support::smtp::SmtpServer;
use crate::support::{self, bundle, callback, Backend, TestDb, ACCOUNT, API_TOKEN, PUBLIC_URL, TOKEN};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

fn env(db: &TestDb, fake: &FakeTrustHub, smtp: &SmtpServer) -> Vec<(&'static str, String)> {
    let mut env = serve_env(&db.url);
    env.extend([
        ("TRUSTHUB_API_URL", fake.base.clone()),
        ("TWILIO_NUMBERS_API_URL", fake.base.clone()),
        ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("WORKER_POLL_MS", "20".to_owned()),
        ("JOB_RETRY_BASE_MS", "20".to_owned()),
        ("JOB_RETRY_MAX_MS", "200".to_owned()),
        ("SMTP_URL", smtp.url()),
        ("ALERT_EMAIL_FROM", "alerts@example.com".to_owned()),
        ("ALERT_EMAIL_TO", "ops@example.com".to_owned()),
    ]);
    env
}

async fn approve(serve: &ServeProcess, sid: &str) {
    let fields = callback(sid, "twilio-approved");
    let signature = support::sign(&format!("{PUBLIC_URL}/twilio/status-callback"), &fields, TOKEN);
    let response = reqwest::Client::new()
        .post(serve.url("/th/twilio/status-callback"))
        .header("X-Twilio-Signature", signature)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

/// The `data` of every `profile.expiring` event the subscriber has received.
fn expiring_events(receiver: &Receiver) -> Vec<Value> {
    receiver
        .hits()
        .iter()
        .map(|hit| serde_json::from_slice::<Value>(&hit.body).unwrap())
        .filter(|event| event["type"] == "profile.expiring")
        .map(|event| event["data"].clone())
        .collect()
}

/// Expiry checks this database has finished.
async fn checks_done(db: &TestDb) -> i64 {
    db.count("select count(*) from jobs where kind = 'expiry' and state = 'done'")
        .await
}

/// Restarts `serve` and waits for its start-up check to finish: whatever it found due has its
/// deliveries created by then (in the check's own job).
async fn restart_and_check(serve: ServeProcess, db: &TestDb, env: &[(&str, String)]) -> ServeProcess {
    let before = checks_done(db).await;
    assert_eq!(serve.terminate(), Some(0));
    let serve = ServeProcess::start(env);
    support::wait_for(20, "the start-up expiry check", || async {
        (checks_done(db).await > before).then_some(())
    })
    .await;
    serve
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

async fn an_expiry_alert_is_sent_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let smtp = SmtpServer::start().await;
    let receiver = Receiver::start().await;
    let soon = bundle(0xe1);
    let later = bundle(0xe2);
    let policy = crate::support::fake_trusthub::rules::TEST_POLICY;
    fake.add_profile_with(&soon, ACCOUNT, "twilio-approved", policy, "Acme Soon");
    fake.add_bundle(TRUST_PRODUCT, &later, ACCOUNT, "twilio-approved", "Acme Later");
    let now = Utc::now();
    let soon_until = DateTime::from_timestamp(now.timestamp() + 10 * 86_400, 0).unwrap();
    let later_until = DateTime::from_timestamp(now.timestamp() + 200 * 86_400, 0).unwrap();
    fake.set_valid_until(&soon, Some(soon_until));
    fake.set_valid_until(&later, Some(later_until));
    let env = env(&db, &fake, &smtp);
    let mut serve = ServeProcess::start(&env);
    let http = reqwest::Client::new();
    let created = http
        .post(serve.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "url": receiver.url }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // Both approvals are confirmed with Trust Hub, which gives their end; the one ending within
    // 30 days is alerted at once, by webhook and by email.
    approve(&serve, &soon).await;
    approve(&serve, &later).await;
    let alert = support::wait_for(30, "the expiry alert", || async {
        expiring_events(&receiver).pop()
    })
    .await;
    assert_eq!(
        (
            alert["sid"].as_str(),
            alert["friendly_name"].as_str(),
            alert["status"].as_str()
        ),
        (Some(soon.as_str()), Some("Acme Soon"), Some("twilio-approved")),
        "{alert}"
    );
    assert_eq!(at(&alert["valid_until"]), soon_until, "{alert}");
    assert_eq!(alert["days_left"], 9, "ten days less the seconds since: {alert}");
    assert_eq!(alert["kind"], "customer_profile");
    let email = support::wait_for(30, "the expiry email", || async {
        smtp.messages()
            .into_iter()
            .find(|m| m.subject().contains("approval of"))
    })
    .await;
    assert_eq!(
        email.subject(),
        format!("Trust Hub approval of Acme Soon ({soon}) ends in 9 days")
    );
    let (text, _) = email.parts();
    assert!(text.contains(&soon_until.to_rfc3339()), "{text}");

    // The dates are stored and shown.
    for (sid, until) in [(&soon, soon_until), (&later, later_until)] {
        let profile = serve
            .api_json(&http, &format!("/v1/profiles/{sid}"))
            .await
            .unwrap();
        assert_eq!(at(&profile["valid_until"]), until, "{profile}");
    }
    let browser = crate::ui::client::client();
    let signed_in = browser
        .post(serve.url("/ui/login"))
        .form(&[("token", API_TOKEN)])
        .send()
        .await
        .unwrap();
    let cookie = crate::ui::client::session_cookie(&signed_in).expect("a session cookie");
    let page = browser
        .get(serve.url(&format!("/ui/profiles/{soon}")))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Approved until"),
        "the dashboard does not show the end: {html}"
    );

    // Checks after it (a restart checks at once) alert nothing again.
    serve = restart_and_check(serve, &db, &env).await;
    serve = restart_and_check(serve, &db, &env).await;
    let expiring_deliveries = "select count(*) from deliveries where event_type = 'profile.expiring'";
    assert_eq!(
        db.count(expiring_deliveries).await,
        2,
        "one webhook and one email, once"
    );

    // A renewal moves the date: `sync` learns it, and the next check alerts it, once.
    let renewed = soon_until + Duration::days(5);
    fake.set_valid_until(&soon, Some(renewed));
    let output = bin().envs(env.clone()).args(["sync", &soon]).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serve = restart_and_check(serve, &db, &env).await;
    serve = restart_and_check(serve, &db, &env).await;
    assert_eq!(
        db.count(expiring_deliveries).await,
        4,
        "the renewal's alert, once"
    );
    let alerts = support::wait_for(30, "the renewal's alert", || async {
        let alerts = expiring_events(&receiver);
        (alerts.len() == 2).then_some(alerts)
    })
    .await;
    assert_eq!(at(&alerts[1]["valid_until"]), renewed);
    assert!(
        alerts.iter().all(|a| a["sid"] == soon.as_str()),
        "an approval ending in 200 days is not alerted: {alerts:?}"
    );
    assert_eq!(serve.terminate(), Some(0));
}

both_backends!(an_expiry_alert_is_sent_once);
