//! kill -9 loses nothing acknowledged: not a callback answered 2xx under load, not a job in
//! hand (its lease expires and it completes after restart), not a delivery waiting on a down
//! subscriber. SQLite and PostgreSQL.

use crate::support;
use crate::support::fake_trusthub::{FakeTrustHub, Fault};
use crate::support::process::{serve_env, ServeProcess};
use crate::support::{bundle, callback, Backend, TestDb, ACCOUNT, API_TOKEN, TOKEN};
use serde_json::Value;
use std::time::Duration;

async fn killed_mid_job_completes_after_restart(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let sid = bundle(1);
    fake.add_profile(&sid, ACCOUNT, "twilio-rejected");
    // The first Trust Hub call hangs long enough to kill the process during it.
    fake.inject([Fault::Delay(Duration::from_secs(30))]);
    let mut env = serve_env(&db.url);
    env.extend([
        ("TRUSTHUB_API_URL", fake.base.clone()),
        ("TWILIO_TIMEOUT_SECS", "60".to_owned()),
        ("JOB_LEASE_SECS", "1".to_owned()),
        ("WORKER_POLL_MS", "50".to_owned()),
    ]);
    let client = reqwest::Client::new();
    let first = ServeProcess::start(&env);
    assert_eq!(
        first
            .post_signed(&client, &callback(&sid, "twilio-rejected"))
            .await,
        204
    );
    support::wait_for(20, "the job's first Trust Hub call", || async {
        (fake.arrivals() > 0).then_some(())
    })
    .await;
    first.kill9();

    let second = ServeProcess::start(&env);
    let path = format!("/v1/profiles/{sid}");
    let evaluation = support::wait_for(30, "the evaluation after restart", || async {
        let profile = second.api_json(&client, &path).await?;
        Some(profile["evaluation"].clone()).filter(|e| !e.is_null())
    })
    .await;
    assert_eq!(evaluation["status"], "noncompliant");
    // The evaluation is stored just before its job is marked done: wait for that too.
    let fetch = support::wait_for(10, "the fetch job to be done", || async {
        let jobs = second.api_json(&client, "/v1/jobs").await?;
        let fetch = jobs["items"]
            .as_array()?
            .iter()
            .find(|j| j["kind"] == "confirm_decision")?
            .clone();
        (fetch["state"] == "done").then_some(fetch)
    })
    .await;
    assert_eq!(
        fetch["attempts"], 2,
        "claimed again after the lease expired: {fetch}"
    );
    assert_eq!(second.terminate(), Some(0));
}

both_backends!(killed_mid_job_completes_after_restart);

/// Events produced while the subscriber is down, the process killed, restarted, the
/// subscriber back: every event is delivered.
async fn killed_while_deliveries_wait_loses_none(backend: Backend) {
    let db = TestDb::new(backend).await;
    // A port bound but not listening yet: connections are refused until the receiver
    // starts on this same socket (kept, so no other process can take the port meanwhile).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let mut env = serve_env(&db.url);
    env.extend([
        ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("WORKER_POLL_MS", "50".to_owned()),
        ("JOB_LEASE_SECS", "1".to_owned()),
        ("DELIVERY_RETRY_BASE_MS", "100".to_owned()),
        ("DELIVERY_RETRY_MAX_MS", "500".to_owned()),
        ("DELIVERY_MAX_ATTEMPTS", "1000".to_owned()),
    ]);
    let client = reqwest::Client::new();
    let first = ServeProcess::start(&env);
    let created: Value = client
        .post(first.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "url": format!("http://127.0.0.1:{port}/hook") }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    for n in 1..=5 {
        assert_eq!(
            first
                .post_signed(&client, &callback(&bundle(n), "in-review"))
                .await,
            204
        );
    }
    support::wait_for(30, "five failing deliveries", || async {
        let list = first.api_json(&client, "/v1/deliveries?status=failed").await?;
        (list["items"].as_array()?.len() == 5).then_some(())
    })
    .await;
    first.kill9();

    let receiver = support::receiver::Receiver::start_from(socket.listen(1024).unwrap());
    let second = ServeProcess::start(&env);
    let hits = support::wait_for(30, "five events delivered after restart", || async {
        let hits = receiver.hits();
        let ids: std::collections::HashSet<_> = hits
            .iter()
            .map(|h| h.headers["webhook-id"].to_str().unwrap().to_owned())
            .collect();
        (ids.len() == 5).then_some(hits)
    })
    .await;
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    let mut sids = std::collections::HashSet::new();
    for hit in &hits {
        verifier.verify(&hit.body, &hit.headers).unwrap();
        let event: Value = serde_json::from_slice(&hit.body).unwrap();
        sids.insert(event["data"]["sid"].as_str().unwrap().to_owned());
    }
    assert_eq!(sids, (1..=5).map(bundle).collect());
    assert_eq!(second.terminate(), Some(0));
}

both_backends!(killed_while_deliveries_wait_loses_none);

/// Sixteen clients post distinct callbacks as fast as they can; `serve` is killed with
/// SIGKILL mid-load. Every callback that was answered 2xx must be stored, and the restarted
/// service must serve its history.
async fn killed_under_load_loses_no_acknowledged_callback(backend: Backend) {
    let db = TestDb::new(backend).await;
    let env = serve_env(&db.url);
    let first = ServeProcess::start(&env);
    let url = first.url("/th/twilio/status-callback");
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    // Set just before the kill: a failed request before it is a failure, not the kill.
    let killing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..16u32)
        .map(|client| {
            let (url, acked, killing) = (url.clone(), acked.clone(), killing.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let signed_url = format!("{}/twilio/status-callback", support::PUBLIC_URL);
                for n in 0.. {
                    let sid = bundle(client * 1_000_000 + n);
                    let fields = callback(&sid, "pending-review");
                    let answer = http
                        .post(&url)
                        .header("X-Twilio-Signature", support::sign(&signed_url, &fields, TOKEN))
                        .header("I-Twilio-Idempotency-Token", format!("load-{sid}"))
                        .form(&fields)
                        .send()
                        .await;
                    match answer {
                        Ok(answer) if answer.status() == 204 => acked.lock().unwrap().push(sid),
                        Ok(answer) => panic!("{sid}: {} before the kill", answer.status()),
                        // The process is gone: this client is done.
                        Err(error) => {
                            let killed = killing.load(std::sync::atomic::Ordering::SeqCst);
                            assert!(killed, "{sid}: {error} before the kill");
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    support::wait_for(60, "a few hundred acknowledged callbacks", || async {
        (acked.lock().unwrap().len() >= 300).then_some(())
    })
    .await;
    killing.store(true, std::sync::atomic::Ordering::SeqCst);
    first.kill9();
    for client in clients {
        client.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let second = ServeProcess::start(&env);
    let http = reqwest::Client::new();
    let mut stored = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/profiles?limit=200&cursor={cursor}"),
            None => "/v1/profiles?limit=200".to_owned(),
        };
        let page = second
            .api_json(&http, &path)
            .await
            .expect("profiles after restart");
        for profile in page["items"].as_array().unwrap() {
            stored.insert(profile["sid"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let lost: Vec<_> = acked.iter().filter(|sid| !stored.contains(*sid)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged callbacks lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        lost.first()
    );
    let one = second
        .api_json(&http, &format!("/v1/profiles/{}", acked[acked.len() - 1]))
        .await
        .unwrap();
    assert_eq!(one["transitions"][0]["to"], "pending-review");
    assert_eq!(second.terminate(), Some(0));
}

both_backends!(killed_under_load_loses_no_acknowledged_callback);

/// SQLite: deliveries running when `serve` is killed (their subscriber hangs) are taken back
/// by the restarted process at once, not after their lease (JOB_LEASE_SECS, 30 s by
/// default): with the subscriber back, every event arrives within a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_takes_back_the_jobs_a_killed_process_held() {
    let db = TestDb::new(Backend::Sqlite).await;
    // Takes connections and never answers: deliveries hang, running, until the kill.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut env = serve_env(&db.url);
    env.extend([
        ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("WEBHOOK_TIMEOUT_SECS", "600".to_owned()),
        ("WORKER_POLL_MS", "50".to_owned()),
    ]);
    let client = reqwest::Client::new();
    let first = ServeProcess::start(&env);
    let created = client
        .post(first.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "url": format!("http://127.0.0.1:{port}/hook") }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    for n in 1..=5 {
        let posted = first
            .post_signed(&client, &callback(&bundle(n), "in-review"))
            .await;
        assert_eq!(posted, 204);
    }
    support::wait_for(30, "five deliveries running", || async {
        let jobs = first.api_json(&client, "/v1/jobs?state=running").await?;
        let running = jobs["items"]
            .as_array()?
            .iter()
            .filter(|j| j["kind"] == "deliver")
            .count();
        (running == 5).then_some(())
    })
    .await;
    first.kill9();

    // The subscriber comes back on the same socket: the port never changes hands.
    silent.set_nonblocking(true).unwrap();
    let receiver =
        support::receiver::Receiver::start_from(tokio::net::TcpListener::from_std(silent).unwrap());
    let second = ServeProcess::start(&env);
    support::wait_for(60, "five events delivered after the restart", || async {
        let sids: std::collections::HashSet<String> = receiver
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
    assert_eq!(second.terminate(), Some(0));
}

/// One process serves a SQLite file: a second `serve` on it is refused, saying why, while
/// the first runs; once the first has stopped, a new one starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_one_sqlite_file_is_refused() {
    let db = TestDb::new(Backend::Sqlite).await;
    let env = serve_env(&db.url);
    let first = ServeProcess::start(&env);
    let output = support::process::bin()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .arg("serve")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(said.contains("another trusthub-hooks serve holds"), "{said}");
    assert_eq!(first.terminate(), Some(0));
    let again = ServeProcess::start(&env);
    assert_eq!(again.terminate(), Some(0));
}
