//! PostgreSQL: a replica killed with deliveries in flight (its subscriber hangs) stops
//! renewing their leases; a surviving replica takes them over about one lease
//! (`JOB_LEASE_SECS`, 30 s by default) later, and every event arrives within a minute.

use crate::support;
use crate::support::process::{serve_env, ServeProcess};
use crate::support::{bundle, callback, Backend, TestDb, API_TOKEN};
use serde_json::Value;
use std::collections::HashSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn a_surviving_replica_delivers_what_a_killed_one_held() {
    let db = TestDb::new(Backend::Postgres).await;
    // Takes connections and never answers: deliveries hang, running, until the kill.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hook = format!("http://{}/hook", silent.local_addr().unwrap());
    let mut env = serve_env(&db.url);
    env.extend([
        ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("WEBHOOK_TIMEOUT_SECS", "600".to_owned()),
        ("WORKER_POLL_MS", "50".to_owned()),
    ]);
    let client = reqwest::Client::new();
    let doomed = ServeProcess::start(&env);
    let created = client
        .post(doomed.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "url": hook }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    for n in 1..=5 {
        assert_eq!(
            doomed
                .post_signed(&client, &callback(&bundle(n), "in-review"))
                .await,
            204
        );
    }
    support::wait_for(30, "five deliveries running on the first replica", || async {
        let jobs = doomed.api_json(&client, "/v1/jobs?state=running").await?;
        let running = jobs["items"]
            .as_array()?
            .iter()
            .filter(|j| j["kind"] == "deliver")
            .count();
        (running == 5).then_some(())
    })
    .await;
    // The survivor is up before the kill and cannot take the jobs while their leases are
    // renewed.
    let survivor = ServeProcess::start(&env);
    doomed.kill9();
    silent.set_nonblocking(true).unwrap();
    let receiver =
        support::receiver::Receiver::start_from(tokio::net::TcpListener::from_std(silent).unwrap());
    let started = std::time::Instant::now();
    support::wait_for(60, "five events delivered by the survivor", || async {
        let sids: HashSet<String> = receiver
            .hits()
            .iter()
            .filter_map(|hit| {
                let event: Value = serde_json::from_slice(&hit.body).ok()?;
                Some(event["data"]["sid"].as_str()?.to_owned())
            })
            .collect();
        (sids.len() == 5).then_some(())
    })
    .await;
    eprintln!("taken over and delivered in {:?}", started.elapsed());
    assert_eq!(survivor.terminate(), Some(0));
}
