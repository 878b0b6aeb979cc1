//! Two `serve` processes on one PostgreSQL database behind no shared memory: callbacks land
//! on either, and each event goes to the webhook subscriber exactly once.

use crate::support;
use crate::support::process::{serve_env, ServeProcess};
use crate::support::receiver::Receiver;
use crate::support::{bundle, callback, Backend, TestDb, API_TOKEN};
use std::collections::HashMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn two_replicas_deliver_each_event_exactly_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let receiver = Receiver::start().await;
    let mut env = serve_env(&db.url);
    env.extend([
        ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("WORKER_POLL_MS", "50".to_owned()),
        ("WORKER_CONCURRENCY", "8".to_owned()),
    ]);
    // Both migrate the same database at start-up.
    let (a, b) = (ServeProcess::start(&env), ServeProcess::start(&env));
    let client = reqwest::Client::new();
    let created = client
        .post(a.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "url": receiver.url }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // 30 profiles, two transitions each: 60 events, alternating replicas.
    for n in 0..60u32 {
        let sid = bundle(n / 2);
        let status = if n % 2 == 0 { "pending-review" } else { "in-review" };
        let replica = if n % 2 == 0 { &a } else { &b };
        assert_eq!(replica.post_signed(&client, &callback(&sid, status)).await, 204);
    }
    let deliveries = "/v1/deliveries?status=delivered&limit=500";
    support::wait_for(60, "60 recorded deliveries", || async {
        let list = b.api_json(&client, deliveries).await?;
        (list["items"].as_array()?.len() == 60).then_some(())
    })
    .await;
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for hit in receiver.hits() {
        *per_id
            .entry(hit.headers["webhook-id"].to_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_id.len(), 60, "every event arrived");
    assert!(
        per_id.values().all(|&n| n == 1),
        "no event arrived twice: {per_id:?}"
    );
    let list = b.api_json(&client, deliveries).await.unwrap();
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["attempts"] == 1));
    assert_eq!(a.terminate(), Some(0));
    assert_eq!(b.terminate(), Some(0));
}
