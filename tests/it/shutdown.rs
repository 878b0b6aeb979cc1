//! Graceful shutdown of the real binary: SIGTERM with a callback half-received and a webhook
//! delivery waiting on a slow subscriber. The callback is answered and stored, the delivery
//! finishes and is recorded once, and the process exits 0.

use crate::support;
use crate::support::process::{serve_env, ServeProcess};
use crate::support::receiver::Receiver;
use crate::support::{bundle, callback, Backend, TestDb, API_TOKEN};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_and_the_job_in_flight() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start().await;
    receiver.answer_after(Duration::from_secs(1));
    let mut env = serve_env(&db.url);
    env.extend([
        ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("WORKER_POLL_MS", "50".to_owned()),
    ]);
    let client = reqwest::Client::new();
    let serve = ServeProcess::start(&env);
    let created = client
        .post(serve.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "url": receiver.url }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // A delivery in flight: the subscriber has the request and answers in 1 s.
    let first = bundle(1);
    assert_eq!(
        serve.post_signed(&client, &callback(&first, "in-review")).await,
        204
    );
    support::wait_for(20, "the delivery reaching the subscriber", || async {
        (!receiver.hits().is_empty()).then_some(())
    })
    .await;

    // A callback in flight: its headers and half its body sent.
    let second = bundle(2);
    let fields = callback(&second, "in-review");
    let body = serde_urlencoded::to_string(&fields).unwrap();
    let signature = support::sign(
        &format!("{}/twilio/status-callback", support::PUBLIC_URL),
        &fields,
        support::TOKEN,
    );
    let mut stream = tokio::net::TcpStream::connect(&serve.addr).await.unwrap();
    let head = format!(
        "POST /th/twilio/status-callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         X-Twilio-Signature: {signature}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (start, rest) = body.split_at(body.len() / 2);
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(start.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // let the server read the headers

    serve.send_term();
    // The rest of the body comes after the delivery has had time to finish (1 s), so only a
    // server that waits for its requests in flight is still there to read it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stream.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the callback in flight is answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    let code = tokio::task::spawn_blocking(move || serve.wait_exit())
        .await
        .unwrap();
    assert_eq!(code, Some(0));

    // Restarted on the same file: both profiles are there, and the delivery that was in
    // flight was recorded delivered once, not sent again.
    receiver.answer_after(Duration::ZERO);
    let again = ServeProcess::start(&env);
    for sid in [&first, &second] {
        let profile = again
            .api_json(&client, &format!("/v1/profiles/{sid}"))
            .await
            .unwrap();
        assert_eq!(profile["status"], "in-review", "{profile}");
    }
    let deliveries: Value = again.api_json(&client, "/v1/deliveries").await.unwrap();
    let first_delivery = deliveries["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["payload"]["data"]["sid"] == first.as_str())
        .unwrap_or_else(|| panic!("no delivery for {first}: {deliveries}"))
        .clone();
    assert_eq!(first_delivery["status"], "delivered", "{first_delivery}");
    assert_eq!(first_delivery["attempts"], 1, "{first_delivery}");
    // The second profile's event reaches the subscriber after the restart.
    support::wait_for(20, "the second event delivered", || async {
        let sids: Vec<String> = receiver
            .hits()
            .iter()
            .filter_map(|hit| {
                let event: Value = serde_json::from_slice(&hit.body).ok()?;
                Some(event["data"]["sid"].as_str()?.to_owned())
            })
            .collect();
        (sids.iter().filter(|s| **s == second).count() == 1).then_some(sids)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first_hits = receiver
        .hits()
        .iter()
        .filter(|hit| String::from_utf8_lossy(&hit.body).contains(first.as_str()))
        .count();
    assert_eq!(first_hits, 1, "the event in flight at shutdown was sent once");
    assert_eq!(again.terminate(), Some(0));
}
