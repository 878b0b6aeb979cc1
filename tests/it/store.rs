//! The store interface itself, on SQLite and PostgreSQL: concurrency and paging edges.

use crate::support::{bundle, Backend, TestDb, ACCOUNT};
use std::collections::HashSet;
use trusthub_hooks::domain::{AccountSid, ProfileSid, ProfileStatus, StatusReport};
use trusthub_hooks::store::{self, CallbackRecord, ProfileQuery, Recorded};

fn record(sid: &str, status: &str, token: Option<String>, body: &str) -> CallbackRecord {
    CallbackRecord {
        idempotency_token: token,
        body_hash: body.to_owned(),
        account_sid: Some(AccountSid::parse(ACCOUNT).unwrap()),
        report: Ok(StatusReport {
            account_sid: Some(AccountSid::parse(ACCOUNT).unwrap()),
            profile_sid: ProfileSid::parse(sid).unwrap(),
            status: ProfileStatus::from_wire(status),
            failure_reason: None,
            friendly_name: Some("Acme".into()),
        }),
        content_type: "application/x-www-form-urlencoded".into(),
        fields: vec![("Status".into(), status.into())],
        credential: "test".into(),
        received_at: store::now(),
    }
}

/// Many deliveries of the same statuses for one new profile at once: one row per callback
/// token, each status transition once, and each applied exactly as the README's status rules
/// say for the order they landed in.
async fn concurrent_reports_for_one_profile(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let sid = bundle(1);
    let statuses = ["pending-review", "in-review", "twilio-approved"];
    let mut tasks = Vec::new();
    for round in 0..8 {
        for (i, status) in statuses.iter().enumerate() {
            let store = store.clone();
            // Rounds redeliver with the same token: duplicates.
            let rec = record(&sid, status, Some(format!("tok-{i}")), &format!("body-{i}"));
            tasks.push(tokio::spawn(async move {
                (round, store.record_callback(rec).await.unwrap())
            }));
        }
    }
    let mut stored = 0;
    for task in tasks {
        if let (_, Recorded::Stored { .. }) = task.await.unwrap() {
            stored += 1;
        }
    }
    assert_eq!(stored, 3, "one stored callback per token");
    let detail = store
        .get_profile(&ProfileSid::parse(&sid).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.profile.friendly_name.as_deref(), Some("Acme"));
    assert!(
        detail.transitions[0].from.is_none() && detail.transitions[0].applied,
        "the first report creates the profile"
    );
    let all: HashSet<String> = detail.transitions.iter().map(|t| t.to.to_string()).collect();
    assert_eq!(all, statuses.iter().map(|s| (*s).to_owned()).collect());
    assert_eq!(detail.transitions.len(), 3, "{:?}", detail.transitions);
    // They raced, so the order they landed in varies. Whatever it was, each report applied
    // exactly when it was further along (pending-review, then in-review, then approved) than
    // the status then current, or, after the decision, when it was `pending-review`, which
    // starts a new review cycle (a resubmission: the README's status rules). An oracle written
    // out here, not the state machine under test.
    let rank = |s: &ProfileStatus| statuses.iter().position(|x| *x == s.as_wire()).unwrap();
    let mut current: Option<ProfileStatus> = None;
    for t in &detail.transitions {
        assert_eq!(
            t.from,
            current.clone(),
            "each transition starts from the status then current"
        );
        let applies = match &current {
            None => true,
            Some(decided) if decided.as_wire() == "twilio-approved" => t.to.as_wire() == "pending-review",
            Some(c) => rank(&t.to) > rank(c),
        };
        assert_eq!(t.applied, applies, "{:?}", detail.transitions);
        if t.applied {
            current = Some(t.to.clone());
        }
    }
    assert_eq!(Some(detail.profile.status.clone()), current);
    assert!(
        detail
            .transitions
            .iter()
            .any(|t| t.applied && t.to.as_wire() == "twilio-approved"),
        "the approval applied, whatever the order: {:?}",
        detail.transitions
    );
    store.close().await;
}

/// Profiles changed within the same microsecond still page without loss or repetition.
async fn paging_breaks_ties_by_sid(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let at = store::now();
    for n in 0..10 {
        let mut rec = record(&bundle(n), "draft", None, &format!("b{n}"));
        rec.received_at = at;
        store.record_callback(rec).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_profiles(&ProfileQuery {
                limit: 4,
                after: after.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|p| p.sid.clone()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..10).rev().map(bundle).collect();
    assert_eq!(seen, expected);
    store.close().await;
}

/// Unusable callbacks are kept (for inspection) and repeated ones stored once.
async fn unusable_callbacks_are_kept(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut rec = record(&bundle(1), "draft", None, "same");
    rec.report = Err("the callback names no profile".into());
    assert!(matches!(
        store.record_callback(rec.clone()).await.unwrap(),
        Recorded::Stored { decision: None, .. }
    ));
    assert_eq!(store.record_callback(rec).await.unwrap(), Recorded::Duplicate);
    let page = store
        .list_profiles(&ProfileQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(page.items.is_empty());
    store.close().await;
}

/// A callback the database refuses (PostgreSQL's timestamps start in 4713 BC) while others
/// are being committed with it: only that one fails, the others are stored.
async fn a_refused_callback_fails_alone(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut tasks = Vec::new();
    for n in 0..40 {
        let mut rec = record(
            &bundle(n),
            "pending-review",
            Some(format!("tok-{n}")),
            &format!("b{n}"),
        );
        if n == 17 {
            rec.received_at = chrono::DateTime::from_timestamp(-250_000_000_000, 0).unwrap();
        }
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.record_callback(rec).await }));
    }
    for (n, task) in tasks.into_iter().enumerate() {
        let outcome = task.await.unwrap();
        let profile = store
            .get_profile(&ProfileSid::parse(&bundle(n as u32)).unwrap())
            .await
            .unwrap();
        if n == 17 && backend == Backend::Postgres {
            assert!(outcome.is_err(), "{outcome:?}");
            assert!(profile.is_none(), "nothing of a refused callback is kept");
        } else {
            assert!(matches!(outcome, Ok(Recorded::Stored { .. })), "{n}: {outcome:?}");
            assert_eq!(profile.unwrap().profile.status, ProfileStatus::PendingReview);
        }
    }
    store.close().await;
}

/// A callback without a token that repeats its profile's latest callback is a redelivery;
/// the same body after the profile has moved on (tokened reports in between, a new review
/// cycle) is a new report.
async fn untokened_repeats_are_judged_against_the_latest_callback(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let sid = bundle(7);
    let pending = record(&sid, "pending-review", None, "pending-body");
    let stored = |outcome: Recorded| matches!(outcome, Recorded::Stored { .. });
    assert!(stored(store.record_callback(pending.clone()).await.unwrap()));
    assert_eq!(
        store.record_callback(pending.clone()).await.unwrap(),
        Recorded::Duplicate
    );
    let tokened = |status: &str| record(&sid, status, Some(format!("tok-{status}")), status);
    assert!(stored(store.record_callback(tokened("in-review")).await.unwrap()));
    assert!(stored(
        store.record_callback(tokened("twilio-rejected")).await.unwrap()
    ));
    // Resubmitted: the first report of the new cycle has the first cycle's body.
    assert!(stored(store.record_callback(pending.clone()).await.unwrap()));
    assert_eq!(store.record_callback(pending).await.unwrap(), Recorded::Duplicate);
    let profile = store
        .get_profile(&ProfileSid::parse(&sid).unwrap())
        .await
        .unwrap()
        .unwrap();
    let to: Vec<&str> = profile.transitions.iter().map(|t| t.to.as_wire()).collect();
    assert_eq!(
        to,
        ["pending-review", "in-review", "twilio-rejected", "pending-review"]
    );
    assert_eq!(profile.profile.status.as_wire(), "pending-review");
    store.close().await;
}

both_backends!(
    untokened_repeats_are_judged_against_the_latest_callback,
    concurrent_reports_for_one_profile,
    paging_breaks_ties_by_sid,
    unusable_callbacks_are_kept,
    a_refused_callback_fails_alone
);

/// Two replicas on one PostgreSQL database, each committing batches of callbacks for the same
/// profiles (one in ascending order, the other descending, every callback delivered to both):
/// no callback fails (a deadlock between their batches would fail some), each is stored once,
/// and every profile ends at its last status with each change recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn replicas_commit_overlapping_batches() {
    let db = TestDb::new(Backend::Postgres).await;
    let a = db.store().await;
    let b = db.store().await;
    let profiles = 60u32;
    let statuses = ["pending-review", "in-review", "twilio-approved"];
    let mut stored = 0;
    for status in statuses {
        let mut tasks = Vec::new();
        for (replica, descending) in [(&a, false), (&b, true)] {
            for i in 0..profiles {
                let n = if descending { profiles - 1 - i } else { i };
                let rec = record(&bundle(n), status, Some(format!("{status}-{n}")), status);
                let replica = replica.clone();
                tasks.push(tokio::spawn(async move { replica.record_callback(rec).await }));
            }
        }
        for task in tasks {
            if let Recorded::Stored { .. } = task.await.unwrap().expect("no callback fails") {
                stored += 1;
            }
        }
    }
    assert_eq!(stored, 3 * profiles, "each callback stored by one replica");
    for n in 0..profiles {
        let detail = b
            .get_profile(&ProfileSid::parse(&bundle(n)).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(detail.profile.status, ProfileStatus::TwilioApproved);
        let history: Vec<_> = detail
            .transitions
            .iter()
            .map(|t| (t.to.to_string(), t.applied))
            .collect();
        let expected: Vec<_> = statuses.iter().map(|s| ((*s).to_owned(), true)).collect();
        assert_eq!(history, expected, "{n}");
    }
    a.close().await;
    b.close().await;
}
