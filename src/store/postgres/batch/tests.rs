use super::super::tests::{on_a_thread_of_its_own, TestDb};
use super::{Eligible, GroupCommit, Lane};
use crate::store::fixtures::callback;
use crate::store::{CallbackRecord, Recorded, Store as _};
use sqlx::PgPool;

async fn sessions_in_transaction(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "select count(*) from pg_stat_activity
         where datname = current_database() and state like 'idle in transaction%'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn store(
    lane: &mut Lane,
    batch: &[CallbackRecord],
    next_waiting: bool,
) -> Result<Vec<Recorded>, String> {
    let eligible: Vec<Eligible> = batch.iter().map(|c| Eligible::new(c).unwrap()).collect();
    lane.commit_bulk(&eligible, || next_waiting)
        .await
        .map_err(|e| e.to_string())
}

fn stored(outcomes: &[Recorded]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, Recorded::Stored { .. }))
        .count()
}

/// A commit begins the next transaction only when a batch waits, and the lane ends it if
/// that batch has nothing for it: an idle lane leaves no session inside a transaction.
#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn a_transaction_is_begun_ahead_only_for_a_waiting_batch() {
    let db = TestDb::new().await;
    let store_ = db.store().await;
    let mut lane = Lane::new(store_.pool.clone());
    let first = [callback("a", 1, "pending-review", 0, None)];
    assert_eq!(stored(&store(&mut lane, &first, true).await.unwrap()), 1);
    assert_eq!(
        sessions_in_transaction(&store_.pool).await,
        1,
        "begun for the next batch"
    );
    let second = [
        callback("b", 1, "in-review", 1, None),
        callback("c", 2, "pending-review", 2, None),
    ];
    assert_eq!(stored(&store(&mut lane, &second, false).await.unwrap()), 2);
    assert_eq!(sessions_in_transaction(&store_.pool).await, 0);
    let third = [callback("d", 2, "in-review", 3, None)];
    store(&mut lane, &third, true).await.unwrap();
    lane.idle(|| false).await;
    assert_eq!(sessions_in_transaction(&store_.pool).await, 0, "ended when idle");
    let callbacks: i64 = sqlx::query_scalar("select count(*) from callbacks")
        .fetch_one(&store_.pool)
        .await
        .unwrap();
    assert_eq!(callbacks, 4);
    store_.close().await;
}

/// A batch whose statement fails inside a transaction (here a lock wait past the
/// database's statement_timeout) keeps nothing, and its connection, aborted inside that
/// transaction, never serves another query: every connection of the pool still works, and
/// the lane's next batch commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn a_failed_batch_never_gives_its_connection_back_inside_its_transaction() {
    let db = TestDb::new().await;
    let store_ = db.store().await;
    let setup = PgPool::connect(&db.url).await.unwrap();
    let database: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&setup)
        .await
        .unwrap();
    sqlx::query(&format!(
        "alter database {database} set statement_timeout = '300ms'"
    ))
    .execute(&setup)
    .await
    .unwrap();
    store_.pool.close().await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .test_before_acquire(false)
        .connect(&db.url)
        .await
        .unwrap();
    let mut lane = Lane::new(pool.clone());
    assert_eq!(
        stored(
            &store(&mut lane, &[callback("a", 1, "pending-review", 0, None)], true)
                .await
                .unwrap()
        ),
        1
    );
    // Another session holds profile 1's row: the next batch waits for it, then fails.
    let mut holder = setup.begin().await.unwrap();
    sqlx::query("select 1 from profiles for update")
        .execute(&mut *holder)
        .await
        .unwrap();
    let failed = store(&mut lane, &[callback("b", 1, "in-review", 1, None)], false).await;
    assert!(failed.is_err(), "{failed:?}");
    holder.rollback().await.unwrap();
    // Every connection the pool can hand out (four held at once) answers; one given back
    // inside the aborted transaction would refuse every statement until a rollback.
    let checks: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut connection = pool.acquire().await.unwrap();
                let answer = sqlx::query_scalar::<_, i32>("select 1")
                    .fetch_one(&mut *connection)
                    .await;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                answer.map_err(|e| e.to_string())
            })
        })
        .collect();
    for check in checks {
        assert_eq!(check.await.unwrap(), Ok(1));
    }
    let again = store(&mut lane, &[callback("b", 1, "in-review", 1, None)], false)
        .await
        .unwrap();
    assert_eq!(stored(&again), 1);
    let statuses: Vec<String> = sqlx::query_scalar("select to_status from transitions order by id")
        .fetch_all(&setup)
        .await
        .unwrap();
    assert_eq!(statuses, ["pending-review", "in-review"]);
    pool.close().await;
    setup.close().await;
}

/// A lane runs on a thread of its own: a callback handed to it commits while the runtime
/// that handed it over runs nothing at all (its only thread blocked here; on a loaded server,
/// busy with requests).
#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn a_lane_commits_while_the_callers_runtime_is_blocked() {
    let db = TestDb::new().await;
    let store_ = db.store().await;
    let commits = GroupCommit::start(&store_.pool).unwrap();
    let recording =
        tokio::spawn(async move { commits.record(callback("a", 1, "pending-review", 0, None)).await });
    // On this single-threaded runtime, `recording` runs now: it queues the callback.
    tokio::task::yield_now().await;
    let url = db.url.clone();
    // Blocks this thread until the other one has looked.
    let committed = on_a_thread_of_its_own(async move {
        let pool = PgPool::connect(&url).await.unwrap();
        for _ in 0..100 {
            let count: i64 = sqlx::query_scalar("select count(*) from callbacks")
                .fetch_one(&pool)
                .await
                .unwrap();
            if count == 1 {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    })
    .unwrap();
    assert!(
        committed,
        "not committed within 5 s while the caller's runtime was blocked"
    );
    let outcome = recording.await.unwrap();
    assert!(matches!(outcome, Ok(Recorded::Stored { .. })), "{outcome:?}");
    store_.close().await;
}
