//! The `/v1` query API and health endpoints, on SQLite and PostgreSQL.

use crate::support;
use crate::support::process::{serve_env, ServeProcess};
use crate::support::{bundle, callback, Backend, TestApp, API_TOKEN, TOKEN};
use serde_json::Value;
use std::collections::HashSet;

async fn bearer_tokens_are_required(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let url = app.url("/v1/profiles");
    let none = app.client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.json::<Value>().await.unwrap()["code"], "unauthorized");
    let wrong = app.client.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let basic = app
        .client
        .get(&url)
        .basic_auth("user", Some(API_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    let right = app.client.get(&url).bearer_auth(API_TOKEN).send().await.unwrap();
    assert_eq!(right.status(), 200);
    let profile = app
        .client
        .get(app.url(&format!("/v1/profiles/{}", bundle(1))))
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status(), 401);
}

async fn no_api_tokens_refuses_everything(backend: Backend) {
    let app = TestApp::spawn_with(backend, None, |env| env.retain(|(k, _)| *k != "API_TOKENS")).await;
    for token in ["", "anything", API_TOKEN] {
        let response = app
            .client
            .get(app.url("/v1/profiles"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "token {token:?}");
    }
}

async fn list_pages_filters_and_orders(backend: Backend) {
    let second = "ACdddddddddddddddddddddddddddddddd";
    let toml = format!("[[accounts]]\naccount_sid = \"{second}\"\nauth_token = \"second-token\"\n");
    let app = TestApp::spawn_with(backend, Some(&toml), |_| {}).await;
    // Seven profiles of the first account, changed in order 1..=7; two of the second.
    for n in 1..=7 {
        let status = if n % 2 == 0 {
            "twilio-rejected"
        } else {
            "in-review"
        };
        assert_eq!(
            app.post_signed(&callback(&bundle(n), status), TOKEN)
                .await
                .status(),
            204
        );
    }
    for n in 8..=9 {
        let sid = bundle(n);
        let params = [
            ("AccountSid", second),
            ("BundleSid", sid.as_str()),
            ("Status", "in-review"),
        ];
        assert_eq!(app.post_signed(&params, "second-token").await.status(), 204);
    }
    // Walk every page of three.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/profiles?limit=3&cursor={c}"),
            None => "/v1/profiles?limit=3".to_owned(),
        };
        let (status, page) = app.api_get(&path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|p| p["sid"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=9).rev().map(bundle).collect();
    assert_eq!(seen, expected, "most recently changed first, each once");
    // Filters.
    let (_, rejected) = app.api_get("/v1/profiles?status=twilio-rejected").await;
    let sids: HashSet<&str> = rejected["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids, [2, 4, 6].map(bundle).iter().map(String::as_str).collect());
    let (_, by_account) = app
        .api_get(&format!("/v1/profiles?account_sid={second}&status=in-review"))
        .await;
    let items = by_account["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|p| p["account_sid"] == second));
    assert_eq!(by_account["next_cursor"], Value::Null);
}

async fn errors_are_json_with_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (path, status, code) in [
        ("/v1/profiles?limit=0", 400, "invalid_limit"),
        ("/v1/profiles?limit=100000", 400, "invalid_limit"),
        ("/v1/profiles?limit=abc", 400, "invalid_query"),
        ("/v1/profiles?cursor=not-ours", 400, "invalid_cursor"),
        ("/v1/profiles/BU123", 400, "invalid_sid"),
        ("/v1/nothing-here", 404, "not_found"),
    ] {
        let (got, body) = app.api_get(path).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (got, body) = app.api_get(&format!("/v1/profiles/{}", bundle(42))).await;
    assert_eq!((got, body["code"].as_str()), (404, Some("not_found")));
}

async fn health_and_readiness(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/healthz", "/readyz"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers().contains_key("x-request-id"));
    }
}

/// `/metrics` counts exactly what happened. Read from a `serve` of its own: the recorder is
/// process-wide, so an app inside this test process would also count other tests' traffic.
async fn metrics_count_exactly_what_happened(backend: Backend) {
    let db = support::TestDb::new(backend).await;
    let mut env = serve_env(&db.url);
    env.push(("SIGNATURE_FAILURES_PER_MINUTE", "2".to_owned()));
    let serve = ServeProcess::start(&env);
    let client = reqwest::Client::new();
    let scrape = || async {
        let response = client.get(serve.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(kind.starts_with("text/plain"), "{kind}");
        response.text().await.unwrap()
    };
    let before = scrape().await;
    let sid = bundle(7);
    assert_eq!(
        serve.post_signed(&client, &callback(&sid, "in-review")).await,
        204
    );
    // Two forgeries refused, the third past SIGNATURE_FAILURES_PER_MINUTE throttled.
    for expected in [403, 403, 429] {
        let forged = client
            .post(serve.url("/th/twilio/status-callback"))
            .header("X-Twilio-Signature", "forged")
            .form(&callback(&sid, "twilio-approved"))
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), expected);
    }
    let after = scrape().await;
    let delta = |series: &str| support::metric(&after, series) - support::metric(&before, series);
    for (series, expected) in [
        ("trusthub_callbacks_total{outcome=\"stored\"}", 1.0),
        ("trusthub_callbacks_total{outcome=\"invalid_signature\"}", 2.0),
        ("trusthub_callbacks_total{outcome=\"too_many_failures\"}", 1.0),
        (
            "trusthub_transitions_total{to=\"in-review\",source=\"callback\",applied=\"true\"}",
            1.0,
        ),
        (
            "trusthub_transitions_total{to=\"twilio-approved\",source=\"callback\",applied=\"true\"}",
            0.0,
        ),
    ] {
        assert_eq!(delta(series), expected, "{series} in:\n{after}");
    }
    assert_eq!(support::metric(&after, "trusthub_database_up"), 1.0);
    assert!(
        after.lines().any(|l| l == "# TYPE trusthub_jobs gauge"),
        "{after}"
    );
}

/// Every `$ref` in a document, for checking that each resolves.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => out.push(target.clone()),
                    _ => refs(inner, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
        _ => {}
    }
}

async fn openapi_describes_every_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/twilio/status-callback", &["post"][..]),
        ("/v1/profiles", &["get"]),
        ("/v1/profiles/{sid}", &["get"]),
        ("/v1/profiles/{sid}/evaluations", &["get"]),
        ("/v1/webhooks", &["get", "post"]),
        ("/v1/webhooks/{id}", &["delete"]),
        ("/v1/deliveries", &["get"]),
        ("/v1/deliveries/{id}/retry", &["post"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
        ("/openapi.json", &["get"]),
    ] {
        for method in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} is not described"
            );
        }
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(
        paths["/v1/profiles"]["get"]["security"][0]["bearer"],
        Value::Array(vec![])
    );
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected ref {target}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{target} does not resolve"
        );
    }
}

both_backends!(
    openapi_describes_every_route,
    metrics_count_exactly_what_happened,
    bearer_tokens_are_required,
    no_api_tokens_refuses_everything,
    list_pages_filters_and_orders,
    errors_are_json_with_codes,
    health_and_readiness,
);

/// `/v1` answers are never cached (`Cache-Control: no-store`: they carry profiles,
/// evaluations and webhook secrets); under an https `PUBLIC_URL` every answer carries HSTS,
/// under http none does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_are_not_cached_and_https_is_pinned() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let listed = app
        .client
        .get(app.url("/v1/profiles"))
        .bearer_auth(support::API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.headers()["cache-control"], "no-store");
    assert_eq!(listed.headers()["strict-transport-security"], "max-age=31536000");
    let refused = app.client.get(app.url("/v1/profiles")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["cache-control"], "no-store");
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.headers()["strict-transport-security"], "max-age=31536000");
    app.stop().await;

    let plain = TestApp::spawn_with(Backend::Sqlite, None, |env| {
        env.retain(|(k, _)| *k != "PUBLIC_URL");
        env.push(("PUBLIC_URL", "http://127.0.0.1:8080/th".into()));
    })
    .await;
    let health = plain.client.get(plain.url("/healthz")).send().await.unwrap();
    assert!(health.headers().get("strict-transport-security").is_none());
    plain.stop().await;
}
