//! `sync` with no arguments covers every kind of bundle in every configured account, each
//! listed on its own API as its own account, and records each with its kind and name.

use crate::support::fake_trusthub::kinds::{REGULATORY_BUNDLE, TRUST_PRODUCT};
use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::process::bin;
use crate::support::{bundle, Backend, TestDb, ACCOUNT, PUBLIC_URL, TOKEN};
use trusthub_hooks::domain::{BundleKind, ProfileSid};
use trusthub_hooks::store::ProfileQuery;

const OTHER: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const OTHER_TOKEN: &str = "other-token-0123456789abcdef0123";

/// `sync` as a user runs it, with `OTHER` configured as a second account.
async fn sync(db: &TestDb, fake: &FakeTrustHub) -> (i32, String) {
    use std::os::unix::fs::PermissionsExt as _;
    let file = tempfile::NamedTempFile::new().unwrap();
    let text = format!("[[accounts]]\naccount_sid = \"{OTHER}\"\nauth_token = \"{OTHER_TOKEN}\"\n");
    std::fs::write(file.path(), text).unwrap();
    std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let env = [
        ("DATABASE_URL", db.url.clone()),
        ("PUBLIC_URL", PUBLIC_URL.to_owned()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT.to_owned()),
        ("TWILIO_AUTH_TOKEN", TOKEN.to_owned()),
        ("TRUSTHUB_API_URL", fake.base.clone()),
        ("TWILIO_NUMBERS_API_URL", fake.base.clone()),
        ("TRUSTHUB_HOOKS_CONFIG", file.path().to_str().unwrap().to_owned()),
    ];
    tokio::task::spawn_blocking(move || {
        let output = bin().envs(env).arg("sync").output().unwrap();
        drop(file);
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

    let (code, out) = sync(&db, &fake).await;
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
