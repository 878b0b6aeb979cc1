//! `POST /twilio/events`, the Event Streams sink, on the real binary: signed CloudEvents (one
//! or a batch) stored once by id, forged ones refused, unknown types kept; brands, campaigns and
//! toll-free verifications with their history, errors and links (fetched once from the fake
//! Messaging API), shown by the API, and told of by webhook and email.

use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::process::{serve_env, ServeProcess};
use crate::support::receiver::Receiver;
use crate::support::smtp::SmtpServer;
use crate::support::twilio_sign;
use crate::support::{self, bundle, callback, Backend, TestDb, ACCOUNT, API_TOKEN, PUBLIC_URL, TOKEN};
use serde_json::{json, Value};

const BRAND: &str = "BN0044409f7e067e279523808d267e2d85";
const CAMPAIGN: &str = "QE2c6890da8086d771620e9b13fadeba0b";
const SERVICE: &str = "MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOLLFREE: &str = "HHaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn env(db: &TestDb, fake: &FakeTrustHub, smtp: &SmtpServer) -> Vec<(&'static str, String)> {
    let mut env = serve_env(&db.url);
    env.extend([
        ("TRUSTHUB_API_URL", fake.base.clone()),
        ("TWILIO_MESSAGING_API_URL", fake.base.clone()),
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

/// Posts a body to the sink as Event Streams does: the URL carries `bodySHA256`, and the
/// signature is over that URL with `token`. Returns the status and the answer.
async fn post_events(serve: &ServeProcess, body: &str, token: &str) -> (u16, Value) {
    let hash = twilio_sign::body_sha256(body.as_bytes());
    let signed = format!("{PUBLIC_URL}/twilio/events?bodySHA256={hash}");
    let response = reqwest::Client::new()
        .post(serve.url(&format!("/th/twilio/events?bodySHA256={hash}")))
        .header("X-Twilio-Signature", twilio_sign::url_only(&signed, token))
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A brand failure as Twilio's event-type page shows it, for our brand.
fn brand_failure(id: &str, at_ms: i64) -> Value {
    json!({
        "specversion": "1.0",
        "type": "com.twilio.messaging.compliance.brand-registration.brand-failure",
        "source": "AB00000000000000000000000001",
        "id": id,
        "dataschema": "https://events-schemas.twilio.com/A2P.BrandRegistrationFailure/3",
        "data": {
            "accountsid": ACCOUNT,
            "brandsid": BRAND,
            "brandstatus": "registration_failed",
            "createddate": at_ms,
            "updateddate": at_ms,
            "brandregistrationerrors": [{
                "registrationerrorcode": 21736,
                "registrationerrordescription": "The Brand contact email is invalid.",
                "registrationerrorurl": "https://www.twilio.com/docs/api/errors/21736",
                "registrationerrorfields": ["brand_contact_email"]
            }]
        }
    })
}

fn brand_registered(id: &str, at_ms: i64) -> Value {
    json!({
        "specversion": "1.0",
        "type": "com.twilio.messaging.compliance.brand-registration.brand-registered",
        "id": id,
        "data": {"accountsid": ACCOUNT, "brandsid": BRAND, "brandstatus": "registered",
                 "timestamp": at_ms}
    })
}

fn campaign_approved(id: &str, at_ms: i64) -> Value {
    json!({
        "specversion": "1.0",
        "type": "com.twilio.messaging.compliance.campaign-registration.campaign-approved",
        "id": id,
        "data": {"accountsid": ACCOUNT, "brandsid": BRAND, "campaignsid": CAMPAIGN,
                 "messagingservicesid": SERVICE, "campaignregistrationstatus": "approved",
                 "timestamp": at_ms}
    })
}

/// The webhook events received so far, of `event_type`.
fn received(receiver: &Receiver, event_type: &str) -> Vec<Value> {
    receiver
        .hits()
        .iter()
        .map(|hit| serde_json::from_slice::<Value>(&hit.body).unwrap())
        .filter(|e| e["type"] == event_type)
        .collect()
}

async fn the_sink_stores_verified_events_once_and_tells_of_them(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let profile = bundle(0xa1);
    let a2p = bundle(0xa2);
    fake.add_profile(&profile, ACCOUNT, "twilio-approved");
    // What the Messaging API knows and the events do not carry: the brand's profiles.
    fake.add_brand(BRAND, ACCOUNT, &profile, &a2p, "FAILED");
    let smtp = SmtpServer::start().await;
    let receiver = Receiver::start().await;
    let serve = ServeProcess::start(&env(&db, &fake, &smtp));
    let http = reqwest::Client::new();
    let created = http
        .post(serve.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&json!({ "url": receiver.url }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(
        serve
            .post_signed(&http, &callback(&profile, "twilio-approved"))
            .await,
        204
    );
    let t0: i64 = 1_780_000_000_000;

    // One event: stored, and told of with Twilio's errors and the brand's links.
    let (status, answer) = post_events(&serve, &brand_failure("NOa1", t0).to_string(), TOKEN).await;
    assert_eq!((status, answer["stored"].as_u64()), (200, Some(1)), "{answer}");
    let event = support::wait_for(30, "brand.status_changed", || async {
        received(&receiver, "brand.status_changed").pop()
    })
    .await;
    let data = &event["data"];
    assert_eq!(
        (
            data["kind"].as_str(),
            data["sid"].as_str(),
            data["to"].as_str(),
            data["from"].as_str()
        ),
        (Some("brand"), Some(BRAND), Some("registration_failed"), None),
        "{event}"
    );
    assert_eq!(data["errors"][0]["registrationerrorcode"], 21736, "{event}");
    assert_eq!(
        data["links"]["customer_profile_bundle_sid"],
        profile.as_str(),
        "fetched: {event}"
    );
    assert_eq!(data["links"]["a2p_profile_bundle_sid"], a2p.as_str(), "{event}");
    let email = support::wait_for(30, "the brand email", || async {
        smtp.messages().into_iter().find(|m| m.subject().contains(BRAND))
    })
    .await;
    assert_eq!(
        email.subject(),
        format!("[Twilio] A2P brand {BRAND} is now registration_failed")
    );
    let (text, _) = email.parts();
    assert!(
        text.contains("The Brand contact email is invalid. (error 21736)")
            && text.contains("fields to fix: brand_contact_email"),
        "{text}"
    );

    // The same event again (Twilio redelivers): acknowledged, nothing new.
    let (status, answer) = post_events(&serve, &brand_failure("NOa1", t0).to_string(), TOKEN).await;
    assert_eq!(
        (status, answer["duplicates"].as_u64()),
        (200, Some(1)),
        "{answer}"
    );

    // A batch: the brand registered, its campaign approved, and a type this version does not
    // read (kept and acknowledged).
    let unknown = json!({"specversion": "1.0", "type": "com.twilio.messaging.message.delivered",
                         "id": "NOa9", "data": {"accountsid": ACCOUNT, "messagesid": "SMa"}});
    let batch = json!([
        brand_registered("NOa2", t0 + 60_000),
        campaign_approved("NOa3", t0 + 120_000),
        unknown
    ]);
    let (status, answer) = post_events(&serve, &batch.to_string(), TOKEN).await;
    assert_eq!((status, answer["stored"].as_u64()), (200, Some(3)), "{answer}");
    support::wait_for(30, "the campaign event", || async {
        received(&receiver, "campaign.status_changed").pop()
    })
    .await;
    // A late event (older than the registration) is kept in the history, not applied.
    let (status, _) = post_events(&serve, &brand_failure("NOa4", t0 + 30_000).to_string(), TOKEN).await;
    assert_eq!(status, 200);

    // Forged: refused, nothing stored.
    let (status, answer) = post_events(
        &serve,
        &brand_registered("NOa5", t0 + 90_000).to_string(),
        "not-the-token",
    )
    .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (403, Some("invalid_signature"))
    );
    let stored = "select count(*) from stream_events";
    assert_eq!(
        db.count(stored).await,
        5,
        "four compliance events and the unknown type, once each"
    );

    // The API.
    let brand = serve
        .api_json(&http, &format!("/v1/brands/{BRAND}"))
        .await
        .unwrap();
    assert_eq!(brand["status"], "registered", "{brand}");
    let history: Vec<(Value, Value, Value)> = brand["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["from"].clone(), t["to"].clone(), t["applied"].clone()))
        .collect();
    assert_eq!(
        history,
        [
            (Value::Null, json!("registration_failed"), json!(true)),
            (json!("registration_failed"), json!("registered"), json!(true)),
            (json!("registered"), json!("registration_failed"), json!(false)),
        ],
        "{brand}"
    );
    let brands = serve.api_json(&http, "/v1/brands").await.unwrap();
    assert_eq!(brands["items"].as_array().unwrap().len(), 1, "{brands}");
    let campaign = serve
        .api_json(&http, &format!("/v1/campaigns/{CAMPAIGN}"))
        .await
        .unwrap();
    assert_eq!(
        (
            campaign["status"].as_str(),
            campaign["links"]["brand_sid"].as_str()
        ),
        (Some("approved"), Some(BRAND))
    );
    let shown = serve
        .api_json(&http, &format!("/v1/profiles/{profile}"))
        .await
        .unwrap();
    assert_eq!(
        shown["brands"][0]["sid"], BRAND,
        "the profile lists the brand naming it: {shown}"
    );
    assert_eq!(
        shown["campaigns"][0]["sid"], CAMPAIGN,
        "and its campaigns: {shown}"
    );
    let missing = http
        .get(serve.url(&format!("/v1/tollfree-verifications/{TOLLFREE}")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // A toll-free verification rejected: its customer profile fetched, its reason told.
    fake.add_tollfree_verification(TOLLFREE, ACCOUNT, &profile, "TWILIO_REJECTED");
    let rejected = json!({
        "specversion": "1.0",
        "type": "com.twilio.messaging.compliance.toll-free-verification.twilio-rejected",
        "id": "NOa6",
        "data": {"accountsid": ACCOUNT, "tollfreeverificationsid": TOLLFREE,
                 "verificationstatus": "twilio_rejected", "processeddate": t0,
                 "rejectionreason": "Opt-in information is missing", "errorcode": 30509}
    });
    assert_eq!(post_events(&serve, &rejected.to_string(), TOKEN).await.0, 200);
    let told = support::wait_for(30, "the toll-free event", || async {
        received(&receiver, "tollfree_verification.status_changed").pop()
    })
    .await;
    assert_eq!(told["data"]["errors"], "Opt-in information is missing", "{told}");
    assert_eq!(
        told["data"]["links"]["customer_profile_sid"],
        profile.as_str(),
        "{told}"
    );
    let shown = serve
        .api_json(&http, &format!("/v1/profiles/{profile}"))
        .await
        .unwrap();
    assert_eq!(
        shown["tollfree_verifications"][0]["status"], "twilio_rejected",
        "{shown}"
    );
    // Each status change told once: the failure, the registration (not the late one), the campaign.
    assert_eq!(received(&receiver, "brand.status_changed").len(), 2);
    assert_eq!(serve.terminate(), Some(0));
}

async fn the_sink_refuses_what_is_not_event_streams(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    let smtp = SmtpServer::start().await;
    let serve = ServeProcess::start(&env(&db, &fake, &smtp));
    let http = reqwest::Client::new();
    let url = serve.url("/th/twilio/events");
    let form = http.post(&url).form(&[("a", "b")]).send().await.unwrap();
    assert_eq!(form.status(), 415);
    let huge = format!("[{}]", vec!["{}"; 600_000].join(","));
    let too_big = http
        .post(&url)
        .header("Content-Type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
    // Another account's events (a stranger's sink pointed here): refused, not counted.
    let stranger = brand_registered("NOb1", 1)
        .to_string()
        .replace(ACCOUNT, "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    let (status, answer) = post_events(&serve, &stranger, TOKEN).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (403, Some("unknown_account")),
        "{answer}"
    );
    // Signed (naming no account: the main account's), but not CloudEvents.
    let (status, answer) = post_events(&serve, &json!({"type": "x"}).to_string(), TOKEN).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("unusable_events")),
        "{answer}"
    );
    let no_id = json!([{"type": "t", "data": {"accountsid": ACCOUNT}}]).to_string();
    let (status, answer) = post_events(&serve, &no_id, TOKEN).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("unusable_events")),
        "{answer}"
    );
    assert_eq!(db.count("select count(*) from stream_events").await, 0);
    assert_eq!(serve.terminate(), Some(0));
}

/// `simulate event` signs an event as Event Streams does; a running `serve` behind its public
/// address takes it.
async fn simulate_event_is_accepted_by_a_running_serve(backend: Backend) {
    let db = TestDb::new(backend).await;
    let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://{}", front.local_addr().unwrap());
    let mut env = serve_env(&db.url);
    env.retain(|(k, _)| *k != "PUBLIC_URL");
    env.push(("PUBLIC_URL", public.clone()));
    let serve = ServeProcess::start(&env);
    let _front = support::proxy::Proxy::start_from(front, serve.addr.parse().unwrap());
    let url = format!("{public}/twilio/events");
    let run = |env: Vec<(&'static str, String)>, args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            crate::support::process::bin()
                .envs(env)
                .args(&args)
                .output()
                .unwrap()
        })
    };
    let args: Vec<String> = [
        "simulate",
        "event",
        "--url",
        &url,
        "--type",
        "com.twilio.messaging.compliance.brand-registration.brand-registered",
        "--sid",
        BRAND,
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    let output = run(env.clone(), args.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("answered 200") && stdout.contains("\"stored\":1"),
        "{stdout}"
    );
    let brand = serve
        .api_json(&reqwest::Client::new(), &format!("/v1/brands/{BRAND}"))
        .await
        .unwrap();
    assert_eq!(
        brand["status"], "brand-registered",
        "the type's last part: {brand}"
    );
    // Signed with another token: refused, and simulate says so.
    let mut wrong = env.clone();
    wrong.retain(|(k, _)| *k != "TWILIO_AUTH_TOKEN");
    wrong.push(("TWILIO_AUTH_TOKEN", "not-the-token".to_owned()));
    let refused = run(wrong, args).await.unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("answered 403"));
    assert_eq!(serve.terminate(), Some(0));
}

both_backends!(
    the_sink_stores_verified_events_once_and_tells_of_them,
    the_sink_refuses_what_is_not_event_streams,
    simulate_event_is_accepted_by_a_running_serve
);
