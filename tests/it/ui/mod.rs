//! The dashboard (`/ui`) over plain HTTP on SQLite and PostgreSQL: nothing without a session,
//! strict cookies, CSRF on every form, escaping of what comes from outside; and the pages in
//! headless Chromium (`browser`).

mod browser;
pub mod client;
mod customer;
mod forms;
mod sessions;

use crate::support::{bundle, callback, Backend, TestApp, TestDb, API_TOKEN, TOKEN};
use client::{get, location, login, page, profile_rows, set_cookie_header, sign_in};
use trusthub_hooks::ui::session;

async fn pages_need_a_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        app.post_signed(&callback(&bundle(1), "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    let profile = format!("/ui/profiles/{}", bundle(1));
    for path in [
        "/ui",
        "/ui/profiles",
        "/ui/profiles?status=in-review",
        &profile,
        "/ui/webhooks",
        "/ui/nothing",
    ] {
        let response = get(&app, None, path).await;
        assert_eq!(response.status(), 303, "{path}");
        let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
        assert_eq!(location(&response), format!("/ui/login?next={next}"), "{path}");
        assert!(
            !response.text().await.unwrap().contains(&bundle(1)),
            "{path} leaks"
        );
    }
    let slash = get(&app, None, "/ui/").await;
    assert_eq!((slash.status().as_u16(), location(&slash)), (308, "/ui".into()));
    // Forms, too, send a stranger to the sign-in page and do nothing.
    let (_, before) = app.api_get("/v1/jobs?limit=500").await;
    for path in [
        format!("{profile}/sync"),
        format!("{profile}/refetch"),
        "/ui/deliveries/1/replay".into(),
    ] {
        let response = client::post(&app, None, &path, &[("csrf", "x")], &[]).await;
        assert_eq!(
            (response.status().as_u16(), location(&response)),
            (303, "/ui/login?next=%2Fui".into())
        );
    }
    let (_, after) = app.api_get("/v1/jobs?limit=500").await;
    assert_eq!(
        before["items"].as_array().unwrap().len(),
        after["items"].as_array().unwrap().len()
    );
    // The sign-in page itself is public and shows nothing of the data.
    let response = get(&app, None, "/ui/login").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("name=\"token\"") && !html.contains(&bundle(1)));
}

async fn sign_in_takes_only_configured_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for wrong in [
        "",
        "wrong",
        "test-api-token-012345678",
        "test-api-token-01234567890",
    ] {
        let response = sign_in(&app, wrong).await;
        assert_eq!(response.status(), 401, "{wrong:?}");
        assert!(client::session_cookie(&response).is_none(), "{wrong:?}");
        assert!(response.text().await.unwrap().contains("role=\"alert\""));
    }
    // From another site, even the right token opens nothing (login CSRF).
    let cross = client::post(
        &app,
        None,
        "/ui/login",
        &[("token", API_TOKEN)],
        &[("Origin", "https://evil.example")],
    )
    .await;
    assert_eq!(cross.status(), 403);
    assert!(client::session_cookie(&cross).is_none());
    let right = sign_in(&app, API_TOKEN).await;
    assert_eq!((right.status().as_u16(), location(&right)), (303, "/ui".into()));
    let cookie = set_cookie_header(&right);
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure", "Max-Age=28800"] {
        assert!(
            cookie.split("; ").any(|part| part == flag),
            "{flag} missing from {cookie}"
        );
    }
    let value = client::session_cookie(&right).unwrap();
    let overview = get(&app, Some(&value), "/ui").await;
    assert_eq!(overview.status(), 200);
    let csp = overview.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(overview.headers()["cache-control"], "no-store");
    // Signed in already: the sign-in page goes straight to where it was asked to go.
    let again = get(&app, Some(&value), "/ui/login?next=/ui/webhooks").await;
    assert_eq!(location(&again), "/ui/webhooks");
    // Over plain http, the cookie cannot be Secure (the browser would never send it back).
    let plain = TestApp::spawn_with(backend, None, |env| {
        env.retain(|(k, _)| *k != "PUBLIC_URL");
        env.push(("PUBLIC_URL", "http://hooks.internal:8080".into()));
        env.push(("ALLOW_INSECURE_PUBLIC_URL", "true".into()));
    })
    .await;
    let cookie = set_cookie_header(&sign_in(&plain, API_TOKEN).await);
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
}

async fn forged_and_expired_sessions_are_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::spawn_on(db.shared(), None, |_| {}).await;
    let good = login(&app).await;
    let mut flipped = good.clone().into_bytes();
    let i = flipped.len() - 3;
    flipped[i] = if flipped[i] == b'x' { b'y' } else { b'x' };
    let flipped = String::from_utf8(flipped).unwrap();
    let now = chrono::Utc::now();
    let key = sessions::stored_key(backend, &app.db).await;
    let digest = session::digest_of(API_TOKEN);
    let named = |value: String| format!("{}={value}", session::HOST_COOKIE);
    let expired = named(session::issue(&key, &digest, now - chrono::Duration::seconds(1)));
    let stranger = named(session::issue(
        &key,
        &session::digest_of("not-a-configured-token"),
        now + session::LIFETIME,
    ));
    let parts: Vec<&str> = good.split('.').collect();
    let extended = format!(
        "{}.{}.{}.{}.{}",
        parts[0],
        parts[1],
        (now + chrono::Duration::days(365)).timestamp(),
        parts[3],
        parts[4]
    );
    for (what, cookie) in [
        ("garbage", "__Host-th_session=nonsense"),
        ("tampered", &flipped),
        ("expired", &expired),
        ("another token's", &stranger),
        ("extended", &extended),
    ] {
        let response = get(&app, Some(cookie), "/ui").await;
        assert_eq!(response.status(), 303, "{what} cookie");
        assert!(location(&response).starts_with("/ui/login"), "{what} cookie");
    }
    // Control: a cookie made the same way, unexpired, opens the dashboard.
    let fresh = named(session::issue(&key, &digest, now + chrono::Duration::minutes(5)));
    assert_eq!(get(&app, Some(&fresh), "/ui").await.status(), 200);
    // Another instance on the same database with the same API_TOKENS accepts the session
    // (sessions::instances_on_one_database_accept_each_others_sessions); one where the token
    // was removed does not.
    app.stop().await;
    let revoked = TestApp::spawn_on(db.shared(), None, |env| {
        env.retain(|(k, _)| *k != "API_TOKENS");
        env.push(("API_TOKENS", "some-other-token".into()));
    })
    .await;
    assert_eq!(get(&revoked, Some(&good), "/ui").await.status(), 303);
}

async fn outside_text_is_escaped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sid = bundle(9);
    let reason = "<script>alert('reason')</script><img src=x onerror=alert(1)>";
    let name = "\"><svg onload=alert(2)>";
    let mut rejected = callback(&sid, "twilio-rejected");
    rejected.push(("FailureReason", reason));
    rejected.push(("FriendlyName", name));
    assert_eq!(app.post_signed(&rejected, TOKEN).await.status(), 204);
    let cookie = login(&app).await;
    for path in [
        "/ui".to_owned(),
        "/ui/profiles".into(),
        format!("/ui/profiles/{sid}"),
    ] {
        let html = page(&app, &cookie, &path).await;
        for raw in ["<script>alert", "<img src=x", "<svg onload", "\"><svg"] {
            assert!(!html.contains(raw), "{path} carries {raw} unescaped");
        }
        assert!(html.contains(&sid), "{path} shows the profile");
    }
    let profile = page(&app, &cookie, &format!("/ui/profiles/{sid}")).await;
    assert!(
        profile.contains("&lt;script&gt;alert('reason')&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"),
        "{profile}"
    );
    assert!(profile.contains("&quot;&gt;&lt;svg onload=alert(2)&gt;"));
}

async fn lists_filter_search_and_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for n in 1..=55 {
        let status = if n % 5 == 0 {
            "twilio-rejected"
        } else {
            "in-review"
        };
        let sid = bundle(n);
        let mut fields = callback(&sid, status);
        let name = match n {
            7 => "Acme_Widgets",
            8 => "Acme Widgets",
            _ => "",
        };
        if !name.is_empty() {
            fields.push(("FriendlyName", name));
        }
        assert_eq!(app.post_signed(&fields, TOKEN).await.status(), 204);
    }
    let cookie = login(&app).await;
    let first = page(&app, &cookie, "/ui/profiles").await;
    assert_eq!(profile_rows(&first), 50);
    let next = first.split("rel=\"next\"").next().unwrap();
    let href = next
        .rsplit("href=\"")
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let second = page(&app, &cookie, &href).await;
    assert_eq!(profile_rows(&second), 5, "{href}");
    assert!(second.contains(&bundle(1)) && !second.contains(&bundle(55)));
    let rejected = page(&app, &cookie, "/ui/profiles?status=twilio-rejected").await;
    assert_eq!(profile_rows(&rejected), 11);
    // Any part of the SID, in either case; a name's `_` is a character, not a wildcard.
    let by_sid = page(&app, &cookie, "/ui/profiles?q=0000002A").await;
    assert_eq!(profile_rows(&by_sid), 1);
    assert!(by_sid.contains(&bundle(42)));
    let by_name = page(&app, &cookie, "/ui/profiles?q=e_W").await;
    assert_eq!(profile_rows(&by_name), 1);
    assert!(by_name.contains(&bundle(7)));
    assert_eq!(profile_rows(&page(&app, &cookie, "/ui/profiles?q=acme").await), 2);
    let overview = page(&app, &cookie, "/ui").await;
    assert!(
        overview.contains("Rejected: 11") && overview.contains("In review: 44"),
        "{overview}"
    );
    assert!(overview.contains("55 profiles known."));
    assert_eq!(
        get(&app, Some(&cookie), "/ui/profiles?cursor=not-ours")
            .await
            .status(),
        400
    );
    assert_eq!(
        get(&app, Some(&cookie), &format!("/ui/profiles/{}", bundle(99)))
            .await
            .status(),
        404
    );
}

both_backends!(
    pages_need_a_session,
    sign_in_takes_only_configured_tokens,
    forged_and_expired_sessions_are_refused,
    outside_text_is_escaped,
    lists_filter_search_and_page,
);
