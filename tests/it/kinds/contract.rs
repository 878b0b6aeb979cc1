//! The fake serves trust products and regulatory bundles as Twilio describes them: their
//! own paths, the fields of Twilio's examples, paging under `results`, and each bundle a
//! 404 to any other account and on any other kind's path.

use crate::support::fake_trusthub::kinds::{REGULATORY_BUNDLE, TRUST_PRODUCT};
use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::{bundle, ACCOUNT, TOKEN};
use serde_json::Value;
use std::collections::BTreeSet;

const OTHER: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const OTHER_TOKEN: &str = "other-token-0123456789abcdef0123";

fn example_fields(key: &str) -> BTreeSet<String> {
    let examples: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/twilio/bundle_kinds_examples.json"
    )))
    .unwrap();
    examples[key].as_object().unwrap().keys().cloned().collect()
}

async fn call(
    fake: &FakeTrustHub,
    method: &str,
    path: &str,
    as_: (&str, &str),
    form: &[(&str, &str)],
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", fake.base);
    let request = match method {
        "GET" => client.get(url),
        _ => client.post(url).form(form),
    };
    let response = request.basic_auth(as_.0, Some(as_.1)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_products_and_regulatory_bundles_as_twilio_serves_them() {
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    fake.add_account(OTHER, OTHER_TOKEN);
    let (product, regulatory) = (bundle(0xa1), bundle(0xa2));
    fake.add_bundle(TRUST_PRODUCT, &product, ACCOUNT, "draft", "Acme CNAM");
    fake.add_bundle(
        REGULATORY_BUNDLE,
        &regulatory,
        ACCOUNT,
        "provisionally-approved",
        "Acme AU",
    );
    let (mine, theirs) = ((ACCOUNT, TOKEN), (OTHER, OTHER_TOKEN));

    let cases = [
        (&product, "/v1/TrustProducts", "trust_product_fetch_200"),
        (
            &regulatory,
            "/v2/RegulatoryCompliance/Bundles",
            "regulatory_bundle_fetch_200",
        ),
    ];
    for (sid, collection, example) in cases {
        let path = format!("{collection}/{sid}");
        let (status, body) = call(&fake, "GET", &path, mine, &[]).await;
        assert_eq!(status, 200, "{body}");
        let fields: BTreeSet<String> = body.as_object().unwrap().keys().cloned().collect();
        assert_eq!(fields, example_fields(example), "{path}");
        assert_eq!(body["url"], format!("{}{path}", fake.base));
        // Another account's bundle is as absent as an unknown one, on reads and writes.
        let (status, body) = call(&fake, "GET", &path, theirs, &[]).await;
        assert_eq!((status, body["code"].as_i64()), (404, Some(20404)), "{body}");
        let form = [("StatusCallback", "https://evil.example/cb")];
        assert_eq!(call(&fake, "POST", &path, theirs, &form).await.0, 404);
        // Listed for its account only, under Twilio's `results` key.
        let (_, page) = call(&fake, "GET", collection, mine, &[]).await;
        assert_eq!(
            (page["meta"]["key"].as_str(), page["results"][0]["sid"].as_str()),
            (Some("results"), Some(sid.as_str()))
        );
        let (_, page) = call(&fake, "GET", collection, theirs, &[]).await;
        assert_eq!(page["results"], serde_json::json!([]));
    }
    // A bundle is found only on its own kind's path.
    let (status, _) = call(
        &fake,
        "GET",
        &format!("/v1/CustomerProfiles/{product}"),
        mine,
        &[],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &fake,
        "GET",
        &format!("/v1/TrustProducts/{regulatory}"),
        mine,
        &[],
    )
    .await;
    assert_eq!(status, 404);
    let (_, page) = call(&fake, "GET", "/v1/CustomerProfiles", mine, &[]).await;
    assert_eq!(page["results"], serde_json::json!([]));
    // A trust product's evaluation needs its PolicySid; a regulatory bundle's takes none.
    let evaluations = format!("/v1/TrustProducts/{product}/Evaluations");
    assert_eq!(call(&fake, "POST", &evaluations, mine, &[]).await.0, 400);
    let evaluations = format!("/v2/RegulatoryCompliance/Bundles/{regulatory}/Evaluations");
    let (status, evaluation) = call(&fake, "POST", &evaluations, mine, &[]).await;
    assert_eq!(
        (status, evaluation["bundle_sid"].as_str()),
        (201, Some(regulatory.as_str()))
    );
    assert!(
        evaluation["regulation_sid"].is_string() && evaluation.get("policy_sid").is_none(),
        "{evaluation}"
    );
}
