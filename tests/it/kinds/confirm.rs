//! A trust product and a regulatory bundle rejected end to end, on the real binary: the kind
//! discovered on first contact (and never probed again), the decision confirmed and the fresh
//! evaluation created on the bundle's own API, the event naming the kind and the customer.

use super::{calls, events, post, start};
use crate::support::fake_trusthub::kinds::{REGULATORY_BUNDLE, TRUST_PRODUCT};
use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::receiver::Receiver;
use crate::support::{bundle, Backend, TestDb, ACCOUNT, TOKEN};

async fn a_rejected_trust_product_is_evaluated_on_trust_products(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let sid = bundle(0x71);
    fake.add_bundle(
        TRUST_PRODUCT,
        &sid,
        ACCOUNT,
        "twilio-rejected",
        "Acme SHAKEN/STIR",
    );
    let receiver = Receiver::start().await;
    let serve = start(&db, &fake, &receiver).await;

    post(&serve, &sid, "twilio-rejected", "t1").await;
    let event = events(&receiver, 1).await.remove(0);
    assert_eq!(
        (
            event["to"].as_str(),
            event["kind"].as_str(),
            event["confirmed"].as_bool(),
            event["friendly_name"].as_str()
        ),
        (
            Some("twilio-rejected"),
            Some("trust_product"),
            Some(true),
            Some("Acme SHAKEN/STIR")
        ),
        "{event}"
    );
    let evaluation = &event["evaluation"];
    assert_eq!(evaluation["status"], "noncompliant", "{event}");
    assert_eq!(event["errors"], serde_json::json!([{"code": 18601}]), "{event}");

    // Approved later: its confirmation goes straight to the trust product.
    fake.set_status(&sid, "twilio-approved");
    post(&serve, &sid, "twilio-approved", "t2").await;
    let second = events(&receiver, 2).await.remove(1);
    assert_eq!(second["kind"], "trust_product", "{second}");
    let evaluations = format!("/v1/TrustProducts/{sid}/Evaluations");
    assert_eq!(
        calls(&fake, &sid),
        [
            format!("GET /v1/CustomerProfiles/{sid} -> 404"),
            format!("GET /v1/TrustProducts/{sid} -> 200"),
            format!("POST {evaluations} -> 201"),
            format!("GET /v1/TrustProducts/{sid} -> 200"),
        ],
        "probed once, then only its own API"
    );
    let created = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == evaluations)
        .unwrap();
    assert_eq!(
        created.form,
        [(
            "PolicySid".to_owned(),
            crate::support::fake_trusthub::rules::TEST_POLICY.to_owned()
        )]
    );
    assert_eq!(serve.terminate(), Some(0));
}

async fn a_rejected_regulatory_bundle_is_evaluated_on_numbers_v2(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let sid = bundle(0x72);
    fake.add_bundle(
        REGULATORY_BUNDLE,
        &sid,
        ACCOUNT,
        "twilio-rejected",
        "Acme DE numbers",
    );
    let receiver = Receiver::start().await;
    let serve = start(&db, &fake, &receiver).await;

    post(&serve, &sid, "twilio-rejected", "t1").await;
    let event = events(&receiver, 1).await.remove(0);
    assert_eq!(
        (
            event["to"].as_str(),
            event["kind"].as_str(),
            event["confirmed"].as_bool(),
            event["friendly_name"].as_str(),
            event["evaluation"]["status"].as_str(),
        ),
        (
            Some("twilio-rejected"),
            Some("regulatory_bundle"),
            Some(true),
            Some("Acme DE numbers"),
            Some("noncompliant"),
        ),
        "{event}"
    );
    let evaluations = format!("/v2/RegulatoryCompliance/Bundles/{sid}/Evaluations");
    assert_eq!(
        calls(&fake, &sid),
        [
            format!("GET /v1/CustomerProfiles/{sid} -> 404"),
            format!("GET /v1/TrustProducts/{sid} -> 404"),
            format!("GET /v2/RegulatoryCompliance/Bundles/{sid} -> 200"),
            format!("POST {evaluations} -> 201"),
        ]
    );
    let created = fake
        .requests()
        .into_iter()
        .find(|r| r.path == evaluations)
        .unwrap();
    assert!(
        created.form.is_empty(),
        "numbers v2 takes no PolicySid: {:?}",
        created.form
    );

    let client = reqwest::Client::new();
    let shown = serve
        .api_json(&client, &format!("/v1/profiles/{sid}"))
        .await
        .unwrap();
    assert_eq!(
        (shown["kind"].as_str(), shown["friendly_name"].as_str()),
        (Some("regulatory_bundle"), Some("Acme DE numbers")),
        "{shown}"
    );
    for (kind, expected) in [
        ("regulatory_bundle", vec![sid.clone()]),
        ("trust_product", vec![]),
    ] {
        let listed = serve
            .api_json(&client, &format!("/v1/profiles?kind={kind}"))
            .await
            .unwrap();
        let sids: Vec<String> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(sids, expected, "?kind={kind}");
    }
    let bogus = client
        .get(serve.url("/v1/profiles?kind=bundle"))
        .bearer_auth(crate::support::API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bogus.status(), 400);
    assert_eq!(
        bogus.json::<serde_json::Value>().await.unwrap()["code"],
        "invalid_kind"
    );
    assert_eq!(serve.terminate(), Some(0));
}

both_backends!(
    a_rejected_trust_product_is_evaluated_on_trust_products,
    a_rejected_regulatory_bundle_is_evaluated_on_numbers_v2,
);
