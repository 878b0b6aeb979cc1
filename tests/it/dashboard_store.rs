//! The dashboard's store queries (`DashboardStore`) on SQLite and PostgreSQL.

use crate::support::{bundle, Backend, TestDb, ACCOUNT};
use chrono::Duration;
use trusthub_hooks::domain::{AccountSid, ProfileSid, ProfileStatus, Source, StatusReport};
use trusthub_hooks::store::{
    self, Attempt, Channel, DeliveryQuery, DeliveryStatus, NewDelivery, ProfileSearch, StatusCount, Webhook,
};

const SECOND_ACCOUNT: &str = "ACdddddddddddddddddddddddddddddddd";

fn report(n: u32, status: &str, account: &str, name: Option<&str>, reason: Option<&str>) -> StatusReport {
    StatusReport {
        account_sid: Some(AccountSid::parse(account).unwrap()),
        profile_sid: ProfileSid::parse(&bundle(n)).unwrap(),
        status: ProfileStatus::from_wire(status),
        failure_reason: reason.map(str::to_owned),
        friendly_name: name.map(str::to_owned),
    }
}

async fn profiles_by_status_wait_and_search(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let t0 = store::now() - Duration::hours(5);
    let reports = [
        (report(1, "pending-review", ACCOUNT, Some("Acme_One"), None), 0),
        (report(2, "in-review", ACCOUNT, Some("Acme One"), None), 1),
        (report(3, "in-review", ACCOUNT, None, None), 2),
        (report(4, "twilio-approved", ACCOUNT, None, None), 3),
        (
            report(5, "twilio-rejected", SECOND_ACCOUNT, None, Some("Name mismatch")),
            4,
        ),
        (report(6, "twilio-suspended", ACCOUNT, None, None), 5),
    ];
    for (report, minutes) in &reports {
        store
            .record_report(report, Source::Callback, t0 + Duration::minutes(*minutes))
            .await
            .unwrap();
    }
    let mut counts = store.status_counts().await.unwrap();
    counts.sort_by(|a, b| a.status.cmp(&b.status));
    let count = |status: &str, count: i64| StatusCount {
        status: status.into(),
        count,
    };
    assert_eq!(
        counts,
        [
            count("in-review", 2),
            count("pending-review", 1),
            count("twilio-approved", 1),
            count("twilio-rejected", 1),
            count("twilio-suspended", 1)
        ]
    );
    let waiting = store
        .waiting_longest(&["pending-review", "in-review"], 2)
        .await
        .unwrap();
    let sids: Vec<&str> = waiting.iter().map(|p| p.sid.as_str()).collect();
    assert_eq!(sids, [bundle(1), bundle(2)], "the longest unchanged first");
    let rejections = store.recent_rejections(10).await.unwrap();
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].profile_sid, bundle(5));
    assert_eq!(
        rejections[0].transition.failure_reason.as_deref(),
        Some("Name mismatch")
    );
    let rows = store.transition_rows(&bundle(5)).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(store.transition(rows[0].id).await.unwrap(), Some(rows[0].clone()));
    assert_eq!(store.profile_accounts().await.unwrap(), [ACCOUNT, SECOND_ACCOUNT]);

    let search = |text: &str, status: Option<&str>| ProfileSearch {
        text: Some(text.into()),
        status: status.map(str::to_owned),
        limit: 10,
        ..ProfileSearch::default()
    };
    let found = |page: store::Page<store::Profile>| page.items.into_iter().map(|p| p.sid).collect::<Vec<_>>();
    assert_eq!(
        found(store.search_profiles(&search("acme", None)).await.unwrap()),
        [bundle(2), bundle(1)]
    );
    assert_eq!(
        found(store.search_profiles(&search("E_O", None)).await.unwrap()),
        [bundle(1)]
    );
    assert_eq!(
        found(store.search_profiles(&search("%", None)).await.unwrap()),
        Vec::<String>::new()
    );
    let tail = &bundle(3)[26..];
    assert_eq!(
        found(store.search_profiles(&search(tail, None)).await.unwrap()),
        [bundle(3)]
    );
    assert_eq!(
        found(
            store
                .search_profiles(&search("BU", Some("in-review")))
                .await
                .unwrap()
        ),
        [bundle(3), bundle(2)]
    );
    // Paging walks every match once, newest first.
    let mut query = ProfileSearch {
        text: Some("bu".into()),
        limit: 4,
        ..ProfileSearch::default()
    };
    let first = store.search_profiles(&query).await.unwrap();
    assert_eq!(first.items.len(), 4);
    query.after = first.next.clone();
    let second = store.search_profiles(&query).await.unwrap();
    assert_eq!(found(second.clone()), [bundle(2), bundle(1)]);
    assert!(second.next.is_none());
}

fn webhook(id: &str, enabled: bool) -> Webhook {
    let now = store::now();
    Webhook {
        id: id.into(),
        url: format!("https://example.com/{id}"),
        events: vec![],
        description: None,
        secret: "whsec_dGVzdA==".into(),
        enabled,
        disabled_reason: (!enabled).then(|| "the endpoint answered 410 Gone".into()),
        created_at: now,
        updated_at: now,
    }
}

fn delivery(n: u32, channel: Channel, webhook_id: Option<&str>) -> NewDelivery {
    NewDelivery {
        channel,
        webhook_id: webhook_id.map(str::to_owned),
        recipient: format!("recipient-{n}"),
        event_id: format!("msg_{n}"),
        event_type: "profile.status_changed".into(),
        transition_id: None,
        profile_sid: Some(bundle(1)),
        payload: serde_json::json!({"n": n}),
    }
}

async fn failing_notifications(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    for w in [
        webhook("wh_ok", true),
        webhook("wh_gone", false),
        webhook("wh_quiet", true),
    ] {
        store.create_webhook(&w).await.unwrap();
    }
    let plan = [
        (Channel::Webhook, Some("wh_ok"), DeliveryStatus::Failed),
        (Channel::Webhook, Some("wh_ok"), DeliveryStatus::Dead),
        (Channel::Webhook, Some("wh_ok"), DeliveryStatus::Dead),
        (Channel::Webhook, Some("wh_quiet"), DeliveryStatus::Delivered),
        (Channel::Email, None, DeliveryStatus::Dead),
        (Channel::Email, None, DeliveryStatus::Delivered),
    ];
    let new: Vec<NewDelivery> = plan
        .iter()
        .enumerate()
        .map(|(i, (ch, w, _))| delivery(i as u32, *ch, *w))
        .collect();
    assert_eq!(store.create_deliveries(&new, &[]).await.unwrap(), plan.len());
    let mut ids: Vec<i64> = store
        .list_deliveries(&DeliveryQuery {
            limit: 100,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    ids.sort();
    for (id, (_, _, status)) in ids.iter().zip(&plan) {
        let attempt = Attempt {
            at: store::now(),
            status_code: Some(500),
            latency_ms: 12,
            error: None,
        };
        store.record_attempt(*id, &attempt, *status).await.unwrap();
    }
    let health = store.webhook_health().await.unwrap();
    let of = |id: &str| health.iter().find(|h| h.webhook.id == id).unwrap();
    assert_eq!((of("wh_ok").failing, of("wh_ok").dead), (1, 2));
    assert!(of("wh_ok").is_failing() && of("wh_ok").last_failure_at.is_some());
    assert_eq!((of("wh_gone").failing, of("wh_gone").dead), (0, 0));
    assert!(of("wh_gone").is_failing(), "disabled counts as failing");
    assert!(!of("wh_quiet").is_failing());
    let emails = store.failing_deliveries(Channel::Email, 10).await.unwrap();
    assert_eq!(emails.len(), 1);
    assert_eq!(
        (emails[0].channel.as_str(), emails[0].status.as_str()),
        ("email", "dead")
    );
    let hooks = store.failing_deliveries(Channel::Webhook, 10).await.unwrap();
    assert_eq!(hooks.len(), 3);
    assert!(hooks.windows(2).all(|w| w[0].id > w[1].id), "newest first");
}

both_backends!(profiles_by_status_wait_and_search, failing_notifications);
