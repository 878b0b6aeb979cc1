//! `events setup` and `events status` on the real binary against the fake Events API: a sink
//! and a subscription per account (the main account and a discovered subaccount), reused by a
//! second run, missing types added back, a refused account named while the others are done.

use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::process::run_cli as run;
use crate::support::{Backend, TestDb, ACCOUNT, PUBLIC_URL, TOKEN};

const SUB: &str = "AC5b00000000000000000000000000000e";

async fn events_setup_is_idempotent_per_account(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    fake.add_subaccount(SUB, "subaccount-token-0123456789abcdef", ACCOUNT);
    let env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("PUBLIC_URL", PUBLIC_URL.to_owned()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT.to_owned()),
        ("TWILIO_AUTH_TOKEN", TOKEN.to_owned()),
        ("TWILIO_API_URL", fake.base.clone()),
        ("TWILIO_EVENTS_API_URL", fake.base.clone()),
    ];
    let destination = format!("{PUBLIC_URL}/twilio/events");
    let (code, out) = run(&env, &["events", "setup"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{ACCOUNT}: sink")) && out.contains(&format!("{SUB}: sink")),
        "{out}"
    );
    let check = |fake: &FakeTrustHub| {
        let sinks = fake.sinks();
        assert_eq!(sinks.len(), 2, "one sink per account: {sinks:?}");
        for account in [ACCOUNT, SUB] {
            let sink = sinks.iter().find(|s| s["account_sid"] == account).unwrap();
            assert_eq!(sink["sink_configuration"]["destination"], destination.as_str());
            assert_eq!(sink["sink_type"], "webhook");
        }
        let subscriptions = fake.subscriptions();
        assert_eq!(subscriptions.len(), 2, "one subscription per account");
        for (_, types) in &subscriptions {
            assert!(types
                .contains(&"com.twilio.messaging.compliance.brand-registration.brand-failure".to_owned()));
            assert!(types.contains(
                &"com.twilio.messaging.compliance.campaign-registration.campaign-approved".to_owned()
            ));
        }
        subscriptions
    };
    let subscriptions = check(&fake);

    // Again, after a type was dropped in the console: nothing new but the type.
    let (first, types) = &subscriptions[0];
    let dropped = types[0].clone();
    fake.unsubscribe(first["sid"].as_str().unwrap(), &dropped);
    let (code, out) = run(&env, &["events", "status"]).await;
    assert_eq!(code, 1, "a type is missing: {out}");
    assert!(out.contains("missing"), "{out}");
    let (code, out) = run(&env, &["events", "setup"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("reused, 1 types added") && out.contains("reused, 0 types added"),
        "{out}"
    );
    let again = check(&fake);
    assert!(again
        .iter()
        .any(|(s, t)| s["sid"] == first["sid"] && t.contains(&dropped)));
    let (code, out) = run(&env, &["events", "status", "--account", SUB]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(SUB) && !out.contains(&format!("{ACCOUNT}:")),
        "{out}"
    );

    // A refused account is named; the others are still set up.
    fake.rotate_token(ACCOUNT, "rotated-main-token-0123456789");
    let (code, out) = run(&env, &["events", "setup", "--account", ACCOUNT]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("{ACCOUNT}: FAILED")), "{out}");
}

both_backends!(events_setup_is_idempotent_per_account);
