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
    // Over the limit: refused before verification, even with a good signature, until the
    // minute ends.
    let throttled = post("203.0.113.5", good.clone()).await.unwrap();
    assert_eq!(throttled.status(), 429);
    let wait: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: serde_json::Value = throttled.json().await.unwrap();
    assert_eq!(body["code"], "too_many_failures");
    // The address the proxy saw is what counts: the client-supplied part (192.0.2.99) and
    // other clients are unaffected.
    assert_eq!(post("198.51.100.1", good.clone()).await.unwrap().status(), 204);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("outcome=\"too_many_failures\""),
        "counted in /metrics"
    );
    app.stop().await;
}
