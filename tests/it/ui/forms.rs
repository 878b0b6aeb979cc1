//! Every dashboard form that changes something refuses a request without this session's CSRF
//! token, with a wrong one, or from another site, and changes nothing then; with the token it
//! does its work (re-fetch an evaluation, sync one profile, replay a delivery, sign out).

use super::client::{csrf_of, get, location, login, page, post};
use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::receiver::Receiver;
use crate::support::{bundle, callback, fast_jobs, wait_for, Backend, TestApp, ACCOUNT, API_TOKEN, TOKEN};
use serde_json::{json, Value};

/// Form fields or headers, as name and value.
type Fields<'a> = Vec<(&'a str, &'a str)>;

async fn app(backend: Backend, fake: &FakeTrustHub) -> TestApp {
    let base = fake.base.clone();
    TestApp::spawn_with(backend, None, move |env| {
        fast_jobs(env);
        env.push(("TRUSTHUB_API_URL", base));
        env.push(("WEBHOOK_ALLOW_PRIVATE", "true".into()));
        env.push(("DELIVERY_MAX_ATTEMPTS", "1".into()));
    })
    .await
}

async fn jobs(app: &TestApp) -> Vec<Value> {
    let (status, jobs) = app.api_get("/v1/jobs?limit=500").await;
    assert_eq!(status, 200);
    jobs["items"].as_array().unwrap().clone()
}

async fn delivery(app: &TestApp, id: i64) -> Value {
    app.api_get(&format!("/v1/deliveries/{id}")).await.1
}

/// A dead delivery (its receiver answers 500, one attempt allowed).
async fn dead_delivery(app: &TestApp, receiver: &Receiver) -> i64 {
    let created = app
        .client
        .post(app.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&json!({"url": receiver.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(
        app.post_signed(&callback(&bundle(1), "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    wait_for(20, "a dead delivery", || async {
        let (_, list) = app.api_get("/v1/deliveries?status=dead").await;
        list["items"].as_array()?.first()?["id"].as_i64()
    })
    .await
}

async fn forms_need_the_csrf_token(backend: Backend) {
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let sid = bundle(1);
    fake.add_profile(&sid, ACCOUNT, "in-review");
    let receiver = Receiver::start().await;
    receiver.script(&[(500, None); 10]);
    let app = app(backend, &fake).await;
    let id = dead_delivery(&app, &receiver).await;
    let cookie = login(&app).await;
    let profile = format!("/ui/profiles/{sid}");
    let token = csrf_of(&page(&app, &cookie, &profile).await);
    assert_eq!(
        token,
        csrf_of(&page(&app, &cookie, "/ui/webhooks").await),
        "one token per session"
    );
    let (jobs_before, calls_before) = (jobs(&app).await.len(), fake.requests().len());
    let forms = [
        format!("{profile}/refetch"),
        format!("{profile}/sync"),
        format!("/ui/deliveries/{id}/replay"),
        "/ui/logout".into(),
    ];
    let other_session = "a".repeat(64);
    let refusals: [(&str, Fields, Fields); 5] = [
        ("no token", vec![], vec![]),
        ("a wrong token", vec![("csrf", "0000")], vec![]),
        ("another session's token", vec![("csrf", &other_session)], vec![]),
        (
            "another site's Origin",
            vec![("csrf", &token)],
            vec![("Origin", "https://evil.example")],
        ),
        (
            "a cross-site fetch",
            vec![("csrf", &token)],
            vec![("Sec-Fetch-Site", "cross-site")],
        ),
    ];
    for form in &forms {
        for (what, fields, headers) in &refusals {
            let response = post(&app, Some(&cookie), form, fields, headers).await;
            assert_eq!(response.status(), 403, "{form} with {what}");
            assert!(
                response.headers().get("set-cookie").is_none(),
                "{form} with {what}"
            );
        }
    }
    // Nothing changed: no job, no call to Trust Hub, the delivery still dead after one
    // attempt, the session still open.
    assert_eq!(jobs(&app).await.len(), jobs_before);
    assert_eq!(fake.requests().len(), calls_before);
    let dead = delivery(&app, id).await;
    assert_eq!(
        (dead["status"].as_str(), dead["attempts"].as_i64()),
        (Some("dead"), Some(1))
    );
    assert_eq!(receiver.hits().len(), 1);
    assert_eq!(get(&app, Some(&cookie), "/ui").await.status(), 200);

    // With the token (and the browser's same-origin headers) each form does its work.
    let origin = format!("http://{}", app.addr);
    let same_origin = [("Origin", origin.as_str()), ("Sec-Fetch-Site", "same-origin")];
    let ok = post(&app, Some(&cookie), &forms[0], &[("csrf", &token)], &same_origin).await;
    assert_eq!(
        (ok.status().as_u16(), location(&ok)),
        (303, format!("{profile}?done=refetch"))
    );
    let evaluation = wait_for(20, "the re-fetched evaluation", || async {
        let (_, p) = app.api_get(&format!("/v1/profiles/{sid}")).await;
        Some(p["evaluation"].clone()).filter(|e| !e.is_null())
    })
    .await;
    assert_eq!(evaluation["status"], "noncompliant");

    let ok = post(&app, Some(&cookie), &forms[1], &[("csrf", &token)], &same_origin).await;
    assert_eq!(location(&ok), format!("{profile}?done=sync"));
    wait_for(20, "the sync job of one profile", || async {
        jobs(&app).await.into_iter().find(|j| {
            j["kind"] == "sync" && j["state"] == "done" && j["payload"]["profile_sid"] == sid.as_str()
        })
    })
    .await;
    let listed_all = fake
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == "/v1/CustomerProfiles");
    assert!(!listed_all, "a one-profile sync must not list every profile");

    let ok = post(&app, Some(&cookie), &forms[2], &[("csrf", &token)], &[]).await;
    assert_eq!(location(&ok), format!("/ui/webhooks?replayed={id}"));
    wait_for(20, "the replayed delivery's second attempt", || async {
        let d = delivery(&app, id).await;
        (d["attempts"] == 2 && d["status"] == "dead").then_some(())
    })
    .await;
    assert_eq!(receiver.hits().len(), 2);

    let out = post(&app, Some(&cookie), &forms[3], &[("csrf", &token)], &same_origin).await;
    assert_eq!(location(&out), "/ui/login");
    let cleared = out.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("__Host-th_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}

both_backends!(forms_need_the_csrf_token);
