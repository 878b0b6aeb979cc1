use super::super::profiles::record_in;
use super::super::{migrated, SqliteStore};
use super::*;
use crate::domain::Decision;
use crate::store::fixtures::callback;

/// Every row the receiver writes, as JSON text. Jobs without their ids, and `notify` jobs
/// as the transitions they cover: a batch queues one for all, one at a time one each.
async fn dump(store: &SqliteStore) -> Vec<String> {
    let mut out = Vec::new();
    for query in [
        "select json_group_array(json_array(sid, account_sid, status, status_known, friendly_name, created_at, updated_at)) from (select * from profiles order by sid)",
        "select json_group_array(json_array(id, idempotency_token, body_hash, account_sid, profile_sid, status, problem, content_type, fields, credential, received_at)) from (select * from callbacks order by id)",
        "select json_group_array(json_array(id, profile_sid, from_status, to_status, at, source, failure_reason, applied, callback_id)) from (select * from transitions order by id)",
        "select json_group_array(json_array(kind, dedupe_key, payload, state, attempts, run_at, created_at)) from (select * from jobs where kind != 'notify' order by id)",
        "select json_group_array(json_array(id, state)) from (
             select coalesce(j.value, jobs.payload ->> 'transition_id') as id, state from jobs
             left join json_each(jobs.payload -> '$.transition_ids') as j where kind = 'notify' order by 1)",
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
        callback("t0", 1, "pending-review", 10, None),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (batched, single) = (
        migrated(dir.path(), "batched.db").await,
        migrated(dir.path(), "single.db").await,
    );
    for store in [&batched, &single] {
        let seed = seed.clone();
        store.writer.write(move |tx| record_in(tx, &seed)).await.unwrap();
    }
    let all = batch.clone();
    let outcomes = batched
        .writer
        .write(move |tx| record(tx, &all, &mut None))
        .await
        .unwrap();
    let expected: Vec<Recorded> = single
        .writer
        .write(move |tx| batch.iter().map(|c| record_in(tx, c)).collect())
        .await
        .unwrap();
    assert_eq!(outcomes, expected);
    let decisions: Vec<_> = outcomes
        .iter()
        .map(|o| match o {
            Recorded::Stored { decision, .. } => *decision,
            Recorded::Duplicate => None,
        })
        .collect();
    // The cases this covers: advance, new profile, late report, duplicate token (twice),
    // unknown status, an unchanged repeat.
    assert!(decisions.contains(&Some(Decision::Late)));
    assert!(decisions.contains(&Some(Decision::Unchanged)));
    assert_eq!(decisions.iter().filter(|d| d.is_none()).count(), 2);
    assert_eq!(dump(&batched).await, dump(&single).await);
    // The seed's job, and one for the whole batch.
    let notify_jobs: i64 = sqlx::query_scalar("select count(*) from jobs where kind = 'notify'")
        .fetch_one(&batched.reader)
        .await
        .unwrap();
    assert_eq!(notify_jobs, 2);
}

/// While its job waits, later batches add their transitions to it; once a worker has
/// taken it (or it is full), the next batch queues another.
#[tokio::test]
async fn batches_add_to_the_notify_job_no_worker_has_taken() {
    let dir = tempfile::tempdir().unwrap();
    let store = migrated(dir.path(), "hooks.db").await;
    let batch = |tokens: [&'static str; 2], first: u32| {
        let callbacks = vec![
            callback(tokens[0], first, "pending-review", 0, None),
            callback(tokens[1], first + 1, "pending-review", 1, None),
        ];
        move |tx: &Connection, open: &mut Option<i64>| record(tx, &callbacks, open)
    };
    let notify_jobs = || async {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "select state, payload ->> 'transition_ids' from jobs where kind = 'notify' order by id",
        )
        .fetch_all(&store.reader)
        .await
        .unwrap();
        rows
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
    assert_eq!(
        notify_jobs().await,
        [("queued".to_owned(), "[1,2,3,4]".to_owned())]
    );
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
        notify_jobs().await,
        [
            ("running".to_owned(), "[1,2,3,4]".to_owned()),
            ("queued".to_owned(), "[5,6]".to_owned())
        ]
    );
}
