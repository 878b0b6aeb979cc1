//! The submission commands through the real binary, against the fake Trust Hub, with the
//! local store on SQLite and PostgreSQL: the exact requests made, refusal of a noncompliant
//! submission, `create` resuming after a failure without duplicates, `sync`, `simulate`.

use crate::support;
use crate::support::fake_trusthub::{FakeTrustHub, Fault, Seen};
use crate::support::process::{bin, ServeProcess};
use crate::support::{bundle, Backend, TestDb, ACCOUNT, PUBLIC_URL, TOKEN};
use serde_json::{json, Value};
use trusthub_hooks::domain::ProfileSid;
use trusthub_hooks::store::DynStore;

const EXAMPLE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/secondary-profile.toml"
));

struct Setup {
    db: TestDb,
    fake: FakeTrustHub,
    env: Vec<(&'static str, String)>,
}

/// The approved primary customer profile `examples/secondary-profile.toml` names: Trust Hub
/// assigns only a profile of the caller's own account.
const PRIMARY: &str = "BU0123456789abcdef0123456789abcdef";

async fn setup(backend: Backend) -> Setup {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("PUBLIC_URL", PUBLIC_URL.to_owned()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT.to_owned()),
        ("TWILIO_AUTH_TOKEN", TOKEN.to_owned()),
        ("TRUSTHUB_API_URL", fake.base.clone()),
        ("TWILIO_API_URL", fake.base.clone()),
        ("TWILIO_NUMBERS_API_URL", fake.base.clone()),
    ];
    Setup { db, fake, env }
}

/// `setup`, with the primary profile `create` assigns.
async fn setup_for_create(backend: Backend) -> Setup {
    let s = setup(backend).await;
    s.fake.add_profile(PRIMARY, ACCOUNT, "twilio-approved");
    s
}

impl Setup {
    /// Runs the binary (off the runtime's threads, so the fake keeps answering).
    async fn run(&self, args: &[&str]) -> (i32, String) {
        let env = self.env.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let output = bin()
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .args(&args)
                .output()
                .unwrap();
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

    /// The customer profiles Trust Hub holds besides the primary one.
    fn bundles(&self) -> Vec<Value> {
        let mut profiles = self.fake.profiles();
        profiles.retain(|p| p["sid"] != PRIMARY);
        profiles
    }

    /// The requests made since `from`, as "METHOD path".
    fn calls(&self, from: usize) -> Vec<String> {
        self.fake.requests()[from..]
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

fn form(seen: &Seen) -> Vec<(&str, &str)> {
    seen.form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

async fn transitions(store: &DynStore, sid: &str) -> Vec<(String, String, String)> {
    let detail = store
        .get_profile(&ProfileSid::parse(sid).unwrap())
        .await
        .unwrap()
        .unwrap();
    detail
        .transitions
        .iter()
        .map(|t| {
            let from = t.from.as_ref().map_or("-".to_owned(), ToString::to_string);
            (from, t.to.to_string(), t.source.as_str().to_owned())
        })
        .collect()
}

async fn set_callback_defaults_to_public_url(backend: Backend) {
    let s = setup(backend).await;
    let sid = bundle(1);
    s.fake.add_profile(&sid, ACCOUNT, "draft");
    let (code, out) = s.run(&["set-callback", &sid]).await;
    assert_eq!(code, 0, "{out}");
    let expected = format!("{PUBLIC_URL}/twilio/status-callback");
    assert_eq!(
        s.fake.profile(&sid).unwrap()["status_callback"],
        expected.as_str()
    );
    let (code, out) = s
        .run(&["set-callback", &sid, "--url", "https://other.example/cb"])
        .await;
    assert_eq!(code, 0, "{out}");
    let requests = s.fake.requests();
    assert_eq!(
        s.calls(0),
        [
            format!("POST /v1/CustomerProfiles/{sid}"),
            format!("POST /v1/CustomerProfiles/{sid}")
        ]
    );
    assert_eq!(
        form(&requests[1]),
        [("StatusCallback", "https://other.example/cb")]
    );
    assert!(requests.iter().all(|r| r.username.as_deref() == Some(ACCOUNT)));
    let (code, out) = s.run(&["set-callback", "BU-nope"]).await;
    assert_ne!(code, 0);
    assert!(out.contains("not a customer profile SID"), "{out}");
}

async fn submit_refuses_noncompliant_profiles_unless_forced(backend: Backend) {
    let s = setup(backend).await;
    let sid = bundle(2);
    s.fake.add_profile(&sid, ACCOUNT, "draft");
    let (code, out) = s.run(&["submit", &sid]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not submitted"), "{out}");
    assert!(out.contains("- Business: A Business End-User is missing. Please add one to the regulatory bundle. (error 22214)"), "{out}");
    assert!(
        out.contains("* Business Name: The Business Name is missing."),
        "{out}"
    );
    assert_eq!(
        s.calls(0),
        [
            format!("GET /v1/CustomerProfiles/{sid}"),
            format!("POST /v1/CustomerProfiles/{sid}/Evaluations")
        ]
    );
    assert_eq!(s.fake.profile(&sid).unwrap()["status"], "draft");
    let before = s.fake.requests().len();
    let (code, out) = s.run(&["submit", &sid, "--force"]).await;
    assert_eq!(code, 0, "{out}");
    let requests = s.fake.requests();
    let profile_path = format!("POST /v1/CustomerProfiles/{sid}");
    assert_eq!(
        s.calls(before),
        [
            format!("GET /v1/CustomerProfiles/{sid}"),
            format!("{profile_path}/Evaluations"),
            profile_path.clone(),
            profile_path
        ]
    );
    let callback = format!("{PUBLIC_URL}/twilio/status-callback");
    assert_eq!(
        form(&requests[before + 2]),
        [("StatusCallback", callback.as_str())]
    );
    assert_eq!(form(&requests[before + 3]), [("Status", "pending-review")]);
    assert_eq!(s.fake.profile(&sid).unwrap()["status"], "pending-review");
    let store = s.db.store().await;
    assert_eq!(
        transitions(&store, &sid).await,
        [
            ("-".into(), "draft".into(), "sync".into()),
            ("draft".into(), "pending-review".into(), "submission".into())
        ]
    );
    assert_eq!(
        store.evaluations(&sid).await.unwrap().len(),
        2,
        "each evaluation is kept"
    );
}

async fn submit_sends_compliant_profiles(backend: Backend) {
    let s = setup(backend).await;
    let sid = bundle(3);
    s.fake.add_profile(&sid, ACCOUNT, "draft");
    s.fake.make_compliant(&sid);
    let (code, out) = s.run(&["submit", &sid]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("submitted for review"), "{out}");
    assert_eq!(s.fake.profile(&sid).unwrap()["status"], "pending-review");
}

fn write_spec(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("profile.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn create_runs_the_whole_flow(backend: Backend) {
    let s = setup_for_create(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(&dir, EXAMPLE);
    let (code, out) = s.run(&["create", "--file", &file]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("[ 1/14] find the policy RNdfbf3fae0e1107f8aded0e7cead80bf5 ... ok"),
        "{out}"
    );
    let profiles = s.bundles();
    assert_eq!(profiles.len(), 1);
    let profile = &profiles[0];
    let sid = profile["sid"].as_str().unwrap().to_owned();
    assert_eq!(profile["status"], "pending-review");
    assert_eq!(profile["friendly_name"], "Acme Corp");
    assert_eq!(profile["email"], "compliance@acme.example");
    let p = format!("/v1/CustomerProfiles/{sid}");
    let expected: Vec<String> = [
        // The primary profile is approved: checked before anything is created.
        &format!("GET /v1/CustomerProfiles/{PRIMARY}"),
        "GET /v1/Policies/RNdfbf3fae0e1107f8aded0e7cead80bf5",
        "POST /v1/CustomerProfiles",
        "POST /v1/EndUsers",
        &format!("POST {p}/EntityAssignments"),
        "POST /v1/EndUsers",
        &format!("POST {p}/EntityAssignments"),
        "POST /v1/EndUsers",
        &format!("POST {p}/EntityAssignments"),
        &format!("POST /2010-04-01/Accounts/{ACCOUNT}/Addresses.json"),
        "POST /v1/SupportingDocuments",
        &format!("POST {p}/EntityAssignments"),
        &format!("POST {p}/EntityAssignments"),
        &format!("POST {p}/ChannelEndpointAssignments"),
        &format!("GET {p}"),
        &format!("POST {p}/Evaluations"),
        &format!("POST {p}"),
        &format!("POST {p}"),
    ]
    .iter()
    .map(|c| (*c).to_owned())
    .collect();
    assert_eq!(s.calls(0), expected);
    let requests = s.fake.requests();
    let callback = format!("{PUBLIC_URL}/twilio/status-callback");
    assert!(
        form(&requests[2]).contains(&("StatusCallback", callback.as_str())),
        "the bundle starts with the callback set"
    );
    assert!(form(&requests[2]).contains(&("PolicySid", "RNdfbf3fae0e1107f8aded0e7cead80bf5")));
    // Attributes are JSON, as Trust Hub expects.
    let business: Value = serde_json::from_str(
        requests[3]
            .form
            .iter()
            .find(|(k, _)| k == "Attributes")
            .unwrap()
            .1
            .as_str(),
    )
    .unwrap();
    assert_eq!(business["business_name"], "Acme Corp");
    assert_eq!(business["business_industry"], "TECHNOLOGY");
    assert_eq!(business["business_regions_of_operation"], "USA_AND_CANADA");
    assert!(form(&requests[3]).contains(&("Type", "customer_profile_business_information")));
    assert!(form(&requests[5]).contains(&("Type", "authorized_representative_1")));
    assert!(form(&requests[7]).contains(&("Type", "authorized_representative_2")));
    let address_sid = s
        .fake
        .objects()
        .into_iter()
        .find(|o| o["sid"].as_str().unwrap().starts_with("AD"))
        .unwrap()["sid"]
        .clone();
    let document: Value = serde_json::from_str(
        requests[10]
            .form
            .iter()
            .find(|(k, _)| k == "Attributes")
            .unwrap()
            .1
            .as_str(),
    )
    .unwrap();
    assert_eq!(document, json!({"address_sids": address_sid}));
    assert!(form(&requests[12]).contains(&("ObjectSid", PRIMARY)));
    assert_eq!(s.fake.phone_numbers(&sid), ["PN0123456789abcdef0123456789abcdef"]);
    assert_eq!(s.fake.assignments(&sid).len(), 5);
    let store = s.db.store().await;
    assert_eq!(
        transitions(&store, &sid).await,
        [
            ("-".into(), "draft".into(), "submission".into()),
            ("draft".into(), "pending-review".into(), "submission".into())
        ]
    );
    // Running it again does nothing new.
    let before = s.fake.requests().len();
    let (code, out) = s.run(&["create", "--file", &file]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(s.fake.requests().len(), before, "{out}");
    assert!(out.contains("done before"), "{out}");
}

async fn create_resumes_after_a_failure_without_duplicates(backend: Backend) {
    let s = setup_for_create(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(&dir, EXAMPLE);
    s.fake
        .inject_on("POST /v1/SupportingDocuments", Fault::Status(500));
    let (code, out) = s.run(&["create", "--file", &file]).await;
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("create the customer_profile_address supporting document ... failed"),
        "{out}"
    );
    let before = s.fake.requests().len();
    let (code, out) = s.run(&["create", "--file", &file]).await;
    assert_eq!(code, 0, "{out}");
    let again = s.calls(before);
    assert_eq!(
        again[0], "POST /v1/SupportingDocuments",
        "resumes at the failed step: {again:?}"
    );
    assert_eq!(s.bundles().len(), 1, "one bundle");
    let kinds: Vec<String> = s
        .fake
        .objects()
        .iter()
        .map(|o| o["type"].as_str().unwrap_or("address").to_owned())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "customer_profile_business_information")
            .count(),
        1
    );
    assert_eq!(kinds.iter().filter(|k| *k == "address").count(), 1);
    assert_eq!(s.bundles()[0]["status"], "pending-review");
}

async fn create_adopts_a_bundle_whose_creation_was_not_recorded(backend: Backend) {
    let s = setup_for_create(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(&dir, EXAMPLE);
    // Twilio created the bundle but the answer was lost (a slow answer past the timeout).
    let mut env = s.env.clone();
    env.push(("TWILIO_TIMEOUT_SECS", "1".into()));
    let s = Setup { env, ..s };
    s.fake.inject_on(
        "POST /v1/CustomerProfiles",
        Fault::SlowAnswer(std::time::Duration::from_secs(3)),
    );
    let (code, out) = s.run(&["create", "--file", &file]).await;
    assert_ne!(code, 0, "{out}");
    support::wait_for(10, "the delayed creation", || async {
        (s.bundles().len() == 1).then_some(())
    })
    .await;
    let (code, out) = s.run(&["create", "--file", &file]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        s.bundles().len(),
        1,
        "the draft was adopted, not created again: {out}"
    );
}

async fn create_validates_before_any_call(backend: Backend) {
    let s = setup(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(
        &dir,
        &EXAMPLE
            .replace("\"direct_customer\"", "\"reseller\"")
            .replace("\"US\"", "\"USA\""),
    );
    let (code, out) = s.run(&["create", "--file", &file]).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("business.identity: \"reseller\" is not accepted; use one of: direct_customer, isv_reseller_or_partner, unknown"), "{out}");
    assert!(out.contains("address.iso_country"), "{out}");
    assert!(out.contains("nothing was sent to Twilio"), "{out}");
    assert!(s.fake.requests().is_empty());
}

async fn sync_records_missed_transitions(backend: Backend) {
    let s = setup(backend).await;
    // 120 profiles: more than one page of 100.
    for n in 10..130 {
        s.fake.add_profile(&bundle(n), ACCOUNT, "in-review");
    }
    let (code, out) = s.run(&["sync"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("120 profiles checked, 120 transitions recorded"),
        "{out}"
    );
    let pages: Vec<String> = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/CustomerProfiles")
        .map(|r| r.query)
        .collect();
    assert_eq!(pages.len(), 2);
    // The second page is the one Trust Hub's next_page_url named, token and all.
    assert!(pages[1].contains("PageToken=PABU"), "{pages:?}");
    // Twilio approves one; the callback never arrives; sync catches it.
    let sid = bundle(10);
    s.fake.set_status(&sid, "twilio-approved");
    let (code, out) = s.run(&["sync", &sid]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("twilio-approved - recorded (a callback missed it)"),
        "{out}"
    );
    let store = s.db.store().await;
    assert_eq!(
        transitions(&store, &sid).await,
        [
            ("-".into(), "in-review".into(), "sync".into()),
            ("in-review".into(), "twilio-approved".into(), "sync".into())
        ]
    );
    let (code, out) = s.run(&["sync", &sid]).await;
    assert_eq!(code, 0);
    assert!(out.contains("0 transitions recorded"), "{out}");
}

async fn simulate_is_accepted_by_a_running_serve(backend: Backend) {
    let db = TestDb::new(backend).await;
    // The public address is a proxy the test holds from the start, so its port never
    // changes hands; serve listens wherever the system puts it.
    let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://{}", front.local_addr().unwrap());
    let env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("PUBLIC_URL", public.clone()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT.to_owned()),
        ("TWILIO_AUTH_TOKEN", TOKEN.to_owned()),
        ("API_TOKENS", support::API_TOKEN.to_owned()),
    ];
    let serve = ServeProcess::start(&env);
    let _front = support::proxy::Proxy::start_from(front, serve.addr.parse().unwrap());
    let sid = bundle(42);
    let url = format!("{public}/twilio/status-callback");
    let run = |args: Vec<String>| {
        let env = env.clone();
        tokio::task::spawn_blocking(move || {
            bin()
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .args(&args)
                .output()
                .unwrap()
        })
    };
    let args = |status: &str| -> Vec<String> {
        [
            "simulate",
            "--url",
            &url,
            "--profile",
            &sid,
            "--status",
            status,
            "--failure-reason",
            "Name mismatch",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect()
    };
    let output = run(args("twilio-rejected")).await.unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("answered 204"));
    let profile: Value = reqwest::Client::new()
        .get(serve.url(&format!("/v1/profiles/{sid}")))
        .bearer_auth(support::API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(profile["status"], "twilio-rejected");
    assert_eq!(profile["transitions"][0]["failure_reason"], "Name mismatch");
    // A wrong token is refused by the receiver: simulate exits non-zero.
    let mut wrong = env.clone();
    wrong.retain(|(k, _)| *k != "TWILIO_AUTH_TOKEN");
    wrong.push(("TWILIO_AUTH_TOKEN", "not-the-token".into()));
    let refused = tokio::task::spawn_blocking({
        let args = args("twilio-approved");
        move || {
            bin()
                .envs(wrong.iter().map(|(k, v)| (*k, v.as_str())))
                .args(&args)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("answered 403"));
    assert_eq!(serve.terminate(), Some(0));
}

/// An unapproved primary profile stops `create` before anything is made, naming it.
async fn create_refuses_an_unapproved_primary_before_any_post(backend: Backend) {
    let s = setup(backend).await;
    s.fake.add_profile(PRIMARY, ACCOUNT, "in-review");
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(&dir, EXAMPLE);
    let (code, out) = s.run(&["create", "--file", &file]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(PRIMARY) && out.contains("in-review") && out.contains("not twilio-approved"),
        "{out}"
    );
    let posts: Vec<String> = s.calls(0).into_iter().filter(|c| c.starts_with("POST")).collect();
    assert!(posts.is_empty(), "nothing created: {posts:?}");
}

/// Twilio made an assignment but its answer was lost: the re-run finds it assigned and
/// goes on, and nothing is assigned twice.
async fn create_rerun_after_a_lost_assignment_answer_assigns_nothing_twice(backend: Backend) {
    let s = setup_for_create(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(&dir, EXAMPLE);
    let mut env = s.env.clone();
    env.push(("TWILIO_TIMEOUT_SECS", "1".into()));
    let s = Setup { env, ..s };
    s.fake.inject_on(
        "/EntityAssignments",
        Fault::SlowAnswer(std::time::Duration::from_secs(3)),
    );
    let (code, out) = s.run(&["create", "--file", &file]).await;
    assert_ne!(code, 0, "the lost answer fails the run: {out}");
    let sid = s.bundles()[0]["sid"].as_str().unwrap().to_owned();
    support::wait_for(10, "the assignment Twilio made", || async {
        (s.fake.assignments(&sid).len() == 1).then_some(())
    })
    .await;
    let before = s.fake.requests().len();
    let (code, out) = s.run(&["create", "--file", &file]).await;
    assert_eq!(code, 0, "{out}");
    let again = s.calls(before);
    assert!(
        again.contains(&format!("GET /v1/CustomerProfiles/{sid}/EntityAssignments")),
        "{again:?}"
    );
    let assigned = s.fake.assignments(&sid);
    let mut unique = assigned.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), assigned.len(), "assigned twice: {assigned:?}");
    assert_eq!(
        assigned.len(),
        5,
        "business, two representatives, address document, primary: {assigned:?}"
    );
    assert_eq!(s.bundles()[0]["status"], "pending-review");
}

/// A draft of the same name made elsewhere (the console, another key) is never adopted.
async fn create_never_adopts_an_unrelated_draft(backend: Backend) {
    let s = setup_for_create(backend).await;
    let stranger = bundle(0xee);
    s.fake.add_profile_with(
        &stranger,
        ACCOUNT,
        "draft",
        "RNdfbf3fae0e1107f8aded0e7cead80bf5",
        "Acme Corp",
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(&dir, EXAMPLE);
    let (code, out) = s.run(&["create", "--file", &file]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        s.fake.assignments(&stranger).is_empty(),
        "the unrelated draft was filled"
    );
    assert_eq!(s.fake.profile(&stranger).unwrap()["status"], "draft");
    assert_eq!(s.bundles().len(), 2, "a bundle of its own was created");
}

/// Every value the Trust Hub docs list is accepted (AUSTRALIA, DUNS, CCN), with the warning
/// they give; an existing address is reused; and a subaccount's profile takes the parent's
/// primary profile.
async fn create_takes_the_docs_values_an_address_and_a_subaccount(backend: Backend) {
    let s = setup_for_create(backend).await;
    let sub = "AC5b00000000000000000000000000000c";
    s.fake
        .add_subaccount(sub, "subaccount-token-0123456789abcdef", ACCOUNT);
    let spec = EXAMPLE
        .replace(
            "regions_of_operation = [\"USA_AND_CANADA\"]",
            "regions_of_operation = [\"USA_AND_CANADA\", \"AUSTRALIA\"]",
        )
        .replace(
            "registration_identifier = \"EIN\"",
            "registration_identifier = \"DUNS\"",
        )
        .replace(
            "phone_numbers = [\"PN0123456789abcdef0123456789abcdef\"]",
            "phone_numbers = []",
        );
    let address_at = spec.find("[address]").unwrap();
    let spec = format!(
        "account_sid = \"{sub}\"\naddress_sid = \"AD0123456789abcdef0123456789abcdef\"\n{}",
        &spec[..address_at]
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(&dir, &spec);
    let (code, out) = s.run(&["create", "--file", &file]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("DUNS is accepted by Trust Hub"),
        "the docs' warning: {out}"
    );
    let calls = s.calls(0);
    assert!(
        !calls.iter().any(|c| c.contains("/Addresses.json")),
        "no address created: {calls:?}"
    );
    let made = s
        .bundles()
        .into_iter()
        .find(|b| b["account_sid"] == sub)
        .expect("made in the subaccount");
    let sid = made["sid"].as_str().unwrap();
    assert!(
        s.fake.assignments(sid).contains(&PRIMARY.to_owned()),
        "the parent's primary assigned"
    );
    let spec = EXAMPLE.replace(
        "registration_identifier = \"EIN\"",
        "registration_identifier = \"CCN\"",
    );
    let file = write_spec(&dir, &spec.replace("Acme Corp", "Acme Canada"));
    let (code, out) = s.run(&["create", "--file", &file]).await;
    assert_eq!(code, 0, "{out}");
}

/// Several customers at once: each file runs to its end whatever the others do; the summary
/// names every file's outcome; the exit code says whether all were submitted.
async fn create_many_files_at_once_with_a_summary(backend: Backend) {
    let s = setup_for_create(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (i, name) in ["Acme One", "Acme Two", "Acme Three"].iter().enumerate() {
        let path = dir.path().join(format!("customer-{i}.toml"));
        std::fs::write(&path, EXAMPLE.replace("Acme Corp", name)).unwrap();
        paths.push(path.display().to_string());
    }
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, EXAMPLE.replace("TECHNOLOGY", "SPACESHIPS")).unwrap();
    let (code, out) = s
        .run(&[
            "create",
            "--file",
            &paths[0],
            "--file",
            &paths[1],
            "--file",
            &broken.display().to_string(),
            "--concurrency",
            "2",
        ])
        .await;
    assert_eq!(code, 1, "one file is invalid: {out}");
    for name in ["Acme One", "Acme Two"] {
        assert!(
            out.lines()
                .any(|l| l.contains(name) && l.contains("ok: submitted")),
            "{name} in the summary: {out}"
        );
    }
    assert!(
        out.lines()
            .any(|l| l.contains("broken.toml") && l.contains("FAILED") && l.contains("SPACESHIPS")),
        "{out}"
    );
    assert!(out.contains("2 of 3 submitted or already done"), "{out}");
    let submitted = s
        .bundles()
        .iter()
        .filter(|b| b["status"] == "pending-review")
        .count();
    assert_eq!(submitted, 2);
    // The folder: every *.toml in it (the broken one removed); the two done before are
    // already done, the third is created now.
    std::fs::remove_file(&broken).unwrap();
    let (code, out) = s
        .run(&["create", "--dir", &dir.path().display().to_string()])
        .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("ok: already done").count(), 2, "{out}");
    assert_eq!(out.matches("ok: submitted").count(), 1, "{out}");
    assert_eq!(s.bundles().len(), 3);
}

both_backends!(
    set_callback_defaults_to_public_url,
    submit_refuses_noncompliant_profiles_unless_forced,
    submit_sends_compliant_profiles,
    create_runs_the_whole_flow,
    create_resumes_after_a_failure_without_duplicates,
    create_adopts_a_bundle_whose_creation_was_not_recorded,
    create_validates_before_any_call,
    sync_records_missed_transitions,
    simulate_is_accepted_by_a_running_serve,
    create_refuses_an_unapproved_primary_before_any_post,
    create_rerun_after_a_lost_assignment_answer_assigns_nothing_twice,
    create_never_adopts_an_unrelated_draft,
    create_takes_the_docs_values_an_address_and_a_subaccount,
    create_many_files_at_once_with_a_summary,
);

/// `serve` with SYNC_INTERVAL_SECS reconciles by itself: a status no callback reported appears.
async fn serve_syncs_periodically_when_configured(backend: Backend) {
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let sid = bundle(77);
    fake.add_profile(&sid, ACCOUNT, "twilio-approved");
    let base = fake.base.clone();
    let app = support::TestApp::spawn_with(backend, None, move |env| {
        support::fast_jobs(env);
        env.push(("TRUSTHUB_API_URL", base));
        env.push(("SYNC_INTERVAL_SECS", "1".into()));
    })
    .await;
    let profile = support::wait_for(20, "the synced profile", || async {
        let (status, profile) = app.api_get(&format!("/v1/profiles/{sid}")).await;
        (status == 200).then_some(profile)
    })
    .await;
    assert_eq!(profile["status"], "twilio-approved");
    assert_eq!(profile["transitions"][0]["source"], "sync");
    // The sync job completes just after it records the profile.
    wait_for_done_sync(&app).await;
}

async fn wait_for_done_sync(app: &support::TestApp) {
    support::wait_for(20, "a done sync job", || async {
        let (_, jobs) = app.api_get("/v1/jobs?state=done").await;
        jobs["items"]
            .as_array()?
            .iter()
            .any(|j| j["kind"] == "sync")
            .then_some(())
    })
    .await;
}

both_backends!(serve_syncs_periodically_when_configured);
