//! Failed signature checks are rate limited per client address (`SIGNATURE_FAILURES_PER_MINUTE`,
//! `CLIENT_IP_HEADER`); valid callbacks never count.

use crate::support;
use crate::support::{bundle, callback, Backend, TestApp, TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_keeps_failing_is_throttled() {
    let app = TestApp::spawn_with(Backend::Sqlite, None, |env| {
        env.push(("SIGNATURE_FAILURES_PER_MINUTE", "3".into()));
        env.push(("CLIENT_IP_HEADER", "X-Forwarded-For".into()));
    })
    .await;
    let sid = bundle(7);
    let fields = callback(&sid, "pending-review");
    let body = serde_urlencoded::to_string(&fields).unwrap();
    let post = |from: &'static str, signature: String| {
        app.client
            .post(app.url("/th/twilio/status-callback"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", signature)
            .header("X-Forwarded-For", format!("192.0.2.99, {from}"))
            .body(body.clone())
            .send()
    };
    let good = support::sign(
        &format!("{}/twilio/status-callback", support::PUBLIC_URL),
        &fields,
        TOKEN,
    );
    // Valid callbacks never count.
    for _ in 0..5 {
        assert_eq!(post("198.51.100.1", good.clone()).await.unwrap().status(), 204);
    }
    for _ in 0..3 {
        let refused = post("203.0.113.5", "forged".into()).await.unwrap();
        assert_eq!(refused.status(), 403);
    }
    // Over the limit, the address's forgeries are answered 429 until the minute ends...
    let throttled = post("203.0.113.5", "forged".into()).await.unwrap();
    assert_eq!(throttled.status(), 429);
    let wait: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: serde_json::Value = throttled.json().await.unwrap();
    assert_eq!(body["code"], "too_many_failures");
    // ...but a callback that verifies is never refused: Twilio's egress addresses are shared
    // by all its customers, and a forger among them must not get Twilio throttled.
    assert_eq!(post("203.0.113.5", good.clone()).await.unwrap().status(), 204);
    // The address the proxy saw is what counts: the client-supplied part (192.0.2.99) and
    // other clients are unaffected.
    assert_eq!(post("198.51.100.1", good.clone()).await.unwrap().status(), 204);
    // The throttled request's count in /metrics: api::metrics_count_exactly_what_happened.
    app.stop().await;
}

/// Callbacks naming an account this deployment does not serve are refused 403 but never
/// counted: they guess at no secret of ours, and forging a stranger's `AccountSid` must not
/// block the address Twilio's own callbacks come from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_accounts_are_not_counted() {
    let app = TestApp::spawn_with(Backend::Sqlite, None, |env| {
        env.push(("SIGNATURE_FAILURES_PER_MINUTE", "3".into()));
    })
    .await;
    let sid = bundle(8);
    let stranger = [
        ("AccountSid", "ACffffffffffffffffffffffffffffffff"),
        ("BundleSid", sid.as_str()),
        ("Status", "in-review"),
    ];
    for _ in 0..10 {
        let refused = app.post_signed(&stranger, "not-our-token").await;
        assert_eq!(refused.status(), 403);
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["code"], "unknown_account");
        let message = body["message"].as_str().unwrap();
        assert!(
            !message.contains("ACffff"),
            "the answer names no account: {message}"
        );
    }
    assert_eq!(
        app.post_signed(&callback(&sid, "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    // A forgery for our account after them is the address's first failure, not its eleventh.
    let forged = app
        .post_form(
            "/th/twilio/status-callback",
            &callback(&sid, "twilio-approved"),
            Some("forged"),
            &[],
        )
        .await;
    assert_eq!(forged.status(), 403);
    app.stop().await;
}

/// Wrong API tokens are throttled per address (`AUTH_FAILURES_PER_MINUTE`): past the limit
/// the address is answered 429 with `Retry-After` on `/v1` and on `/ui/login`, even with the
/// right token, until its minute ends; another address is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_api_tokens_is_throttled() {
    let app = TestApp::spawn_with(Backend::Sqlite, None, |env| {
        env.push(("AUTH_FAILURES_PER_MINUTE", "5".into()));
        env.push(("CLIENT_IP_HEADER", "X-Forwarded-For".into()));
    })
    .await;
    let get = |from: &'static str, token: &'static str| {
        app.client
            .get(app.url("/v1/profiles"))
            .bearer_auth(token)
            .header("X-Forwarded-For", from)
            .send()
    };
    let guesser = "203.0.113.7";
    for n in 0..5 {
        assert_eq!(
            get(guesser, "wrong-token-0123456789").await.unwrap().status(),
            401,
            "guess {n}"
        );
    }
    for token in ["wrong-token-0123456789", support::API_TOKEN] {
        let throttled = get(guesser, token).await.unwrap();
        assert_eq!(throttled.status(), 429);
        let wait: u64 = throttled.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
    }
    let login = app
        .client
        .post(app.url("/ui/login"))
        .header("X-Forwarded-For", guesser)
        .header("Origin", app.url(""))
        .form(&[("token", support::API_TOKEN), ("next", "/ui")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 429, "the dashboard's sign-in shares the limit");
    assert_eq!(
        get("198.51.100.2", support::API_TOKEN).await.unwrap().status(),
        200
    );
    // A request without any token is not a guess.
    let app2 = TestApp::spawn_with(Backend::Sqlite, None, |env| {
        env.push(("AUTH_FAILURES_PER_MINUTE", "1".into()));
    })
    .await;
    for _ in 0..3 {
        let bare = app2.client.get(app2.url("/v1/profiles")).send().await.unwrap();
        assert_eq!(bare.status(), 401);
    }
}
