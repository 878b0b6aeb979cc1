//! The bulk path against a real PostgreSQL (a fresh database per test at 127.0.0.1:5432):
//! it writes what one-at-a-time writes, and concurrent batches over the same profiles never
//! deadlock. Each test is ignored unless asked for (`--include-ignored`), and then fails
//! when PostgreSQL is unreachable: it never passes by skipping.

use super::bulk::{self, Eligible};
use super::profiles::record_one;
use super::PostgresStore;
use crate::domain::Decision;
use crate::store::fixtures::{callback, foreign};
use crate::store::{CallbackRecord, Recorded, Store as _};
use sqlx::{Connection as _, PgConnection};
use std::sync::atomic::{AtomicU32, Ordering};

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database that exists for one test.
pub(super) struct TestDb {
    name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let mut admin = PgConnection::connect(ADMIN_URL).await.unwrap_or_else(|error| {
            panic!(
                "this test needs PostgreSQL at {ADMIN_URL} ({error}); run without --ignored or \
                 --include-ignored to leave the PostgreSQL tests out"
            )
        });
        let name = format!(
            "th_unit_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        sqlx::query(&format!("drop database if exists {name} with (force)"))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::query(&format!("create database {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        Self { name, url }
    }

    pub async fn store(&self) -> PostgresStore {
        let store = PostgresStore::connect(&self.url).await.unwrap();
        store.migrate().await.unwrap();
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        // Drop runs outside any runtime guarantee: use a private one.
        let _ = on_a_thread_of_its_own(async move {
            if let Ok(mut admin) = PgConnection::connect(ADMIN_URL).await {
                let drop = format!("drop database if exists {name} with (force)");
                let _ = sqlx::query(&drop).execute(&mut admin).await;
            }
        });
    }
}

/// Runs `work` to completion on a new thread with a runtime of its own, whatever the calling
/// thread is doing; `Err` if it panicked.
pub(super) fn on_a_thread_of_its_own<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> std::thread::Result<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work)
    })
    .join()
}

/// Stores a batch through the bulk path in one transaction, as `batch.rs` does.
async fn record_bulk(store: &PostgresStore, batch: &[CallbackRecord]) -> Result<Vec<Recorded>, String> {
    let eligible: Vec<Eligible> = batch.iter().map(|c| Eligible::new(c).unwrap()).collect();
    let mut tx = store.pool.begin().await.map_err(|e| e.to_string())?;
    let outcomes = bulk::record(&mut tx, &eligible, &mut None)
        .await
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(outcomes)
}

/// The transitions whose notification is pending (a batch queues one `notify` job to drain
/// them all, one at a time one each).
const NOTIFIED: &str =
    "select coalesce(json_agg(transition_id order by transition_id), '[]')::text from pending_notifications";

/// Every row the receiver writes, as JSON text; jobs without their ids and without `notify`
/// jobs, and the pending notifications (`NOTIFIED`).
async fn dump(store: &PostgresStore) -> Vec<String> {
    let mut out = Vec::new();
    for (table, columns, order) in [
        ("profiles", "sid, account_sid, status, status_known, friendly_name, created_at, updated_at", "sid"),
        ("callbacks", "id, idempotency_token, body_hash, account_sid, profile_sid, status, problem, content_type, fields, credential, received_at", "id"),
        ("transitions", "id, profile_sid, from_status, to_status, at, source, failure_reason, applied, callback_id", "id"),
        ("jobs", "kind, dedupe_key, payload, state, attempts, run_at, created_at, updated_at", "id"),
    ] {
        let rows = if table == "jobs" { "jobs where kind != 'notify'" } else { table };
        let query = format!(
            "select coalesce(json_agg(json_build_array({columns}) order by {order}), '[]')::text from {rows}"
        );
        out.push(sqlx::query_scalar(&query).fetch_one(&store.pool).await.unwrap());
    }
    out.push(sqlx::query_scalar(NOTIFIED).fetch_one(&store.pool).await.unwrap());
    out
}

#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn a_batch_stores_exactly_what_one_at_a_time_stores() {
    let (batched_db, single_db) = (TestDb::new().await, TestDb::new().await);
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
        callback("t9", 4, "in-review", 10, None),
        foreign(callback("tf", 1, "twilio-rejected", 12, None)),
        callback("t0", 1, "pending-review", 11, None),
    ];
    let (batched, single) = (batched_db.store().await, single_db.store().await);
    for store in [&batched, &single] {
        record_one(&store.pool, &seed).await.unwrap();
    }
    let outcomes = record_bulk(&batched, &batch).await.unwrap();
    let mut expected = Vec::new();
    for callback in &batch {
        expected.push(record_one(&single.pool, callback).await.unwrap());
    }
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
    // The cases this covers: advance, new profile (advanced again in the batch), late report,
    // duplicate token (in the batch and from before), unknown status, an unchanged repeat.
    assert!(decisions.contains(&Some(Decision::Late)));
    assert!(decisions.contains(&Some(Decision::Unchanged)));
    assert_eq!(decisions.iter().filter(|d| d.is_none()).count(), 3);
    assert_eq!(dump(&batched).await, dump(&single).await);
    // The seed's job, and one for the whole batch.
    let notify_jobs: i64 = sqlx::query_scalar("select count(*) from jobs where kind = 'notify'")
        .fetch_one(&batched.pool)
        .await
        .unwrap();
    assert_eq!(notify_jobs, 2);
    batched.close().await;
    single.close().await;
}

/// Several replicas' batches over the same profiles at once, each listing them in its own
/// order and sharing some tokens (a redelivery reaching two replicas): no statement fails
/// (a deadlock would fail one), each token is stored once, each status change recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn concurrent_batches_over_the_same_profiles_never_deadlock() {
    let db = TestDb::new().await;
    let replicas = [db.store().await, db.store().await, db.store().await];
    let replicas: Vec<_> = replicas.into_iter().map(std::sync::Arc::new).collect();
    let (profiles, tasks_per_replica) = (24u32, 3usize);
    let statuses = ["pending-review", "in-review", "twilio-approved"];
    for (phase, status) in statuses.iter().enumerate() {
        let mut tasks = Vec::new();
        for (r, replica) in replicas.iter().enumerate() {
            for t in 0..tasks_per_replica {
                let task = r * tasks_per_replica + t;
                let mut order: Vec<u32> = (0..profiles).collect();
                order.rotate_left(task * 5 % profiles as usize);
                if task % 2 == 1 {
                    order.reverse();
                }
                let batch: Vec<_> = order
                    .iter()
                    .flat_map(|&n| {
                        let second = i64::from(n) + 100 * phase as i64;
                        [
                            callback(&format!("{status}-{n}"), n, status, second, None),
                            callback(&format!("{status}-{n}-{task}"), n, status, second, None),
                        ]
                    })
                    .collect();
                let replica = replica.clone();
                tasks.push(tokio::spawn(async move { record_bulk(&replica, &batch).await }));
            }
        }
        for task in tasks {
            task.await.unwrap().expect("no batch fails");
        }
    }
    let pool = &replicas[0].pool;
    let tasks = (replicas.len() * tasks_per_replica) as i64;
    let callbacks: i64 = sqlx::query_scalar("select count(*) from callbacks")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(callbacks, 3 * i64::from(profiles) * (1 + tasks));
    let rows: Vec<(String, String, i64, bool)> = sqlx::query_as(
        "select p.sid, p.status, count(t.id), bool_and(t.applied)
         from profiles p join transitions t on t.profile_sid = p.sid group by p.sid, p.status",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), profiles as usize);
    for (sid, status, transitions, applied) in rows {
        assert_eq!(
            (status.as_str(), transitions, applied),
            ("twilio-approved", 3, true),
            "{sid}"
        );
    }
    // Every transition waits to be notified, once: the approvals after their confirmation
    // with Trust Hub, the others in `pending_notifications`.
    let (notified, distinct): (i64, i64) = sqlx::query_as(
        "select count(*), count(distinct p.transition_id) from transitions t
         join pending_notifications p on p.transition_id = t.id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        (notified, distinct),
        (2 * i64::from(profiles), 2 * i64::from(profiles))
    );
    let (confirms, distinct): (i64, i64) = sqlx::query_as(
        "select count(*), count(distinct payload->>'transition_id') from jobs where kind = 'confirm_decision'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((confirms, distinct), (i64::from(profiles), i64::from(profiles)));
    for replica in &replicas {
        replica.close().await;
    }
}

/// Batches leave their transitions in `pending_notifications`; while the drain job queued
/// last waits for a worker, later batches queue no other; once a worker has taken it, the
/// next batch queues another.
#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn batches_queue_one_drain_job_until_a_worker_takes_it() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let batch = |tokens: [&str; 2], first: u32| {
        vec![
            callback(tokens[0], first, "pending-review", 0, None),
            callback(tokens[1], first + 1, "pending-review", 1, None),
        ]
    };
    let mut open = None;
    for callbacks in [batch(["a", "b"], 1), batch(["c", "d"], 3)] {
        let eligible: Vec<Eligible> = callbacks.iter().map(|c| Eligible::new(c).unwrap()).collect();
        let mut tx = store.pool.begin().await.unwrap();
        bulk::record(&mut tx, &eligible, &mut open).await.unwrap();
        tx.commit().await.unwrap();
    }
    let state = || async {
        let jobs: Vec<(String, String)> =
            sqlx::query_as("select state, payload::text from jobs where kind = 'notify' order by id")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        let pending: Vec<i64> =
            sqlx::query_scalar("select transition_id from pending_notifications order by transition_id")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        (jobs, pending)
    };
    let queued = |state: &str| (state.to_owned(), "{}".to_owned());
    assert_eq!(state().await, (vec![queued("queued")], vec![1, 2, 3, 4]));
    // A worker takes it (as a claim leaves it): the next batch queues its own.
    sqlx::query("update jobs set state = 'running', attempts = 1, worker = 'w' where kind = 'notify'")
        .execute(&store.pool)
        .await
        .unwrap();
    let third = batch(["e", "f"], 5);
    let eligible: Vec<Eligible> = third.iter().map(|c| Eligible::new(c).unwrap()).collect();
    let mut tx = store.pool.begin().await.unwrap();
    bulk::record(&mut tx, &eligible, &mut open).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        state().await,
        (vec![queued("running"), queued("queued")], vec![1, 2, 3, 4, 5, 6])
    );
    store.close().await;
}

/// A profile that another transaction creates while a batch waits to create it: the batch's
/// statement, whose snapshot is older, cannot create it (it exists) and must still lock it as
/// committed (a `select ... for update` in the statement would not see it: "profile vanished")
/// and apply its report to that row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn a_profile_created_while_a_batch_waits_for_it_gets_the_batch_report() {
    let db = TestDb::new().await;
    let store = std::sync::Arc::new(db.store().await);
    let sid = format!("BU{:032x}", 1);
    let mut other = store.pool.begin().await.unwrap();
    sqlx::query(
        "insert into profiles (sid, account_sid, status, status_known, friendly_name, created_at, updated_at)
         values ($1, null, 'pending-review', true, 'Made elsewhere', now(), now())",
    )
    .bind(&sid)
    .execute(&mut *other)
    .await
    .unwrap();
    let batch = vec![callback("t1", 1, "in-review", 5, None)];
    let batching = tokio::spawn({
        let store = store.clone();
        async move { record_bulk(&store, &batch).await }
    });
    // Commit only once the batch waits for the uncommitted profile.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the batch never waited for the profile"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    other.commit().await.unwrap();
    let outcomes = batching.await.unwrap().expect("the batch is stored");
    assert_eq!(
        outcomes,
        [Recorded::Stored {
            callback_id: 1,
            decision: Some(Decision::Advance)
        }]
    );
    let profile: (String, Option<String>) =
        sqlx::query_as("select status, friendly_name from profiles where sid = $1")
            .bind(&sid)
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert_eq!(
        profile,
        ("in-review".to_owned(), Some("Made elsewhere".to_owned()))
    );
    let transitions: Vec<(Option<String>, String, bool)> =
        sqlx::query_as("select from_status, to_status, applied from transitions where profile_sid = $1")
            .bind(&sid)
            .fetch_all(&store.pool)
            .await
            .unwrap();
    assert_eq!(
        transitions,
        [(Some("pending-review".to_owned()), "in-review".to_owned(), true)]
    );
    store.close().await;
}
