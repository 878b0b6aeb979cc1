//! `sync` with no arguments covers every kind of bundle in every configured account, each
//! listed on its own API as its own account, and records each with its kind and name.

use super::{cli, OTHER, OTHER_TOKEN};
use crate::support::fake_trusthub::kinds::{REGULATORY_BUNDLE, TRUST_PRODUCT};
use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::{bundle, Backend, TestDb, ACCOUNT, TOKEN};
use trusthub_hooks::domain::{BundleKind, ProfileSid};
use trusthub_hooks::store::ProfileQuery;

async fn sync_covers_every_kind_in_every_account(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    fake.add_account(OTHER, OTHER_TOKEN);
    let policy = crate::support::fake_trusthub::rules::TEST_POLICY;
    // Each account holds one bundle of each kind.
    let bundles = [
        (
            bundle(0x81),
            ACCOUNT,
            None,
            "Acme profile",
            BundleKind::CustomerProfile,
        ),
        (
            bundle(0x82),
            ACCOUNT,
            Some(TRUST_PRODUCT),
            "Acme CNAM",
            BundleKind::TrustProduct,
        ),
        (
            bundle(0x83),
            ACCOUNT,
            Some(REGULATORY_BUNDLE),
            "Acme FR",
            BundleKind::RegulatoryBundle,
        ),
        (
            bundle(0x84),
            OTHER,
            None,
            "Beta profile",
            BundleKind::CustomerProfile,
        ),
        (
            bundle(0x85),
            OTHER,
            Some(TRUST_PRODUCT),
            "Beta A2P",
            BundleKind::TrustProduct,
        ),
        (
            bundle(0x86),
            OTHER,
            Some(REGULATORY_BUNDLE),
            "Beta DE",
            BundleKind::RegulatoryBundle,
        ),
    ];
    for (sid, account, kind, name, _) in &bundles {
        match kind {
            None => fake.add_profile_with(sid, account, "in-review", policy, name),
            Some(kind) => fake.add_bundle(kind, sid, account, "in-review", name),
        }
    }
    fake.set_status(&bundles[5].0, "provisionally-approved");

    let (code, out) = cli(&db, &fake, &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("6 profiles checked"), "{out}");
    let store = db.store().await;
    for (sid, account, _, name, kind) in &bundles {
        let parsed = ProfileSid::parse(sid).unwrap();
        let p = store.get_profile(&parsed).await.unwrap().unwrap().profile;
        assert_eq!(
            (p.kind, p.account_sid.as_deref(), p.friendly_name.as_deref()),
            (Some(*kind), Some(*account), Some(*name)),
            "{sid}"
        );
    }
    let regulatory = store
        .list_profiles(&ProfileQuery {
            kind: Some(BundleKind::RegulatoryBundle),
            limit: 50,
            ..ProfileQuery::default()
        })
        .await
        .unwrap();
    let mut listed: Vec<(String, String)> = regulatory
        .items
        .iter()
        .map(|p| (p.sid.clone(), p.status.as_wire().to_owned()))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            (bundles[2].0.clone(), "in-review".to_owned()),
            (bundles[5].0.clone(), "provisionally-approved".to_owned())
        ]
    );
    // Each kind's list asked of its own API, as each account: nothing probed.
    let lists: Vec<(String, Option<String>, u16)> = fake
        .requests()
        .into_iter()
        .map(|r| (r.path, r.username, r.status))
        .collect();
    let mut expected = Vec::new();
    for account in [ACCOUNT, OTHER] {
        for path in [
            "/v1/CustomerProfiles",
            "/v1/TrustProducts",
            "/v2/RegulatoryCompliance/Bundles",
        ] {
            expected.push((path.to_owned(), Some(account.to_owned()), 200));
        }
    }
    assert_eq!(lists, expected);
}

both_backends!(sync_covers_every_kind_in_every_account);
