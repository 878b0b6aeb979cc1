use super::super::profiles::record_in;
use super::super::{migrated, SqliteStore};
use super::*;
use crate::domain::Decision;
use crate::store::fixtures::{callback, foreign};

/// Every row the receiver writes, as JSON text. Jobs without their ids, and without the
/// `notify` jobs that drain the pending notifications (a batch queues one for all, one at a
/// time one each): the pending notifications themselves instead.
async fn dump(store: &SqliteStore) -> Vec<String> {
    let mut out = Vec::new();
    for query in [
        "select json_group_array(json_array(sid, account_sid, status, status_known, friendly_name, created_at, updated_at)) from (select * from profiles order by sid)",
        "select json_group_array(json_array(id, idempotency_token, body_hash, account_sid, profile_sid, status, problem, content_type, fields, credential, received_at)) from (select * from callbacks order by id)",
        "select json_group_array(json_array(id, profile_sid, from_status, to_status, at, source, failure_reason, applied, callback_id)) from (select * from transitions order by id)",
        "select json_group_array(json_array(kind, dedupe_key, payload, state, attempts, run_at, created_at)) from (select * from jobs where kind != 'notify' order by id)",
        "select json_group_array(transition_id) from (select * from pending_notifications order by transition_id)",
    ] {
        out.push(sqlx::query_scalar(query).fetch_one(&store.reader).await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_batch_stores_exactly_what_one_at_a_time_stores() {
    let seed = callback("t0", 1, "pending-review", 0, None);
    let batch = vec![
        callback("t1", 1, "in-review", 1, None),
        callback("t2", 2, "pending-review", 2, None),
        callback("t3", 1, "pending-review", 3, None),
        callback("t4", 2, "twilio-rejected", 4, None),
        callback("t2", 2, "pending-review", 5, None),
        callback("t5", 3, "some-future-status", 6, None),
        callback("t6", 1, "twilio-approved", 7, Some("Acme")),
        callback("t7", 1, "twilio-approved", 8, None),
        callback("t8", 4, "pending-review", 9, Some("No Account")),
        foreign(callback("tf", 1, "twilio-rejected", 12, None)),
        callback("t0", 1, "pending-review", 10, None),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (batched, single) = (
        migrated(dir.path(), "batched.db").await,
        migrated(dir.path(), "single.db").await,
    );
    for store in [&batched, &single] {
        let seed = seed.clone();
        store
            .writer
            .write(move |tx| record_in(tx, &seed, &mut None))
            .await
            .unwrap();
    }
    let all = batch.clone();
    let outcomes = batched
        .writer
        .write(move |tx| record(tx, &all, &mut None))
        .await
        .unwrap();
    let expected: Vec<Recorded> = single
        .writer
        .write(move |tx| batch.iter().map(|c| record_in(tx, c, &mut None)).collect())
        .await
        .unwrap();
    assert_eq!(outcomes, expected);
    let decisions: Vec<_> = outcomes
        .iter()
        .map(|o| match o {
            Recorded::Stored { decision, .. } => *decision,
            Recorded::Duplicate | Recorded::Foreign { .. } => None,
        })
        .collect();
    // A bundle's account is fixed: the report from another account is refused, in a batch
    // as one at a time.
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Recorded::Foreign { owner, .. } if owner == &format!("AC{:032x}", 9)))
        .count();
    assert_eq!(refused, 1);
    // The cases this covers: advance, new profile, late report, duplicate token (twice),
    // unknown status, an unchanged repeat.
    assert!(decisions.contains(&Some(Decision::Late)));
    assert!(decisions.contains(&Some(Decision::Unchanged)));
    assert_eq!(decisions.iter().filter(|d| d.is_none()).count(), 3);
    assert_eq!(dump(&batched).await, dump(&single).await);
    // The seed's job, and one for the whole batch.
    let notify_jobs: i64 = sqlx::query_scalar("select count(*) from jobs where kind = 'notify'")
        .fetch_one(&batched.reader)
        .await
        .unwrap();
    assert_eq!(notify_jobs, 2);
}

/// Batches leave their transitions in `pending_notifications`; while the drain job queued
/// last waits for a worker, later batches queue no other; once a worker has taken it, the
/// next batch queues another.
#[tokio::test]
async fn batches_queue_one_drain_job_until_a_worker_takes_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = migrated(dir.path(), "hooks.db").await;
    let batch = |tokens: [&'static str; 2], first: u32| {
        let callbacks = vec![
            callback(tokens[0], first, "pending-review", 0, None),
            callback(tokens[1], first + 1, "pending-review", 1, None),
        ];
        move |tx: &Connection, open: &mut Option<i64>| record(tx, &callbacks, open)
    };
    let state = || async {
        let jobs: Vec<(String, String)> =
            sqlx::query_as("select state, payload from jobs where kind = 'notify' order by id")
                .fetch_all(&store.reader)
                .await
                .unwrap();
        let pending: Vec<i64> =
            sqlx::query_scalar("select transition_id from pending_notifications order by transition_id")
                .fetch_all(&store.reader)
                .await
                .unwrap();
        (jobs, pending)
    };
    let (first, second, third) = (batch(["a", "b"], 1), batch(["c", "d"], 3), batch(["e", "f"], 5));
    let open = store
        .writer
        .write(move |tx| {
            let mut open = None;
            first(tx, &mut open)?;
            second(tx, &mut open)?;
            Ok(open)
        })
        .await
        .unwrap();
    let queued = |state: &str| (state.to_owned(), "{}".to_owned());
    assert_eq!(state().await, (vec![queued("queued")], vec![1, 2, 3, 4]));
    // A worker takes it (as a claim leaves it): the next batch queues its own.
    store
        .writer
        .write(move |tx| {
            let mut open = open;
            tx.execute(
                "update jobs set state = 'running', attempts = 1, worker = 'w' where id = ?1",
                [open],
            )?;
            third(tx, &mut open)?;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(
        state().await,
        (vec![queued("running"), queued("queued")], vec![1, 2, 3, 4, 5, 6])
    );
}
