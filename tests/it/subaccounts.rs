//! Subaccounts found through their parent (`SUBACCOUNT_DISCOVERY`), on the real binary with
//! only the parent configured: a subaccount's first callback accepted, a forged one refused, a
//! stranger's `AccountSid` looked up once for many callbacks, a rotated token learnt again,
//! follow-ups and `sync` made with the subaccount's credentials (the fake answers 404 to any
//! other account's), `--account`, and the 2010 API's paging.

use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::process::{run_cli as cli, serve_env, ServeProcess};
use crate::support::receiver::Receiver;
use crate::support::{self, bundle, Backend, TestDb, ACCOUNT, API_TOKEN, PUBLIC_URL, TOKEN};
use serde_json::Value;

const SUB: &str = "AC5b00000000000000000000000000000a";
const SUB_TOKEN: &str = "subaccount-token-0123456789abcdef";
const STRANGER: &str = "AC5700000000000000000000000000000b";
const STRANGER_TOKEN: &str = "stranger-token-0123456789abcdef0";

fn env(db: &TestDb, fake: &FakeTrustHub) -> Vec<(&'static str, String)> {
    let mut env = serve_env(&db.url);
    env.extend([
        ("TRUSTHUB_API_URL", fake.base.clone()),
        ("TWILIO_NUMBERS_API_URL", fake.base.clone()),
        ("TWILIO_API_URL", fake.base.clone()),
        ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("WORKER_POLL_MS", "20".to_owned()),
        ("JOB_RETRY_BASE_MS", "20".to_owned()),
        ("JOB_RETRY_MAX_MS", "200".to_owned()),
        ("SUBACCOUNT_DISCOVERY", "true".to_owned()),
    ]);
    env
}

/// Posts a status callback naming `account`, signed with `token`; the answer's status.
async fn post(serve: &ServeProcess, account: &str, sid: &str, status: &str, token: &str) -> u16 {
    let fields = [("AccountSid", account), ("BundleSid", sid), ("Status", status)];
    let signature = support::sign(&format!("{PUBLIC_URL}/twilio/status-callback"), &fields, token);
    reqwest::Client::new()
        .post(serve.url("/th/twilio/status-callback"))
        .header("X-Twilio-Signature", signature)
        .form(&fields)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn subaccounts_are_found_through_their_parent(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    fake.add_subaccount(SUB, SUB_TOKEN, ACCOUNT);
    fake.add_account(STRANGER, STRANGER_TOKEN);
    let profile = bundle(0xd1);
    fake.add_profile(&profile, SUB, "twilio-rejected");
    let receiver = Receiver::start().await;
    let env = env(&db, &fake);
    let serve = ServeProcess::start(&env);
    let http = reqwest::Client::new();
    let created = http
        .post(serve.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "url": receiver.url }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // The subaccount's first callback: only the parent is configured.
    assert_eq!(post(&serve, SUB, &profile, "in-review", SUB_TOKEN).await, 204);
    // Its rejection is confirmed and evaluated with the subaccount's own credentials.
    assert_eq!(
        post(&serve, SUB, &profile, "twilio-rejected", SUB_TOKEN).await,
        204
    );
    let rejection = support::wait_for(30, "the rejection event", || async {
        receiver
            .hits()
            .iter()
            .map(|h| serde_json::from_slice::<Value>(&h.body).unwrap()["data"].clone())
            .find(|d| d["to"] == "twilio-rejected")
    })
    .await;
    assert_eq!(
        (
            rejection["confirmed"].as_bool(),
            rejection["account_sid"].as_str()
        ),
        (Some(true), Some(SUB)),
        "{rejection}"
    );
    assert_eq!(rejection["evaluation"]["status"], "noncompliant", "{rejection}");
    let as_sub = fake
        .requests()
        .iter()
        .filter(|r| r.path.contains(&profile))
        .all(|r| r.username.as_deref() == Some(SUB));
    assert!(as_sub, "every call about the bundle made as the subaccount");
    assert_eq!(fake.account_lookups(SUB), 1, "its token learnt once and kept");

    // Twilio rotates the subaccount's token: the next callback, signed with the new one, is
    // accepted once the token is asked for again.
    fake.rotate_token(SUB, "rotated-subaccount-token-0123456789");
    assert_eq!(
        post(
            &serve,
            SUB,
            &bundle(0xd3),
            "in-review",
            "rotated-subaccount-token-0123456789"
        )
        .await,
        204
    );
    assert_eq!(fake.account_lookups(SUB), 2, "asked again once, for the rotation");

    // The subaccount's Event Streams sink posts too: verified as the subaccount.
    let event = serde_json::json!([{"specversion": "1.0", "id": "NOd1",
        "type": "com.twilio.messaging.compliance.brand-registration.brand-registered",
        "data": {"accountsid": SUB, "brandsid": "BN5b00000000000000000000000000000a", "brandstatus": "registered"}}])
    .to_string();
    let hash = crate::support::twilio_sign::body_sha256(event.as_bytes());
    let signed = format!("{PUBLIC_URL}/twilio/events?bodySHA256={hash}");
    let answer = http
        .post(serve.url(&format!("/th/twilio/events?bodySHA256={hash}")))
        .header(
            "X-Twilio-Signature",
            crate::support::twilio_sign::url_only(&signed, "rotated-subaccount-token-0123456789"),
        )
        .header("Content-Type", "application/json")
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let brand = serve
        .api_json(&http, "/v1/brands/BN5b00000000000000000000000000000a")
        .await
        .unwrap();
    assert_eq!(brand["account_sid"], SUB, "{brand}");

    // Forged: the subaccount named, the signature made with another key. Refused, and
    // forgeries do not make it ask Twilio again (one refresh a minute at most).
    for _ in 0..10 {
        assert_eq!(
            post(&serve, SUB, &profile, "twilio-approved", "not-its-token").await,
            403
        );
    }
    assert_eq!(fake.account_lookups(SUB), 2);

    // A stranger's account (not the parent's): refused, and asked about once however often.
    for _ in 0..20 {
        assert_eq!(
            post(&serve, STRANGER, &bundle(0xd2), "in-review", STRANGER_TOKEN).await,
            403
        );
    }
    assert!(
        fake.account_lookups(STRANGER) <= 2,
        "looked up {} times",
        fake.account_lookups(STRANGER)
    );

    assert_eq!(serve.terminate(), Some(0));

    // `sync` with no argument pages through the parent's subaccounts: a bundle no callback
    // reported is recorded, in its account.
    let quiet = bundle(0xd4);
    fake.add_profile(&quiet, SUB, "twilio-approved");
    let (code, out) = cli(&env, &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&quiet), "{out}");
    let recorded = db
        .count(&format!(
            "select count(*) from profiles where sid = '{quiet}' and account_sid = '{SUB}'"
        ))
        .await;
    assert_eq!(recorded, 1, "{out}");
    // `--account` picks the account for the commands.
    let (code, out) = cli(&env, &["set-callback", &quiet, "--account", SUB]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        fake.profile(&quiet).unwrap()["status_callback"],
        format!("{PUBLIC_URL}/twilio/status-callback")
    );
    let (code, out) = cli(&env, &["sync", "--account", SUB, &profile]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli(&env, &["sync", "--account", "ACnot", &profile]).await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("--account"), "{out}");

    // With discovery off, only configured accounts are served.
    let mut off = env.clone();
    off.push(("SUBACCOUNT_DISCOVERY", "false".to_owned()));
    let serve = ServeProcess::start(&off);
    let lookups = fake.account_lookups(SUB);
    assert_eq!(
        post(
            &serve,
            SUB,
            &bundle(0xd6),
            "in-review",
            "rotated-subaccount-token-0123456789"
        )
        .await,
        403
    );
    assert_eq!(fake.account_lookups(SUB), lookups, "not asked about");
    assert_eq!(serve.terminate(), Some(0));
}

/// The 2010 API pages with a top-level `next_page_uri`: a bundle in the last subaccount of
/// the second page is synced.
async fn sync_pages_through_every_subaccount(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let mut last = String::new();
    for n in 0..120u32 {
        last = format!("AC{n:032x}");
        fake.add_subaccount(&last, &format!("token-of-{n}-0123456789abcdef"), ACCOUNT);
    }
    let far = bundle(0xd5);
    fake.add_profile(&far, &last, "in-review");
    let (code, out) = cli(&env(&db, &fake), &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&far),
        "the second page's subaccount was synced: {out}"
    );
    let pages = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/2010-04-01/Accounts.json")
        .count();
    assert_eq!(pages, 2, "100 a page");
}

both_backends!(
    subaccounts_are_found_through_their_parent,
    sync_pages_through_every_subaccount
);
