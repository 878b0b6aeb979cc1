//! The fake Trust Hub keeps Twilio's contract (`shared/twilio/trusthub_v1.json` and Twilio's
//! error dictionary), so that the product's tests against it mean something: each test here
//! fails if the fake grows lenient again.

use crate::support::fake_trusthub::rules::{SECONDARY_POLICY, TEST_POLICY};
use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::{bundle, ACCOUNT, TOKEN};
use serde_json::Value;

const OTHER: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const OTHER_TOKEN: &str = "other-token-0123456789abcdef0123";
const KEY: &str = "SKcccccccccccccccccccccccccccccccc";
const SECRET: &str = "key-secret-0123456789";

struct Hub {
    fake: FakeTrustHub,
    http: reqwest::Client,
}

async fn hub() -> Hub {
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    fake.add_account(OTHER, OTHER_TOKEN);
    fake.add_api_key(KEY, SECRET, ACCOUNT);
    Hub {
        fake,
        http: reqwest::Client::new(),
    }
}

impl Hub {
    /// A call as `user`; returns the status and JSON body.
    async fn call(
        &self,
        user: (&str, &str),
        method: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.fake.base)
        };
        let mut request = self
            .http
            .request(method.parse().unwrap(), url)
            .basic_auth(user.0, Some(user.1));
        if method == "POST" {
            request = request.form(form);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

const A: (&str, &str) = (ACCOUNT, TOKEN);
const B: (&str, &str) = (OTHER, OTHER_TOKEN);

fn code(body: &Value) -> i64 {
    body["code"].as_i64().unwrap_or_default()
}

#[tokio::test]
async fn every_request_needs_an_account_or_one_of_its_keys() {
    let h = hub().await;
    let sid = bundle(1);
    h.fake.add_profile(&sid, ACCOUNT, "draft");
    let path = format!("/v1/CustomerProfiles/{sid}");
    for wrong in [(ACCOUNT, "not-the-token"), (KEY, TOKEN), ("", ""), (OTHER, TOKEN)] {
        let (status, body) = h.call(wrong, "GET", &path, &[]).await;
        assert_eq!((status, code(&body)), (401, 20003), "{wrong:?}: {body}");
    }
    let anonymous = h.http.get(format!("{}{path}", h.fake.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    // The API key acts as its account.
    let (status, body) = h.call((KEY, SECRET), "GET", &path, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["account_sid"], ACCOUNT);
}

#[tokio::test]
async fn resources_are_invisible_to_other_accounts() {
    let h = hub().await;
    let sid = bundle(2);
    h.fake.add_profile(&sid, ACCOUNT, "draft");
    let path = format!("/v1/CustomerProfiles/{sid}");
    for (method, path, form) in [
        ("GET", path.clone(), vec![]),
        ("POST", path.clone(), vec![("FriendlyName", "taken")]),
        ("GET", format!("{path}/Evaluations"), vec![]),
        (
            "POST",
            format!("{path}/Evaluations"),
            vec![("PolicySid", TEST_POLICY)],
        ),
        (
            "POST",
            format!("{path}/EntityAssignments"),
            vec![("ObjectSid", bundle(3).as_str())],
        ),
        (
            "POST",
            format!("/2010-04-01/Accounts/{ACCOUNT}/Addresses.json"),
            vec![],
        ),
    ] {
        let (status, body) = h.call(B, method, &path, &form).await;
        assert_eq!((status, code(&body)), (404, 20404), "{method} {path}: {body}");
    }
    assert_eq!(h.fake.profile(&sid).unwrap()["friendly_name"], "friendly_name");
    let (_, list) = h.call(B, "GET", "/v1/CustomerProfiles", &[]).await;
    assert_eq!(list["results"], serde_json::json!([]));
    // What B creates is B's, and A cannot assign it.
    let (status, user) = h
        .call(
            B,
            "POST",
            "/v1/EndUsers",
            &[("FriendlyName", "b"), ("Type", "authorized_representative_1")],
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(user["account_sid"], OTHER);
    let assign = format!("{path}/EntityAssignments");
    let (status, body) = h
        .call(
            A,
            "POST",
            &assign,
            &[("ObjectSid", user["sid"].as_str().unwrap())],
        )
        .await;
    assert_eq!((status, code(&body)), (400, 22205), "{body}");
}

#[tokio::test]
async fn sids_statuses_and_transitions_are_checked() {
    let h = hub().await;
    let sid = bundle(4);
    h.fake.add_profile(&sid, ACCOUNT, "draft");
    let path = format!("/v1/CustomerProfiles/{sid}");
    for malformed in [
        "BU123",
        "XX00000000000000000000000000000004",
        "bu00000000000000000000000000000004z",
    ] {
        let (status, _) = h
            .call(A, "GET", &format!("/v1/CustomerProfiles/{malformed}"), &[])
            .await;
        assert_eq!(status, 404, "{malformed}");
    }
    for refused in [
        "approved",
        "twilio-approved",
        "in-review",
        "twilio-rejected",
        "draft",
    ] {
        let (status, body) = h.call(A, "POST", &path, &[("Status", refused)]).await;
        assert_eq!((status, code(&body)), (400, 22203), "{refused}: {body}");
    }
    let both = [("Status", "pending-review"), ("FriendlyName", "x")];
    let (status, body) = h.call(A, "POST", &path, &both).await;
    assert_eq!((status, code(&body)), (400, 22204), "{body}");
    assert_eq!(h.fake.profile(&sid).unwrap()["status"], "draft");
    let (status, body) = h.call(A, "POST", &path, &[("Status", "pending-review")]).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("pending-review")));
    // Once submitted only Twilio moves it; a rejected profile may be submitted again.
    assert_eq!(
        h.call(A, "POST", &path, &[("Status", "pending-review")]).await.0,
        400
    );
    h.fake.set_status(&sid, "twilio-rejected");
    assert_eq!(
        h.call(A, "POST", &path, &[("Status", "pending-review")]).await.0,
        200
    );
}

#[tokio::test]
async fn unknown_policies_are_not_found() {
    let h = hub().await;
    let unknown = format!("RN{}", "9".repeat(32));
    let (status, _) = h
        .call(A, "GET", &format!("/v1/Policies/{SECONDARY_POLICY}"), &[])
        .await;
    assert_eq!(status, 200);
    let (status, body) = h.call(A, "GET", &format!("/v1/Policies/{unknown}"), &[]).await;
    assert_eq!((status, code(&body)), (404, 20404));
    let form = |policy| {
        [
            ("FriendlyName", "Acme"),
            ("Email", "a@acme.example"),
            ("PolicySid", policy),
        ]
    };
    let (status, body) = h.call(A, "POST", "/v1/CustomerProfiles", &form(&unknown)).await;
    assert_eq!((status, code(&body)), (404, 20404), "{body}");
    let (status, _) = h.call(A, "POST", "/v1/CustomerProfiles", &form("RNnope")).await;
    assert_eq!(status, 400);
    let sid = bundle(5);
    h.fake.add_profile(&sid, ACCOUNT, "draft");
    let evaluate = format!("/v1/CustomerProfiles/{sid}/Evaluations");
    let (status, _) = h.call(A, "POST", &evaluate, &[("PolicySid", &unknown)]).await;
    assert_eq!(status, 404);
    assert!(h.fake.profiles().len() == 1, "nothing was created");
}

#[tokio::test]
async fn an_object_is_assigned_once_and_only_a_known_kind() {
    let h = hub().await;
    let sid = bundle(6);
    h.fake.add_profile(&sid, ACCOUNT, "draft");
    let (_, user) = h
        .call(
            A,
            "POST",
            "/v1/EndUsers",
            &[("FriendlyName", "rep"), ("Type", "authorized_representative_1")],
        )
        .await;
    let object = user["sid"].as_str().unwrap();
    let assign = format!("/v1/CustomerProfiles/{sid}/EntityAssignments");
    let (status, body) = h.call(A, "POST", &assign, &[("ObjectSid", object)]).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["account_sid"], ACCOUNT);
    let (status, body) = h.call(A, "POST", &assign, &[("ObjectSid", object)]).await;
    assert_eq!((status, code(&body)), (400, 22205), "a duplicate: {body}");
    let phone = "PN0123456789abcdef0123456789abcdef";
    let (status, body) = h.call(A, "POST", &assign, &[("ObjectSid", phone)]).await;
    assert_eq!((status, code(&body)), (400, 22206), "{body}");
    let unknown = format!("IT{}", "e".repeat(32));
    let (status, body) = h.call(A, "POST", &assign, &[("ObjectSid", &unknown)]).await;
    assert_eq!((status, code(&body)), (400, 22205), "{body}");
    assert_eq!(h.fake.assignments(&sid), [object]);
}

#[tokio::test]
async fn pages_keep_filters_and_carry_page_tokens() {
    let h = hub().await;
    for n in 10..15 {
        h.fake
            .add_profile_with(&bundle(n), ACCOUNT, "draft", TEST_POLICY, "Acme");
    }
    h.fake
        .add_profile_with(&bundle(15), ACCOUNT, "in-review", TEST_POLICY, "Acme");
    h.fake
        .add_profile_with(&bundle(16), ACCOUNT, "draft", TEST_POLICY, "Other");
    h.fake
        .add_profile_with(&bundle(17), OTHER, "draft", TEST_POLICY, "Acme");
    let first =
        format!("/v1/CustomerProfiles?Status=draft&FriendlyName=Acme&PolicySid={TEST_POLICY}&PageSize=2");
    let mut url = first;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, page) = h.call(A, "GET", &url, &[]).await;
        assert_eq!(status, 200, "{url}: {page}");
        pages += 1;
        for profile in page["results"].as_array().unwrap() {
            seen.push(profile["sid"].as_str().unwrap().to_owned());
        }
        let meta = &page["meta"];
        let kept = format!("Status=draft&FriendlyName=Acme&PolicySid={TEST_POLICY}&PageSize=2&Page=");
        assert!(meta["url"].as_str().unwrap().contains(&kept), "{meta}");
        if pages > 1 {
            assert!(meta["url"].as_str().unwrap().contains("PageToken=PA"), "{meta}");
            assert!(
                meta["previous_page_url"].as_str().unwrap().contains(&kept),
                "{meta}"
            );
        }
        match meta["next_page_url"].as_str() {
            Some(next) => {
                assert!(next.contains(&kept) && next.contains("PageToken=PABU"), "{next}");
                url = next.to_owned();
            }
            None => break,
        }
    }
    let wanted: Vec<String> = (10..15).map(bundle).collect();
    assert_eq!((seen, pages), (wanted, 3));
    let (status, _) = h
        .call(A, "GET", "/v1/CustomerProfiles?PageToken=PAnothing", &[])
        .await;
    assert_eq!(status, 400);
    let (status, _) = h
        .call(A, "GET", "/v1/CustomerProfiles?Status=approved", &[])
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn evaluations_are_listed_newest_first_with_distinct_dates() {
    let h = hub().await;
    let sid = bundle(7);
    h.fake.add_profile(&sid, ACCOUNT, "twilio-rejected");
    let made: Vec<Value> = (0..3).map(|_| h.fake.add_evaluation(&sid)).collect();
    let (_, page) = h
        .call(A, "GET", &format!("/v1/CustomerProfiles/{sid}/Evaluations"), &[])
        .await;
    let listed = page["results"].as_array().unwrap();
    let sids: Vec<&Value> = listed.iter().map(|e| &e["sid"]).collect();
    let newest_first: Vec<&Value> = made.iter().rev().map(|e| &e["sid"]).collect();
    assert_eq!(sids, newest_first);
    let dates: Vec<&str> = listed
        .iter()
        .map(|e| e["date_created"].as_str().unwrap())
        .collect();
    assert!(
        dates.windows(2).all(|w| w[0] > w[1]),
        "distinct, descending: {dates:?}"
    );
}
