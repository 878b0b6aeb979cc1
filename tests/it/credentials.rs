//! Whose credentials go where: `sync` and the evaluation fetch call Trust Hub as the
//! profile's own account (an API key where one is configured), and never hand credentials
//! to another origin, whether a page's `next_page_url` or a redirect points there.

use crate::support::fake_trusthub::{FakeTrustHub, Fault};
use crate::support::process::bin;
use crate::support::receiver::Receiver;
use crate::support::{bundle, fast_jobs, wait_for, Backend, TestApp, TestDb, ACCOUNT, PUBLIC_URL, TOKEN};
use serde_json::Value;

const OTHER: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const OTHER_TOKEN: &str = "other-token-0123456789abcdef0123";
const KEY: &str = "SKcccccccccccccccccccccccccccccccc";
const SECRET: &str = "key-secret-0123456789";

/// A TOML file (readable by its owner only, as a file with secrets must be) adding `OTHER`.
fn other_account_file() -> tempfile::NamedTempFile {
    use std::os::unix::fs::PermissionsExt as _;
    let file = tempfile::NamedTempFile::new().unwrap();
    let text = format!("[[accounts]]\naccount_sid = \"{OTHER}\"\nauth_token = \"{OTHER_TOKEN}\"\n");
    std::fs::write(file.path(), text).unwrap();
    std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    file
}

/// Runs the binary as a user would (off the runtime's threads, so the fake keeps answering).
async fn run(db: &TestDb, fake: &FakeTrustHub, extra: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut env: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), db.url.clone()),
        ("PUBLIC_URL".into(), PUBLIC_URL.into()),
        ("TWILIO_ACCOUNT_SID".into(), ACCOUNT.into()),
        ("TWILIO_AUTH_TOKEN".into(), TOKEN.into()),
        ("TRUSTHUB_API_URL".into(), fake.base.clone()),
        // Configured accounts only: the requests counted are Trust Hub's.
        ("SUBACCOUNT_DISCOVERY".into(), "false".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    crate::support::numbers_follow_trusthub(&mut env);
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let output = bin().envs(env).args(&args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code().unwrap_or(-1), text)
    })
    .await
    .unwrap()
}

/// More profiles than `sync` asks for in one page (100).
fn two_pages_of_profiles(fake: &FakeTrustHub) {
    for n in 1..=101 {
        fake.add_profile(&bundle(n), ACCOUNT, "in-review");
    }
}

/// The `Authorization` header of each request that reached `receiver`.
fn authorizations(receiver: &Receiver) -> Vec<Option<String>> {
    receiver
        .hits()
        .iter()
        .map(|hit| Some(hit.headers.get("authorization")?.to_str().ok()?.to_owned()))
        .collect()
}

fn origin(receiver: &Receiver) -> String {
    receiver.url.trim_end_matches("/hook").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_next_page_url_gets_no_credentials() {
    let (db, fake, elsewhere) = (
        TestDb::new(Backend::Sqlite).await,
        FakeTrustHub::start().await,
        Receiver::start().await,
    );
    fake.add_account(ACCOUNT, TOKEN);
    two_pages_of_profiles(&fake);
    fake.send_next_pages_to(&origin(&elsewhere));
    let (code, out) = run(&db, &fake, &[], &["sync"]).await;
    let sent = authorizations(&elsewhere);
    assert!(
        sent.iter().all(Option::is_none),
        "credentials went elsewhere: {sent:?}"
    );
    assert!(elsewhere.hits().is_empty(), "nothing went elsewhere");
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("next_page_url") && out.contains("leaves"),
        "the refusal is reported: {out}"
    );
    assert_eq!(fake.requests().len(), 1, "only the first page was asked for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_elsewhere_is_not_followed() {
    let (db, fake, elsewhere) = (
        TestDb::new(Backend::Sqlite).await,
        FakeTrustHub::start().await,
        Receiver::start().await,
    );
    fake.add_account(ACCOUNT, TOKEN);
    two_pages_of_profiles(&fake);
    // Every call is redirected: more of them than any retry would make.
    let target = format!("{}/v1/CustomerProfiles?PageSize=100", origin(&elsewhere));
    fake.inject(vec![Fault::RedirectTo(target); 10]);
    let (code, out) = run(&db, &fake, &[], &["sync"]).await;
    let sent = authorizations(&elsewhere);
    assert!(
        sent.iter().all(Option::is_none),
        "credentials went elsewhere: {sent:?}"
    );
    assert!(elsewhere.hits().is_empty(), "the redirect was not followed");
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("Twilio answered 307"),
        "the refusal is reported: {out}"
    );
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == 307), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_is_used_where_the_auth_token_would_be() {
    let (db, fake) = (TestDb::new(Backend::Sqlite).await, FakeTrustHub::start().await);
    fake.add_account(ACCOUNT, TOKEN);
    fake.add_api_key(KEY, SECRET, ACCOUNT);
    two_pages_of_profiles(&fake);
    let key = [("TWILIO_API_KEY", KEY), ("TWILIO_API_SECRET", SECRET)];
    let (code, out) = run(&db, &fake, &key, &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("101 profiles checked"), "{out}");
    let (code, out) = run(&db, &fake, &key, &["sync", &bundle(1)]).await;
    assert_eq!(code, 0, "{out}");
    let requests = fake.requests();
    assert_eq!(
        requests.len(),
        5,
        "two pages of profiles, one of trust products, one of regulatory bundles, then one profile"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.username.as_deref() == Some(KEY) && r.status == 200),
        "every call as the key: {requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_calls_each_account_with_its_own_credentials() {
    let (db, fake) = (TestDb::new(Backend::Sqlite).await, FakeTrustHub::start().await);
    fake.add_account(ACCOUNT, TOKEN);
    fake.add_account(OTHER, OTHER_TOKEN);
    let (mine, theirs) = (bundle(1), bundle(2));
    fake.add_profile(&mine, ACCOUNT, "in-review");
    fake.add_profile(&theirs, OTHER, "twilio-approved");
    let file = other_account_file();
    let config = [("TRUSTHUB_HOOKS_CONFIG", file.path().to_str().unwrap())];
    let (code, out) = run(&db, &fake, &config, &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{theirs}: twilio-approved - recorded")),
        "{out}"
    );
    assert!(out.contains("2 profiles checked"), "{out}");
    // The other account's profile, asked for by name, is read as that account.
    fake.set_status(&theirs, "twilio-rejected");
    let (code, out) = run(&db, &fake, &config, &["sync", &theirs]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{theirs}: twilio-rejected - recorded")),
        "{out}"
    );
    let users: Vec<(u16, Option<String>)> = fake
        .requests()
        .into_iter()
        .map(|r| (r.status, r.username))
        .collect();
    let (a, b) = (Some(ACCOUNT.to_owned()), Some(OTHER.to_owned()));
    // Each account's customer profiles, trust products and regulatory bundles, then the one.
    let mut expected = vec![(200, a); 3];
    expected.extend(vec![(200, b); 4]);
    assert_eq!(users, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_rejection_is_explained_with_its_credentials() {
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    fake.add_account(OTHER, OTHER_TOKEN);
    let sid = bundle(3);
    fake.add_profile(&sid, OTHER, "twilio-rejected");
    let toml = format!("[[accounts]]\naccount_sid = \"{OTHER}\"\nauth_token = \"{OTHER_TOKEN}\"\n");
    let base = fake.base.clone();
    let app = TestApp::spawn_with(Backend::Sqlite, Some(&toml), move |env| {
        env.push(("TRUSTHUB_API_URL", base));
        fast_jobs(env);
    })
    .await;
    for status in ["in-review", "twilio-rejected"] {
        let params = [
            ("AccountSid", OTHER),
            ("BundleSid", sid.as_str()),
            ("Status", status),
        ];
        assert_eq!(app.post_signed(&params, OTHER_TOKEN).await.status(), 204);
    }
    let job: Value = wait_for(20, "the confirm_decision job to end", || async {
        let (_, jobs) = app.api_get("/v1/jobs").await;
        jobs["items"]
            .as_array()?
            .iter()
            .find(|j| j["kind"] == "confirm_decision" && (j["state"] == "done" || j["state"] == "dead"))
            .cloned()
    })
    .await;
    assert_eq!(job["state"], "done", "{job}");
    let (_, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(profile["evaluation"]["status"], "noncompliant", "{profile}");
    let requests = fake.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.username.as_deref() == Some(OTHER) && r.status < 300),
        "every call as the profile's account: {requests:?}"
    );
}

/// A subaccount's callback that names no account (`AccountSid` left out) is the verifying
/// account's: the rejection is confirmed and explained with the subaccount's credentials, not
/// the main account's (to which Trust Hub answers 404).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_without_account_is_followed_up_as_the_account_that_signed_it() {
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    fake.add_account(OTHER, OTHER_TOKEN);
    let sid = bundle(5);
    fake.add_profile(&sid, OTHER, "twilio-rejected");
    let toml = format!("[[accounts]]\naccount_sid = \"{OTHER}\"\nauth_token = \"{OTHER_TOKEN}\"\n");
    let base = fake.base.clone();
    let app = TestApp::spawn_with(Backend::Sqlite, Some(&toml), move |env| {
        env.push(("TRUSTHUB_API_URL", base));
        fast_jobs(env);
    })
    .await;
    for status in ["in-review", "twilio-rejected"] {
        let params = [("BundleSid", sid.as_str()), ("Status", status)];
        assert_eq!(app.post_signed(&params, OTHER_TOKEN).await.status(), 204);
    }
    let (_, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
    assert_eq!(
        profile["account_sid"], OTHER,
        "the signer's account is the bundle's: {profile}"
    );
    let job: Value = wait_for(20, "the confirm_decision job to end", || async {
        let (_, jobs) = app.api_get("/v1/jobs").await;
        jobs["items"]
            .as_array()?
            .iter()
            .find(|j| j["kind"] == "confirm_decision" && (j["state"] == "done" || j["state"] == "dead"))
            .cloned()
    })
    .await;
    assert_eq!(job["state"], "done", "{job}");
    let requests = fake.requests();
    assert!(
        !requests.is_empty() && requests.iter().all(|r| r.username.as_deref() == Some(OTHER)),
        "every call as the signing account: {requests:?}"
    );
}

/// A profile `sync` is asked for by name, never seen here before: Trust Hub answers 404 to
/// every account but its own, so it is looked for in each configured account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_finds_a_named_profile_of_another_account() {
    let (db, fake) = (TestDb::new(Backend::Sqlite).await, FakeTrustHub::start().await);
    fake.add_account(ACCOUNT, TOKEN);
    fake.add_account(OTHER, OTHER_TOKEN);
    let theirs = bundle(4);
    fake.add_profile(&theirs, OTHER, "twilio-approved");
    let file = other_account_file();
    let config = [("TRUSTHUB_HOOKS_CONFIG", file.path().to_str().unwrap())];
    let (code, out) = run(&db, &fake, &config, &["sync", &theirs]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{theirs}: twilio-approved - recorded")),
        "{out}"
    );
    let store = db.store().await;
    let sid = trusthub_hooks::domain::ProfileSid::parse(&theirs).unwrap();
    let recorded = store.get_profile(&sid).await.unwrap().unwrap();
    assert_eq!(recorded.profile.account_sid.as_deref(), Some(OTHER));
    let (code, out) = run(&db, &fake, &config, &["sync", &bundle(5)]).await;
    assert_ne!(code, 0, "a profile of no account: {out}");
    assert!(out.contains("404"), "{out}");
}
