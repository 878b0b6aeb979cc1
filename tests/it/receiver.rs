//! The real server on port 0, receiving signed callbacks, on SQLite and PostgreSQL.

use crate::support;
use crate::support::{bundle, callback, sign, Backend, TestApp, ACCOUNT, PUBLIC_URL, TOKEN};
use serde_json::Value;

const CALLBACK: &str = "/th/twilio/status-callback";

fn statuses(profile: &Value) -> Vec<(String, String, bool)> {
    profile["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["from"].as_str().unwrap_or("-").to_owned(),
                t["to"].as_str().unwrap().to_owned(),
                t["applied"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// The exact requests twilio-python signed, posted to loopback as a TLS-terminating proxy would.
async fn lifecycle_from_twilio_python_vectors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let vectors = support::vectors();
    assert_eq!(vectors["public_url"], PUBLIC_URL);
    for request in vectors["requests"].as_array().unwrap() {
        let params: Vec<(&str, &str)> = request["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap(), p[1].as_str().unwrap()))
            .collect();
        let response = app
            .post_form(
                request["path"].as_str().unwrap(),
                &params,
                request["signature"].as_str(),
                &[],
            )
            .await;
        assert_eq!(response.status(), 204, "{:?}", response.text().await);
    }
    let sid = vectors["bundle_sid"].as_str().unwrap();
    let (status, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(status, 200);
    assert_eq!(profile["status"], "twilio-rejected");
    assert_eq!(profile["account_sid"], ACCOUNT);
    assert_eq!(profile["evaluation"], Value::Null);
    assert_eq!(
        statuses(&profile),
        [
            ("-".into(), "pending-review".into(), true),
            ("pending-review".into(), "in-review".into(), true),
            ("in-review".into(), "twilio-rejected".into(), true),
        ]
    );
    let last = &profile["transitions"][2];
    assert_eq!(last["failure_reason"], "Business name mismatch");
    assert_eq!(last["source"], "callback");
    assert!(last["at"].as_str().unwrap().ends_with('Z'));
}

async fn duplicates_are_recorded_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sid = bundle(1);
    let params = callback(&sid, "pending-review");
    let url = format!("{PUBLIC_URL}/twilio/status-callback");
    let signature = sign(&url, &params, TOKEN);
    let token = [("I-Twilio-Idempotency-Token", "idem-1")];
    // The same idempotency token twice.
    for expected in ["stored", "duplicate"] {
        let response = app.post_form(CALLBACK, &params, Some(&signature), &token).await;
        assert_eq!(response.status(), 204);
        assert_eq!(response.headers()["x-callback-outcome"], expected);
    }
    // The same body again without a token.
    let next = callback(&sid, "in-review");
    for expected in ["stored", "duplicate"] {
        let response = app.post_signed(&next, TOKEN).await;
        assert_eq!(response.headers()["x-callback-outcome"], expected);
    }
    // A new delivery (new token) repeating the current status adds no transition.
    let again = app
        .post_form(
            CALLBACK,
            &next,
            Some(&sign(&url, &next, TOKEN)),
            &[("I-Twilio-Idempotency-Token", "idem-2")],
        )
        .await;
    assert_eq!(again.headers()["x-callback-outcome"], "stored");
    let (_, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(
        statuses(&profile),
        [
            ("-".into(), "pending-review".into(), true),
            ("pending-review".into(), "in-review".into(), true)
        ]
    );
}

async fn late_reports_do_not_move_status_backwards(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sid = bundle(2);
    for status in ["pending-review", "twilio-approved", "in-review"] {
        assert_eq!(
            app.post_signed(&callback(&sid, status), TOKEN).await.status(),
            204
        );
    }
    let (_, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(profile["status"], "twilio-approved");
    assert_eq!(
        statuses(&profile),
        [
            ("-".into(), "pending-review".into(), true),
            ("pending-review".into(), "twilio-approved".into(), true),
            ("twilio-approved".into(), "in-review".into(), false),
        ]
    );
    // A resubmission after a decision starts a new cycle.
    assert_eq!(
        app.post_signed(&callback(&sid, "pending-review"), TOKEN)
            .await
            .status(),
        204
    );
    let (_, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(profile["status"], "pending-review");
}

async fn unknown_statuses_are_kept_and_flagged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sid = bundle(3);
    assert_eq!(
        app.post_signed(&callback(&sid, "twilio-suspended"), TOKEN)
            .await
            .status(),
        204
    );
    let (_, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(profile["status"], "twilio-suspended");
    assert_eq!(profile["status_known"], false);
    assert_eq!(
        app.post_signed(&callback(&sid, "twilio-approved"), TOKEN)
            .await
            .status(),
        204
    );
    let (_, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(profile["status"], "twilio-approved");
    assert_eq!(profile["status_known"], true);
}

async fn forged_and_unsigned_are_refused_and_nothing_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sid = bundle(4);
    let params = callback(&sid, "twilio-approved");
    let url = format!("{PUBLIC_URL}/twilio/status-callback");
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "invalid_signature"),
        (Some(String::new()), "invalid_signature"),
        (Some(sign(&url, &params, "wrong-token")), "invalid_signature"),
        // Signed for another URL (the proxy's inner address): PUBLIC_URL decides.
        (
            Some(sign(&app.url(CALLBACK), &params, TOKEN)),
            "invalid_signature",
        ),
        (
            Some(sign(&url, &callback(&sid, "twilio-rejected"), TOKEN)),
            "invalid_signature",
        ),
    ];
    for (signature, code) in cases {
        let response = app.post_form(CALLBACK, &params, signature.as_deref(), &[]).await;
        assert_eq!(response.status(), 403);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code);
    }
    // Correctly signed, by an account this deployment does not serve.
    let stranger = "ACcccccccccccccccccccccccccccccccc";
    let foreign = vec![
        ("AccountSid", stranger),
        ("BundleSid", sid.as_str()),
        ("Status", "twilio-approved"),
    ];
    let response = app
        .post_form(CALLBACK, &foreign, Some(&sign(&url, &foreign, TOKEN)), &[])
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], "unknown_account");
    let (status, _) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(status, 404);
    let (_, list) = app.api_get("/v1/profiles").await;
    assert_eq!(list["items"], Value::Array(vec![]));
}

async fn bad_input_gets_the_contract_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // 415: another content type, before anything else.
    let response = app
        .client
        .post(app.url(CALLBACK))
        .header("content-type", "text/plain")
        .body("Status=draft")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "unsupported_media_type"
    );
    // 413: over 64 KiB.
    let huge = "x".repeat(70 * 1024);
    let params = [("AccountSid", ACCOUNT), ("Padding", huge.as_str())];
    let response = app.post_form(CALLBACK, &params, Some("irrelevant"), &[]).await;
    assert_eq!(response.status(), 413);
    // 400: correctly signed, no profile SID; then no status.
    let no_sid = [("AccountSid", ACCOUNT), ("Status", "draft")];
    let response = app.post_signed(&no_sid, TOKEN).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "unusable_callback");
    assert!(body["message"].as_str().unwrap().contains("BundleSid"));
    let sid = bundle(5);
    let no_status = [("AccountSid", ACCOUNT), ("BundleSid", sid.as_str())];
    assert_eq!(app.post_signed(&no_status, TOKEN).await.status(), 400);
    let (status, _) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(status, 404);
}

async fn accounts_rotation_and_shared_keys(backend: Backend) {
    let second = "ACdddddddddddddddddddddddddddddddd";
    let toml = format!(
        r#"
[[accounts]]
account_sid = "{ACCOUNT}"
auth_token = "{TOKEN}"
previous_auth_tokens = ["old-token"]

[[accounts]]
account_sid = "{second}"
auth_token = "second-token"

[[shared_keys]]
key = "webhooks_sharedkey_abc"
secret = "shared-secret"
accounts = ["{ACCOUNT}"]
"#
    );
    let app = TestApp::spawn_with(backend, Some(&toml), |_| {}).await;
    let url = format!("{PUBLIC_URL}/twilio/status-callback");
    // The previous token still verifies during a rotation.
    let sid = bundle(6);
    assert_eq!(
        app.post_signed(&callback(&sid, "draft"), "old-token")
            .await
            .status(),
        204
    );
    // A subaccount signs with its own token, and only its own.
    let sub_sid = bundle(7);
    let sub = vec![
        ("AccountSid", second),
        ("BundleSid", sub_sid.as_str()),
        ("Status", "in-review"),
    ];
    let response = app
        .post_form(CALLBACK, &sub, Some(&sign(&url, &sub, TOKEN)), &[])
        .await;
    assert_eq!(response.status(), 403);
    let response = app
        .post_form(CALLBACK, &sub, Some(&sign(&url, &sub, "second-token")), &[])
        .await;
    assert_eq!(response.status(), 204);
    let (_, profile) = app.api_get(&format!("/v1/profiles/{sub_sid}")).await;
    assert_eq!(profile["account_sid"], second);
    // A shared key with HMAC-SHA256, named by the settings header.
    let shared = callback(&sid, "pending-review");
    let owned: Vec<(String, String)> = shared.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect();
    use trusthub_hooks::twilio::signature::{compute, signing_string, Algorithm};
    let signature = compute(
        b"shared-secret",
        Algorithm::HmacSha256,
        &signing_string(&url, &owned),
    );
    let settings = [(
        "X-Twilio-Webhooks-Signature-Settings",
        "key=webhooks_sharedkey_abc,algorithm=HMAC_SHA256",
    )];
    assert_eq!(
        app.post_form(CALLBACK, &shared, Some(&signature), &settings)
            .await
            .status(),
        204
    );
    let unknown = [(
        "X-Twilio-Webhooks-Signature-Settings",
        "key=webhooks_sharedkey_zzz,algorithm=HMAC_SHA256",
    )];
    let refused = callback(&sid, "in-review");
    let response = app
        .post_form(CALLBACK, &refused, Some(&signature), &unknown)
        .await;
    assert_eq!(response.status(), 403);
    // Refused without telling which shared keys exist (the log names the key).
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_signature");
    assert!(!body.to_string().contains("webhooks_sharedkey"), "{body}");
    let (_, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(profile["status"], "pending-review");
}

async fn json_bodies_with_body_hash(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let vectors = support::vectors();
    let case = vectors["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "json body with bodySHA256")
        .unwrap();
    let body = case["body"].as_str().unwrap().to_owned();
    let hash = trusthub_hooks::twilio::signature::body_sha256_hex(body.as_bytes());
    let url = format!("{PUBLIC_URL}/twilio/status-callback?bodySHA256={hash}");
    let signature = sign(&url, &[], TOKEN);
    let post = |body: String| {
        app.client
            .post(app.url(&format!("{CALLBACK}?bodySHA256={hash}")))
            .header("content-type", "application/json; charset=utf-8")
            .header("X-Twilio-Signature", &signature)
            .body(body)
            .send()
    };
    assert_eq!(
        post(body.replace("approved", "rejected")).await.unwrap().status(),
        403
    );
    assert_eq!(post(body.clone()).await.unwrap().status(), 204);
    let sid = vectors["bundle_sid"].as_str().unwrap();
    let (_, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(profile["status"], "twilio-approved");
}

async fn port_variants_and_unprefixed_path(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sid = bundle(8);
    let params = callback(&sid, "in-review");
    // Twilio signed the URL with the default port; PUBLIC_URL has none.
    let with_port = sign(
        "https://hooks.example.com:443/th/twilio/status-callback",
        &params,
        TOKEN,
    );
    assert_eq!(
        app.post_form(CALLBACK, &params, Some(&with_port), &[])
            .await
            .status(),
        204
    );
    // A proxy that strips the prefix forwards to /twilio/status-callback: same signed URL.
    let next = callback(&sid, "twilio-approved");
    let signature = sign(&format!("{PUBLIC_URL}/twilio/status-callback"), &next, TOKEN);
    assert_eq!(
        app.post_form("/twilio/status-callback", &next, Some(&signature), &[])
            .await
            .status(),
        204
    );
    let (_, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(profile["status"], "twilio-approved");
}

/// A prefix that is itself the start of the route (`/twilio`): a request whose prefix a proxy
/// stripped (`/twilio/status-callback`) must not lose the prefix a second time.
async fn prefix_that_starts_the_route(backend: Backend) {
    let app = TestApp::spawn_with(backend, None, |env| {
        let url = env.iter_mut().find(|(k, _)| *k == "PUBLIC_URL").unwrap();
        url.1 = "https://hooks.example.com/twilio".into();
    })
    .await;
    let registered = "https://hooks.example.com/twilio/twilio/status-callback";
    let sid = bundle(9);
    for (path, status) in [
        ("/twilio/twilio/status-callback", "pending-review"),
        ("/twilio/status-callback", "in-review"),
    ] {
        let params = callback(&sid, status);
        let signature = sign(registered, &params, TOKEN);
        let answer = app.post_form(path, &params, Some(&signature), &[]).await;
        assert_eq!(answer.status(), 204, "{path}");
    }
    let (_, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(profile["status"], "in-review");
}

both_backends!(
    prefix_that_starts_the_route,
    lifecycle_from_twilio_python_vectors,
    duplicates_are_recorded_once,
    late_reports_do_not_move_status_backwards,
    unknown_statuses_are_kept_and_flagged,
    forged_and_unsigned_are_refused_and_nothing_stored,
    bad_input_gets_the_contract_status,
    accounts_rotation_and_shared_keys,
    json_bodies_with_body_hash,
    port_variants_and_unprefixed_path,
);
