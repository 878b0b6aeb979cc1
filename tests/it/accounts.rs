//! A bundle's account is fixed at first sight: a callback correctly signed by another
//! configured account is refused (403 `account_mismatch`), kept for inspection, and changes
//! nothing. Before, it rejected the first account's approved profile and took over its
//! `account_sid` (`coalesce(new, old)` in both stores).

use crate::support::{bundle, sign, Backend, TestApp, ACCOUNT, PUBLIC_URL, TOKEN};

const CALLBACK: &str = "/th/twilio/status-callback";
const SECOND: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

async fn a_second_account_cannot_rewrite_the_first_accounts_bundle(backend: Backend) {
    let toml = format!(
        r#"
[[accounts]]
account_sid = "{ACCOUNT}"
auth_token = "{TOKEN}"

[[accounts]]
account_sid = "{SECOND}"
auth_token = "second-token"
"#
    );
    let app = TestApp::spawn_with(backend, Some(&toml), |_| {}).await;
    let url = format!("{PUBLIC_URL}/twilio/status-callback");
    let sid = bundle(1);
    let post = |account: &'static str, token: &'static str, status: &'static str| {
        let fields = vec![
            ("AccountSid", account),
            ("BundleSid", sid.as_str()),
            ("Status", status),
        ];
        let signature = sign(&url, &fields, token);
        let app = &app;
        async move {
            let response = app.post_form(CALLBACK, &fields, Some(&signature), &[]).await;
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.ok())
        }
    };
    assert_eq!(post(ACCOUNT, TOKEN, "twilio-approved").await.0, 204);
    let (status, body) = post(SECOND, "second-token", "twilio-rejected").await;
    assert_eq!(status, 403, "{body:?}");
    let body = body.unwrap();
    assert_eq!(body["code"], "account_mismatch");
    assert!(
        !body.to_string().contains(ACCOUNT),
        "the answer does not name the account: {body}"
    );
    let (_, profile) = app.api_get(&format!("/v1/profiles/{}", sid)).await;
    assert_eq!(profile["status"], "twilio-approved", "{profile}");
    assert_eq!(profile["account_sid"], ACCOUNT);
    assert_eq!(profile["transitions"].as_array().unwrap().len(), 1, "{profile}");
    // Kept for inspection: the refused callback is stored, with the account that sent it.
    let kept = app
        .db
        .count(&format!(
            "select count(*) from callbacks where profile_sid = '{sid}' and account_sid = '{SECOND}'"
        ))
        .await;
    assert_eq!(kept, 1);
    // The bundle's own account still moves it.
    assert_eq!(post(ACCOUNT, TOKEN, "twilio-rejected").await.0, 204);
    let (_, profile) = app.api_get(&format!("/v1/profiles/{}", sid)).await;
    assert_eq!(profile["status"], "twilio-rejected");
}

both_backends!(a_second_account_cannot_rewrite_the_first_accounts_bundle);
