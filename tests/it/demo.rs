//! `trusthub-hooks demo` as a newcomer runs it: nothing configured but a port and a token;
//! the story completes (profiles of several kinds, a rejection explained by Trust Hub's
//! evaluation, then approved; emails and webhooks delivered; an A2P brand refused), the
//! dashboard is served, and SIGTERM ends it with exit 0.

use crate::support::process::bin;
use crate::support::{self, API_TOKEN};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc::channel;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_plays_the_whole_story() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = bin()
        .arg("demo")
        .current_dir(dir.path())
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("API_TOKENS", API_TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines, said) = channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let base = loop {
        let line = said
            .recv_timeout(Duration::from_secs(60))
            .expect("the demo prints where to look");
        seen.push(line.clone());
        if let Some(rest) = line.split("dashboard:").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches("/ui")
                .to_owned();
        }
    };
    loop {
        let line = said
            .recv_timeout(Duration::from_secs(90))
            .unwrap_or_else(|e| panic!("the story did not finish ({e}): {seen:#?}"));
        seen.push(line.clone());
        if line.starts_with("Story done") {
            break;
        }
    }
    assert!(
        seen.iter().any(|l| l.contains(API_TOKEN)),
        "the token is printed: {seen:#?}"
    );
    assert!(std::path::Path::new(&dir.path().join("trusthub-hooks-demo.db")).exists());

    let http = reqwest::Client::new();
    let api = |path: String| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let answer = http.get(&url).bearer_auth(API_TOKEN).send().await.unwrap();
            assert_eq!(answer.status(), 200, "{url}");
            answer.json::<Value>().await.unwrap()
        }
    };
    let profiles = api("/v1/profiles".into()).await;
    let items = profiles["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{profiles}");
    let kinds: Vec<&str> = items.iter().filter_map(|p| p["kind"].as_str()).collect();
    for kind in ["customer_profile", "regulatory_bundle"] {
        assert!(kinds.contains(&kind), "{kind}: {profiles}");
    }
    let in_review = items
        .iter()
        .find(|p| p["status"] == "in-review")
        .expect("a trust product still in review");
    assert_eq!(in_review["friendly_name"], "Acme Bakery SHAKEN/STIR");
    // Globex: rejected with Trust Hub's reasons, then approved.
    let globex = items
        .iter()
        .find(|p| p["friendly_name"] == "Globex Plumbing")
        .unwrap();
    let sid = globex["sid"].as_str().unwrap();
    let detail = api(format!("/v1/profiles/{sid}")).await;
    assert_eq!(detail["status"], "twilio-approved", "{detail}");
    let statuses: Vec<&str> = detail["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["to"].as_str())
        .collect();
    assert!(statuses.contains(&"twilio-rejected"), "{statuses:?}");
    let evaluations = api(format!("/v1/profiles/{sid}/evaluations")).await;
    let reasons = evaluations["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["status"] == "noncompliant")
        .expect("the rejection's evaluation");
    assert!(
        reasons["results"][0]["failure_reason"]
            .as_str()
            .unwrap()
            .contains("Business"),
        "{reasons}"
    );
    // Notifications went out over real SMTP and HTTP.
    let deliveries = support::wait_for(20, "delivered notifications", || async move {
        let list = api("/v1/deliveries?status=delivered&limit=200".into()).await;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let of = |channel: &str| items.iter().filter(|d| d["channel"] == channel).count();
        (of("email") >= 10 && of("webhook") >= 10).then_some(items)
    })
    .await;
    assert!(deliveries
        .iter()
        .any(|d| d["event_type"] == "brand.status_changed"));
    let brands = api("/v1/brands".into()).await;
    assert_eq!(brands["items"][0]["status"], "registration_failed", "{brands}");
    // The dashboard is served.
    let page = http.get(format!("{base}/ui/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let code = tokio::task::spawn_blocking(move || child.wait().unwrap().code())
        .await
        .unwrap();
    assert_eq!(code, Some(0));
}
