//! `submit` and `set-callback` of a trust product and a regulatory bundle: the kind found by
//! the first call, every call after it on the bundle's own API, the kind then recorded.

use super::{calls, cli};
use crate::support::fake_trusthub::kinds::{REGULATORY_BUNDLE, TRUST_PRODUCT};
use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::{bundle, Backend, TestDb, ACCOUNT, TOKEN};
use trusthub_hooks::domain::{BundleKind, ProfileSid};

async fn submit_and_set_callback_use_the_kinds_api(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let (product, regulatory) = (bundle(0x91), bundle(0x92));
    fake.add_bundle(TRUST_PRODUCT, &product, ACCOUNT, "draft", "Acme Voice Integrity");
    fake.make_compliant(&product);
    fake.add_bundle(
        REGULATORY_BUNDLE,
        &regulatory,
        ACCOUNT,
        "draft",
        "Acme UK numbers",
    );

    let (code, out) = cli(&db, &fake, &["submit", &product]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("submitted for review"), "{out}");
    assert_eq!(fake.profile(&product).unwrap()["status"], "pending-review");
    let at = |rest: &str| format!("/v1/TrustProducts/{product}{rest}");
    assert_eq!(
        calls(&fake, &product),
        [
            format!("GET /v1/CustomerProfiles/{product} -> 404"),
            format!("GET {} -> 200", at("")),
            format!("POST {} -> 201", at("/Evaluations")),
            format!("POST {} -> 200", at("")),
            format!("POST {} -> 200", at("")),
        ]
    );
    let store = db.store().await;
    let recorded = store
        .get_profile(&ProfileSid::parse(&product).unwrap())
        .await
        .unwrap()
        .unwrap()
        .profile;
    assert_eq!(
        (
            recorded.kind,
            recorded.friendly_name.as_deref(),
            recorded.status.as_wire()
        ),
        (
            Some(BundleKind::TrustProduct),
            Some("Acme Voice Integrity"),
            "pending-review"
        )
    );

    let url = "https://other.example/cb";
    let (code, out) = cli(&db, &fake, &["set-callback", &regulatory, "--url", url]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(fake.profile(&regulatory).unwrap()["status_callback"], url);
    assert_eq!(
        calls(&fake, &regulatory),
        [
            format!("POST /v1/CustomerProfiles/{regulatory} -> 404"),
            format!("POST /v1/TrustProducts/{regulatory} -> 404"),
            format!("POST /v2/RegulatoryCompliance/Bundles/{regulatory} -> 200"),
        ]
    );
}

both_backends!(submit_and_set_callback_use_the_kinds_api);
