//! Webhook URLs: credentials in them are refused at subscription time (they would be stored
//! and shown), and a URL's query string (often a token) never reaches the log or a recorded
//! attempt's error.

use crate::support::process::{serve_env, ServeProcess};
use crate::support::{self, bundle, callback, Backend, TestApp, TestDb, API_TOKEN};
use serde_json::{json, Value};

async fn subscribe(app: &TestApp, url: &str) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&json!({ "url": url }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `user:password@` (or a user alone) in a webhook URL: 400 `invalid_url`, saying why without
/// echoing the password, and nothing stored.
async fn webhook_urls_with_credentials_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for url in [
        "https://alice:pa55word@hooks.example.net/in",
        "https://alice@hooks.example.net/in",
        "https://:pa55word@hooks.example.net/in",
    ] {
        let (status, body) = subscribe(&app, url).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(body["code"], "invalid_url", "{url}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("credentials"), "{message}");
        assert!(!message.contains("pa55word"), "{message}");
    }
    let (_, list) = app.api_get("/v1/webhooks").await;
    assert_eq!(list["items"], json!([]), "nothing stored");
    // Control: the same URL without credentials is accepted.
    let (status, body) = subscribe(&app, "https://hooks.example.net/in?token=x").await;
    assert_eq!(status, 201, "{body}");
}

both_backends!(webhook_urls_with_credentials_are_refused);

/// A delivery that fails to connect is logged and recorded with scheme://host/path only: the
/// query's token appears in no log line and in no attempt's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_urls_query_is_never_logged() {
    // Accepts connections and closes them at once: the sender fails in transport, where
    // its error would name the URL.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let db = TestDb::new(Backend::Sqlite).await;
    let mut env = serve_env(&db.url);
    env.push(("WEBHOOK_ALLOW_PRIVATE", "true".into()));
    support::fast_jobs(&mut env);
    let serve = ServeProcess::start(&env);
    let client = reqwest::Client::new();
    let secret = "query-token-5ecret";
    let url = format!("http://127.0.0.1:{port}/hook?token={secret}");
    let created = client
        .post(serve.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&json!({ "url": url }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(
        serve
            .post_signed(&client, &callback(&bundle(1), "in-review"))
            .await,
        204
    );
    let lines = serve.log_until("kind=deliver");
    let lines = [lines, serve.log_until("job will retry")].concat();
    let retry = lines.last().unwrap();
    assert!(
        retry.contains(&format!("http://127.0.0.1:{port}/hook")),
        "the log names where it failed: {retry}"
    );
    for line in &lines {
        assert!(!line.contains(secret), "the query is logged: {line}");
    }
    let attempts = support::wait_for(20, "a recorded attempt", || async {
        let list = serve.api_json(&client, "/v1/deliveries").await?;
        let id = list["items"].as_array()?.first()?["id"].as_i64()?;
        let delivery = serve.api_json(&client, &format!("/v1/deliveries/{id}")).await?;
        let attempts = delivery["attempt_log"].as_array()?.clone();
        (!attempts.is_empty()).then_some(attempts)
    })
    .await;
    let error = attempts[0]["error"].as_str().unwrap();
    assert!(!error.contains(secret), "{error}");
    assert!(
        error.contains(&format!("http://127.0.0.1:{port}/hook")),
        "{error}"
    );
    assert_eq!(serve.terminate(), Some(0));
}
