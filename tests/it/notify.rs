//! Fan-out: signed webhooks to real HTTP receivers on loopback (checked with the reference
//! Standard Webhooks library), on SQLite and Postgres. Alert emails are `crate::email`'s.

use crate::support;
use crate::support::receiver::Receiver;
use crate::support::{bundle, callback, fast_jobs, wait_for, Backend, TestApp, ACCOUNT, API_TOKEN, TOKEN};
use serde_json::{json, Value};
use std::collections::HashSet;
use trusthub_hooks::store::outbox::NOTIFY;
use trusthub_hooks::store::NewJob;

/// An app that may deliver to loopback, retrying fast.
pub(crate) async fn app(backend: Backend, toml: Option<&str>, extra: Vec<(&'static str, String)>) -> TestApp {
    TestApp::spawn_with(backend, toml, move |env| {
        fast_jobs(env);
        env.push(("WEBHOOK_ALLOW_PRIVATE", "true".into()));
        env.push(("DELIVERY_RETRY_BASE_MS", "20".into()));
        env.push(("DELIVERY_RETRY_MAX_MS", "100".into()));
        env.extend(extra);
    })
    .await
}

pub(crate) async fn subscribe(app: &TestApp, url: &str) -> (String, String) {
    let response = app
        .client
        .post(app.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&json!({"url": url, "events": ["profile.status_changed"], "description": "ops"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    (created["id"].as_str().unwrap().to_owned(), secret)
}

pub(crate) async fn hits(receiver: &Receiver, n: usize) -> Vec<support::receiver::Hit> {
    wait_for(20, &format!("{n} webhook requests"), || async {
        let hits = receiver.hits();
        (hits.len() >= n).then_some(hits)
    })
    .await
}

pub(crate) fn verify(secret: &str, hit: &support::receiver::Hit) -> Value {
    let verifier = standardwebhooks::Webhook::new(secret).unwrap();
    verifier
        .verify(&hit.body, &hit.headers)
        .expect("a valid Standard Webhooks signature");
    serde_json::from_slice(&hit.body).unwrap()
}

pub(crate) async fn deliveries(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, list) = app.api_get(&format!("/v1/deliveries{query}")).await;
    assert_eq!(status, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

pub(crate) async fn delivery_in(app: &TestApp, status: &str) -> Value {
    wait_for(20, &format!("a {status} delivery"), || async {
        deliveries(app, &format!("?status={status}"))
            .await
            .into_iter()
            .next()
    })
    .await
}

async fn webhooks_are_signed_and_delivered(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = app(backend, None, vec![]).await;
    let (id, secret) = subscribe(&app, &receiver.url).await;
    let sid = bundle(1);
    for status in ["pending-review", "in-review"] {
        assert_eq!(
            app.post_signed(&callback(&sid, status), TOKEN).await.status(),
            204
        );
    }
    let hits = hits(&receiver, 2).await;
    let events: Vec<Value> = hits.iter().map(|h| verify(&secret, h)).collect();
    let mut seen: Vec<(Value, Value)> = events
        .iter()
        .map(|e| (e["data"]["from"].clone(), e["data"]["to"].clone()))
        .collect();
    seen.sort_by_key(|(_, to)| to.to_string());
    assert_eq!(
        seen,
        [
            (json!("pending-review"), json!("in-review")),
            (Value::Null, json!("pending-review"))
        ]
    );
    for event in &events {
        assert_eq!(event["type"], "profile.status_changed");
        assert_eq!(event["data"]["sid"], sid.as_str());
        assert_eq!(event["data"]["account_sid"], ACCOUNT);
        assert_eq!(event["data"]["evaluation"], Value::Null);
    }
    let ids: HashSet<_> = hits
        .iter()
        .map(|h| h.headers["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "one webhook-id per event");
    let delivered = wait_for(20, "both deliveries recorded", || async {
        let list = deliveries(&app, &format!("?webhook_id={id}&status=delivered")).await;
        (list.len() == 2).then_some(list)
    })
    .await;
    assert!(delivered
        .iter()
        .all(|d| d["attempts"] == 1 && d["last_status_code"] == 200 && d["channel"] == "webhook"));
    // The list omits secrets; deleting stops deliveries.
    let (_, subs) = app.api_get("/v1/webhooks").await;
    assert_eq!(subs["items"][0]["id"], id.as_str());
    assert!(subs["items"][0].get("secret").is_none());
    let deleted = app
        .client
        .delete(app.url(&format!("/v1/webhooks/{id}")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let again = app
        .client
        .delete(app.url(&format!("/v1/webhooks/{id}")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    // A later event: a witness subscription hears of it, the deleted one does not.
    let witness = Receiver::start().await;
    subscribe(&app, &witness.url).await;
    let approved = callback(&sid, "twilio-approved");
    assert_eq!(app.post_signed(&approved, TOKEN).await.status(), 204);
    let heard = crate::notify::hits(&witness, 1).await;
    let event: Value = serde_json::from_slice(&heard[0].body).unwrap();
    assert_eq!(event["data"]["to"], "twilio-approved");
    assert_eq!(
        receiver.hits().len(),
        2,
        "nothing more to the deleted subscription"
    );
    let all = deliveries(&app, "").await;
    assert!(
        all.iter().all(|d| d["webhook_id"] != id.as_str()),
        "no delivery for the deleted subscription: {all:?}"
    );
}

async fn retries_keep_the_id_and_honour_retry_after(backend: Backend) {
    let receiver = Receiver::start().await;
    receiver.script(&[(503, None), (429, Some(1)), (500, None)]);
    let app = app(backend, None, vec![]).await;
    let (_, secret) = subscribe(&app, &receiver.url).await;
    assert_eq!(
        app.post_signed(&callback(&bundle(2), "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    let delivered = delivery_in(&app, "delivered").await;
    let hits = hits(&receiver, 4).await;
    assert_eq!(hits.len(), 4);
    let ids: HashSet<_> = hits
        .iter()
        .map(|h| h.headers["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "the same webhook-id across retries");
    assert_eq!(
        ids.into_iter().next().unwrap(),
        delivered["event_id"].as_str().unwrap()
    );
    for hit in &hits {
        verify(&secret, hit);
    }
    let (_, detail) = app.api_get(&format!("/v1/deliveries/{}", delivered["id"])).await;
    let log = detail["attempt_log"].as_array().unwrap();
    let codes: Vec<i64> = log.iter().map(|a| a["status_code"].as_i64().unwrap()).collect();
    assert_eq!(codes, [503, 429, 500, 200]);
    // Retry-After: 1 held the third attempt back by at least a second.
    let at = |i: usize| chrono::DateTime::parse_from_rfc3339(log[i]["at"].as_str().unwrap()).unwrap();
    assert!(at(2) - at(1) >= chrono::Duration::milliseconds(1000), "{log:?}");
    assert_eq!(detail["attempts"], 4);
}

async fn redirects_are_not_followed(backend: Backend) {
    let receiver = Receiver::start().await;
    let elsewhere = Receiver::start().await;
    receiver.script(&[(307, None)]);
    receiver.redirect_next_to(&elsewhere.url);
    let app = app(backend, None, vec![]).await;
    subscribe(&app, &receiver.url).await;
    assert_eq!(
        app.post_signed(&callback(&bundle(12), "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    let delivered = delivery_in(&app, "delivered").await;
    let (_, detail) = app.api_get(&format!("/v1/deliveries/{}", delivered["id"])).await;
    let codes: Vec<i64> = detail["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(
        codes,
        [307, 200],
        "a redirect is a failed attempt, retried at the same URL"
    );
    assert!(elsewhere.hits().is_empty(), "the redirect was not followed");
    assert_eq!(receiver.hits().len(), 2);
}

async fn gone_disables_the_subscription(backend: Backend) {
    let receiver = Receiver::start().await;
    receiver.script(&[(410, None)]);
    let app = app(backend, None, vec![]).await;
    let (id, _) = subscribe(&app, &receiver.url).await;
    assert_eq!(
        app.post_signed(&callback(&bundle(3), "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    let dead = delivery_in(&app, "dead").await;
    assert_eq!(
        (dead["attempts"].as_i64(), dead["last_status_code"].as_i64()),
        (Some(1), Some(410))
    );
    let (_, subs) = app.api_get("/v1/webhooks").await;
    assert_eq!(subs["items"][0]["enabled"], false);
    assert!(subs["items"][0]["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("410"));
    // A later event creates no delivery for the disabled subscription.
    assert_eq!(
        app.post_signed(&callback(&bundle(4), "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    wait_for(20, "the second notify job", || async {
        let (_, jobs) = app.api_get("/v1/jobs?state=done").await;
        let notified = jobs["items"]
            .as_array()?
            .iter()
            .filter(|j| j["kind"] == "notify")
            .count();
        (notified == 2).then_some(())
    })
    .await;
    assert_eq!(deliveries(&app, &format!("?webhook_id={id}")).await.len(), 1);
    assert_eq!(receiver.hits().len(), 1);
}

async fn dead_deliveries_can_be_replayed(backend: Backend) {
    let receiver = Receiver::start().await;
    receiver.script(&[(500, None), (500, None), (500, None)]);
    let app = app(backend, None, vec![("DELIVERY_MAX_ATTEMPTS", "3".into())]).await;
    let (_, secret) = subscribe(&app, &receiver.url).await;
    assert_eq!(
        app.post_signed(&callback(&bundle(5), "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    let dead = delivery_in(&app, "dead").await;
    assert_eq!(
        dead["attempts"], 3,
        "the schedule is exhausted after three attempts"
    );
    let id = dead["id"].as_i64().unwrap();
    let replay = app
        .client
        .post(app.url(&format!("/v1/deliveries/{id}/retry")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 202);
    let delivered = delivery_in(&app, "delivered").await;
    assert_eq!(delivered["id"], id);
    let hits = hits(&receiver, 4).await;
    let last = verify(&secret, &hits[3]);
    assert_eq!(hits[3].headers["webhook-id"], hits[0].headers["webhook-id"]);
    assert_eq!(last["data"]["to"], "in-review");
    let missing = app
        .client
        .post(app.url("/v1/deliveries/999999/retry"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

async fn private_addresses_are_refused_by_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
    ] {
        let response = app
            .client
            .post(app.url("/v1/webhooks"))
            .bearer_auth(API_TOKEN)
            .json(&json!({ "url": url }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{url}");
        assert_eq!(response.json::<Value>().await.unwrap()["code"], "invalid_url");
    }
    for (body, code) in [
        (json!({"url": "ftp://example.com/x"}), "invalid_url"),
        (
            json!({"url": "https://example.com/x", "events": ["profile.deleted"]}),
            "invalid_events",
        ),
        (json!({"nope": 1}), "invalid_body"),
    ] {
        let response = app
            .client
            .post(app.url("/v1/webhooks"))
            .bearer_auth(API_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(response.json::<Value>().await.unwrap()["code"], code);
    }
}

/// A `notify` job that names several transitions (as jobs queued by earlier versions named a
/// group commit's): each still gets its own event, and a transition that does not exist is
/// named (the job buried) without costing the others theirs.
async fn one_job_notifies_many_transitions(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = app(backend, None, vec![]).await;
    // Stored while nobody subscribes: the notify job that drains them delivers nothing.
    let sids = [bundle(1), bundle(2), bundle(3)];
    for sid in &sids {
        assert_eq!(
            app.post_signed(&callback(sid, "pending-review"), TOKEN)
                .await
                .status(),
            204
        );
    }
    let (_, secret) = subscribe(&app, &receiver.url).await;
    let store = app.db.store().await;
    let job = NewJob {
        kind: NOTIFY,
        payload: json!({ "transition_ids": [1, 2, 3, 999] }),
        dedupe_key: None,
        run_at: chrono::Utc::now(),
    };
    store.enqueue_jobs(&[job]).await.unwrap();
    // Not woken: the worker finds it on its next poll (`fast_jobs`).
    let hits = hits(&receiver, 3).await;
    let mut notified: Vec<String> = hits
        .iter()
        .map(|hit| verify(&secret, hit)["data"]["sid"].as_str().unwrap().to_owned())
        .collect();
    notified.sort();
    assert_eq!(notified, sids);
    let dead = wait_for(20, "the job buried", || async {
        let (_, jobs) = app.api_get("/v1/jobs?state=dead").await;
        jobs["items"].as_array().and_then(|items| items.first().cloned())
    })
    .await;
    assert_eq!(dead["kind"], "notify");
    assert!(dead["last_error"].as_str().unwrap().contains("[999]"), "{dead}");
    store.close().await;
}

both_backends!(
    one_job_notifies_many_transitions,
    webhooks_are_signed_and_delivered,
    retries_keep_the_id_and_honour_retry_after,
    redirects_are_not_followed,
    gone_disables_the_subscription,
    dead_deliveries_can_be_replayed,
    private_addresses_are_refused_by_default,
);

/// Outbound webhooks never go through the environment's proxy (which would resolve the host
/// itself, past the address filter): with `HTTP_PROXY` pointing at a listener, the event
/// reaches the subscriber directly and the proxy sees nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_ignore_the_environment_proxy() {
    use crate::support::process::{serve_env, ServeProcess};
    let (subscriber, proxy) = (Receiver::start().await, Receiver::start().await);
    let dir = tempfile::tempdir().unwrap();
    let mut env = serve_env(&format!("sqlite://{}", dir.path().join("proxy.db").display()));
    fast_jobs(&mut env);
    env.push(("WEBHOOK_ALLOW_PRIVATE", "true".into()));
    for name in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        env.push((name, proxy.url.clone()));
    }
    let serve = ServeProcess::start(&env);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let created = client
        .post(serve.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&json!({ "url": subscriber.url }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let sid = bundle(1);
    assert_eq!(
        serve.post_signed(&client, &callback(&sid, "in-review")).await,
        204
    );
    let hits = hits(&subscriber, 1).await;
    let event: Value = serde_json::from_slice(&hits[0].body).unwrap();
    assert_eq!(event["data"]["sid"], sid.as_str());
    assert!(proxy.hits().is_empty(), "nothing went through the proxy");
}
