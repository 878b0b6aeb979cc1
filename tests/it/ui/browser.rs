//! The dashboard in headless Chromium, driven through chromedriver: sign in, find a rejected
//! profile and its reasons, filter the list, replay a failed delivery, sign out. Screenshots
//! of each page (desktop and phone widths) land in `$CARGO_TARGET_DIR/ui-screenshots/`.
//! It needs Chromium and chromedriver, so it is ignored unless asked for (`--ignored`,
//! `--include-ignored`), and then fails without them.

use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::receiver::Receiver;
use crate::support::{bundle, callback, fast_jobs, wait_for, Backend, TestApp, ACCOUNT, API_TOKEN, TOKEN};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The viewer's time zone: 5:45 ahead of UTC, so localised times cannot pass for UTC ones.
const VIEWER_TZ: &str = "Asia/Kathmandu";

/// A chromedriver of our own on a free port, killed when dropped.
pub(super) struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    /// Ends chromedriver and the Chromium it started (its own process group, so that a test
    /// that failed half-way leaves no browser behind).
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails, saying what to install, when Chromium or chromedriver is missing: a browser test
/// that was asked for must not pass without having run.
pub(super) fn require_browser() {
    for program in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(program).exists(),
            "this test needs {program}, which is missing: apt-get install chromium chromium-driver \
             (or run without --ignored/--include-ignored to leave the browser tests out)"
        );
    }
}

pub(super) async fn start_driver() -> (Driver, Client) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .env("TZ", VIEWER_TZ)
        .env("LANG", "en_US.UTF-8")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: profile,
    };
    let status = format!("{}/status", driver.url);
    wait_for(30, "chromedriver to be ready", || async {
        let answer = reqwest::get(&status).await.ok()?.json::<Value>().await.ok()?;
        (answer["value"]["ready"] == true).then_some(())
    })
    .await;
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--lang=en-US",
    ];
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    args.push(format!("--user-data-dir={}", driver._profile.path().display()));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": CHROMIUM, "args": args}),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session");
    (driver, client)
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Screenshots of the current page at desktop and phone widths.
pub(super) async fn screenshots(c: &Client, backend: Backend, name: &str) {
    let dir = screenshot_dir();
    for (size, width, height) in [("desktop", 1280, 1000), ("phone", 390, 844)] {
        c.set_window_size(width, height).await.unwrap();
        let png = c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let file = dir.join(format!("{backend:?}-{name}-{size}.png").to_lowercase());
        std::fs::write(&file, png).unwrap();
    }
    c.set_window_size(1280, 1000).await.unwrap();
}

/// Waits until the browser is on `path` (navigation after a click is asynchronous).
pub(super) async fn wait_for_path(c: &Client, path: &str) {
    wait_for(20, &format!("the browser at {path}"), || async {
        let url = c.current_url().await.ok()?;
        (url.path() == path).then_some(url)
    })
    .await;
}

pub(super) async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

/// Three profiles (one rejected, with Twilio's evaluation), one subscription whose receiver
/// refused all five notifications (dead after one attempt each) and accepts the next.
async fn seeded(backend: Backend, fake: &FakeTrustHub, receiver: &Receiver) -> TestApp {
    fake.add_account(ACCOUNT, TOKEN);
    fake.add_profile(&bundle(1), ACCOUNT, "twilio-rejected");
    receiver.script(&[(500, None); 5]);
    let base = fake.base.clone();
    let app = TestApp::spawn_with(backend, None, move |env| {
        fast_jobs(env);
        env.push(("TRUSTHUB_API_URL", base));
        env.push(("WEBHOOK_ALLOW_PRIVATE", "true".into()));
        env.push(("DELIVERY_MAX_ATTEMPTS", "1".into()));
    })
    .await;
    let created = app
        .client
        .post(app.url("/v1/webhooks"))
        .bearer_auth(API_TOKEN)
        .json(&json!({"url": receiver.url, "description": "ops pager"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let sid = bundle(1);
    for status in ["pending-review", "in-review"] {
        assert_eq!(
            app.post_signed(&callback(&sid, status), TOKEN).await.status(),
            204
        );
    }
    let mut rejected = callback(&sid, "twilio-rejected");
    rejected.push(("FailureReason", "Business information mismatch"));
    assert_eq!(app.post_signed(&rejected, TOKEN).await.status(), 204);
    assert_eq!(
        app.post_signed(&callback(&bundle(2), "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.post_signed(&callback(&bundle(3), "twilio-approved"), TOKEN)
            .await
            .status(),
        204
    );
    wait_for(30, "five dead deliveries", || async {
        let (_, list) = app.api_get("/v1/deliveries?status=dead").await;
        (list["items"].as_array()?.len() == 5).then_some(())
    })
    .await;
    app
}

async fn the_dashboard_in_a_browser(backend: Backend) {
    require_browser();
    let (fake, receiver) = (FakeTrustHub::start().await, Receiver::start().await);
    let app = seeded(backend, &fake, &receiver).await;
    let (_driver, c) = start_driver().await;
    let rejected = bundle(1);

    // Signing in leads back to the page first asked for.
    c.goto(&app.url("/ui/profiles")).await.unwrap();
    wait_for_path(&c, "/ui/login").await;
    screenshots(&c, backend, "login").await;
    c.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(API_TOKEN)
        .await
        .unwrap();
    c.find(Locator::Css("form.login button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&c, "/ui/profiles").await;

    // Filter the list down to the rejected profile.
    c.find(Locator::Id("status"))
        .await
        .unwrap()
        .select_by_value("twilio-rejected")
        .await
        .unwrap();
    c.find(Locator::Css("form.filters button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(20, "the filtered list", || async {
        let url = c.current_url().await.ok()?;
        url.query()
            .is_some_and(|q| q.contains("status=twilio-rejected"))
            .then_some(())
    })
    .await;
    let rows = text_of(&c, "table tbody").await;
    assert!(
        rows.contains(&rejected) && !rows.contains(&bundle(2)) && !rows.contains(&bundle(3)),
        "{rows}"
    );
    screenshots(&c, backend, "profiles").await;

    // The profile page explains the rejection in Twilio's words, with the fields to fix.
    c.find(Locator::LinkText(&rejected))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&c, &format!("/ui/profiles/{rejected}")).await;
    let why = text_of(&c, "section[aria-labelledby=why]").await;
    for needle in [
        "A Business End-User is missing",
        "Business Name: The Business Name is missing",
        "error 22214",
    ] {
        assert!(why.contains(needle), "{needle} missing from: {why}");
    }
    let history = text_of(&c, "ol.timeline").await;
    assert!(
        history.contains("Business information mismatch") && history.contains("Dead"),
        "{history}"
    );
    // Times are shown in the viewer's zone, the UTC instant kept in the attribute.
    let time = c.find(Locator::Css("time[data-local]")).await.unwrap();
    let shown = time.text().await.unwrap();
    assert!(shown.contains("GMT+5:45"), "localised time: {shown}");
    assert!(time.attr("datetime").await.unwrap().unwrap().ends_with('Z'));
    screenshots(&c, backend, "profile").await;
    c.execute("document.getElementById('history').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshots(&c, backend, "profile-history").await;

    c.goto(&app.url("/ui")).await.unwrap();
    let overview = text_of(&c, "main").await;
    assert!(
        overview.contains("Business information mismatch") && overview.contains(&receiver.url),
        "{overview}"
    );
    screenshots(&c, backend, "overview").await;

    // Replay one dead delivery; the receiver now accepts it.
    let (_, dead) = app.api_get("/v1/deliveries?status=dead").await;
    let id = dead["items"][0]["id"].as_i64().unwrap();
    c.goto(&app.url("/ui/webhooks?status=dead")).await.unwrap();
    c.find(Locator::Css(&format!("#delivery-{id} button")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(20, "the replay notice", || async {
        c.find(Locator::Css("p.notice"))
            .await
            .ok()?
            .text()
            .await
            .ok()?
            .contains(&format!("Delivery {id}"))
            .then_some(())
    })
    .await;
    wait_for(20, "the replayed delivery to arrive", || async {
        (app.api_get(&format!("/v1/deliveries/{id}")).await.1["status"] == "delivered").then_some(())
    })
    .await;
    c.goto(&app.url("/ui/webhooks")).await.unwrap();
    assert!(text_of(&c, &format!("#delivery-{id}"))
        .await
        .contains("Delivered"));
    assert_eq!(receiver.hits().len(), 6);
    screenshots(&c, backend, "webhooks").await;

    // Signing out ends the session in this browser.
    c.find(Locator::Css("header form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&c, "/ui/login").await;
    c.goto(&app.url("/ui")).await.unwrap();
    wait_for_path(&c, "/ui/login").await;
    c.close().await.unwrap();
}

/// Once per backend, as `both_backends!` would, but each variant needs a browser and so is
/// ignored unless asked for.
mod the_dashboard_in_a_browser {
    use crate::support::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs chromium and chromedriver"]
    async fn sqlite() {
        super::the_dashboard_in_a_browser(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs chromium and chromedriver, and PostgreSQL at 127.0.0.1:5432"]
    async fn postgres() {
        super::the_dashboard_in_a_browser(Backend::Postgres).await
    }
}
