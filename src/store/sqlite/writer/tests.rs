use super::super::{migrated, SqliteStore};
use crate::config::SqliteSynchronous;
use crate::domain::{Decision, ProfileSid};
use crate::store::fixtures::callback;
use crate::store::{CallbackStore as _, Recorded, Store as _, StoreError};

fn advanced(outcome: &Recorded) -> bool {
    matches!(
        outcome,
        Recorded::Stored {
            decision: Some(Decision::Advance),
            ..
        }
    )
}

/// Callbacks queued together, with and without Twilio's token (the batch path, and one
/// at a time), keep their order; nothing is taken once the writer has stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_queued_together_are_recorded_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = migrated(dir.path(), "hooks.db").await;
    let mut untokened = callback("unused", 2, "in-review", 3, None);
    untokened.idempotency_token = None;
    // Polled in this order, so queued in this order, in one transaction or more.
    let (a, b, again) = (
        callback("a", 1, "pending-review", 0, None),
        callback("b", 1, "in-review", 1, None),
        callback("a", 1, "pending-review", 2, None),
    );
    let (a, b, again, first, second) = tokio::join!(
        store.record_callback(a),
        store.record_callback(b),
        store.record_callback(again),
        store.record_callback(untokened.clone()),
        store.record_callback(untokened),
    );
    assert!(advanced(&a.unwrap()));
    assert!(advanced(&b.unwrap()));
    assert_eq!(again.unwrap(), Recorded::Duplicate);
    assert!(advanced(&first.unwrap()));
    assert_eq!(
        second.unwrap(),
        Recorded::Duplicate,
        "same body, no token: a redelivery"
    );
    let sid = ProfileSid::parse(&format!("BU{:032x}", 1)).unwrap();
    let profile = store.get_profile(&sid).await.unwrap().unwrap();
    assert_eq!(profile.profile.status.as_wire(), "in-review");
    assert_eq!(profile.transitions.len(), 2);
    store.close().await;
    let late = store
        .record_callback(callback("c", 3, "pending-review", 9, None))
        .await;
    assert!(matches!(late, Err(StoreError::Unavailable(_))), "{late:?}");
}

/// A write that fails is undone alone: what shares its transaction still commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_is_undone_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = migrated(dir.path(), "hooks.db").await;
    let insert = |name: &'static str, fail: bool| {
        store.writer.write(move |tx| {
            tx.execute(
                "insert into creations (key, state, created_at, updated_at) values (?1, '{}', 0, 0)",
                [name],
            )?;
            if fail {
                return Err(StoreError::Corrupt("refused".to_owned()));
            }
            Ok(())
        })
    };
    let between = callback("a", 1, "pending-review", 0, None);
    let (kept, refused, cb, also_kept) = tokio::join!(
        insert("kept", false),
        insert("refused", true),
        store.record_callback(between),
        insert("also-kept", false),
    );
    kept.unwrap();
    assert!(matches!(refused, Err(StoreError::Corrupt(_))), "{refused:?}");
    assert!(advanced(&cb.unwrap()));
    also_kept.unwrap();
    let keys: Vec<String> = sqlx::query_scalar("select key from creations order by key")
        .fetch_all(&store.reader)
        .await
        .unwrap();
    assert_eq!(keys, ["also-kept", "kept"]);
}

#[tokio::test]
async fn an_in_memory_database_is_refused() {
    let refused = SqliteStore::connect("sqlite::memory:", SqliteSynchronous::Normal).await;
    assert!(matches!(refused, Err(StoreError::UnsupportedUrl(_))));
}
