//! Retention (`RETENTION_DAYS`): the sweep deletes exactly what is older and finished, and
//! keeps the history; `serve` runs it; `/metrics` counts every table's rows.

use crate::support::{self, bundle, Backend, TestDb, ACCOUNT};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeSet;
use trusthub_hooks::app::Application;
use trusthub_hooks::config::Config;
use trusthub_hooks::domain::{AccountSid, ProfileSid, ProfileStatus, StatusReport};
use trusthub_hooks::jobs::retention::sweep;
use trusthub_hooks::store::{CallbackRecord, DynStore, EvaluationRecord};

/// Runs statements on either backend.
async fn execute(db: &TestDb, statements: &[String]) {
    use sqlx::Connection as _;
    if db.url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        for sql in statements {
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
    } else {
        let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        for sql in statements {
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
    }
}

/// One text column of every row `sql` returns, on either backend.
async fn texts(db: &TestDb, sql: &str) -> BTreeSet<String> {
    use sqlx::Connection as _;
    if db.url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql)
            .fetch_all(&mut c)
            .await
            .unwrap()
            .into_iter()
            .collect()
    } else {
        let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql)
            .fetch_all(&mut c)
            .await
            .unwrap()
            .into_iter()
            .collect()
    }
}

/// `days` ago as a column value in SQL: unix microseconds on SQLite, `timestamptz` on PostgreSQL.
fn ago(db: &TestDb, days: i64) -> String {
    if db.url.starts_with("postgres") {
        format!("(now() - interval '{days} days')")
    } else {
        format!("((cast(strftime('%s', 'now') as integer) - {days} * 86400) * 1000000)")
    }
}

fn record(sid: &str, status: &str, body: &str, received_at: DateTime<Utc>) -> CallbackRecord {
    let account = AccountSid::parse(ACCOUNT).unwrap();
    CallbackRecord {
        idempotency_token: Some(format!("token-{body}")),
        body_hash: body.to_owned(),
        account_sid: Some(account.clone()),
        report: Ok(StatusReport {
            account_sid: Some(account),
            profile_sid: ProfileSid::parse(sid).unwrap(),
            status: ProfileStatus::from_wire(status),
            failure_reason: None,
            friendly_name: None,
        }),
        content_type: "application/x-www-form-urlencoded".into(),
        fields: vec![("Status".into(), status.into())],
        credential: "test".into(),
        received_at,
    }
}

/// A job row: `marker` as its dedupe key.
fn job(db: &TestDb, marker: &str, state: &str, created_days: i64, updated_days: i64) -> String {
    format!(
        "insert into jobs (kind, dedupe_key, payload, state, attempts, run_at, created_at, updated_at)
         values ('seeded', '{marker}', '{{}}', '{state}', 1, {c}, {c}, {u})",
        c = ago(db, created_days),
        u = ago(db, updated_days)
    )
}

/// A delivery (its event id `marker`) and `attempts` attempts of it.
fn delivery(db: &TestDb, marker: &str, status: &str, days: i64, attempts: usize) -> Vec<String> {
    let at = ago(db, days);
    let mut sql = vec![format!(
        "insert into deliveries (channel, recipient, event_id, event_type, payload, status, attempts,
                                 created_at, updated_at)
         values ('email', 'ops@example.com', '{marker}', 'profile.status_changed', '{{}}', '{status}',
                 {attempts}, {at}, {at})"
    )];
    for _ in 0..attempts {
        sql.push(format!(
            "insert into delivery_attempts (delivery_id, at, status_code, latency_ms)
             select id, {at}, 500, 10 from deliveries where event_id = '{marker}'"
        ));
    }
    sql
}

/// Seeds old and recent rows of every kind; returns the store.
async fn seed(db: &TestDb) -> DynStore {
    let store = db.store().await;
    let old = Utc::now() - Duration::days(100);
    let recent = Utc::now() - Duration::days(1);
    let (a, b) = (bundle(1), bundle(2));
    // a1 makes a transition, a2 repeats its status (no transition), a3 arrives late (a
    // transition not applied): of the old ones only a2 may go. b1 and b2 are recent.
    for (sid, status, body, at) in [
        (&a, "in-review", "a1", old),
        (&a, "in-review", "a2", old),
        (&a, "pending-review", "a3", old),
        (&b, "pending-review", "b1", recent),
        (&b, "pending-review", "b2", recent),
    ] {
        store
            .record_callback(record(sid, status, body, at))
            .await
            .unwrap();
    }
    let mut unusable = record(&a, "in-review", "u1", old);
    unusable.report = Err("no BundleSid".into());
    store.record_callback(unusable).await.unwrap();
    store
        .save_evaluation(&EvaluationRecord {
            sid: format!("EL{}", "0".repeat(32)),
            profile_sid: a.clone(),
            account_sid: Some(ACCOUNT.into()),
            policy_sid: None,
            status: "noncompliant".into(),
            results: serde_json::json!([]),
            profile_errors: serde_json::json!([]),
            date_created: None,
            fetched_at: old,
            transition_id: None,
        })
        .await
        .unwrap();
    let mut sql = vec![
        job(db, "old-done", "done", 100, 100),
        job(db, "recent-done", "done", 1, 1),
        // Created long ago, finished lately (a long retry): kept for its days.
        job(db, "old-created-recently-done", "done", 100, 1),
        job(db, "old-queued", "queued", 100, 100),
        job(db, "old-running", "running", 100, 100),
        job(db, "old-dead", "dead", 100, 100),
        // More than one batch of done jobs.
        format!(
            "with recursive n(i) as (select 1 union all select i + 1 from n where i < 600)
             insert into jobs (kind, dedupe_key, payload, state, attempts, run_at, created_at, updated_at)
             select 'seeded', 'bulk-' || i, '{{}}', 'done', 1, {t}, {t}, {t} from n",
            t = ago(db, 100)
        ),
        // Transitions are history, whatever their age.
        format!("update transitions set at = {}", ago(db, 100)),
    ];
    for (marker, status, days, attempts) in [
        ("old-delivered", "delivered", 100, 2),
        ("old-dead", "dead", 100, 3),
        ("old-cancelled", "cancelled", 100, 0),
        ("old-pending", "pending", 100, 1),
        ("old-failed", "failed", 100, 2),
        ("recent-delivered", "delivered", 1, 1),
    ] {
        sql.extend(delivery(db, marker, status, days, attempts));
    }
    execute(db, &sql).await;
    store
}

/// What the sweep may change: every job, delivery, attempt and callback, by marker.
async fn snapshot(db: &TestDb) -> [BTreeSet<String>; 4] {
    [
        texts(db, "select coalesce(dedupe_key, kind) from jobs").await,
        texts(db, "select event_id from deliveries").await,
        texts(db, "select d.event_id || '#' || a.id from delivery_attempts a join deliveries d on d.id = a.delivery_id").await,
        texts(db, "select body_hash from callbacks").await,
    ]
}

async fn history(db: &TestDb) -> [i64; 3] {
    [
        db.count("select count(*) from transitions").await,
        db.count("select count(*) from evaluations").await,
        db.count("select count(*) from profiles").await,
    ]
}

/// The sweep deletes exactly what is older and finished, and keeps the history.
async fn the_sweep_deletes_exactly_what_is_older_and_keeps_the_history(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = seed(&db).await;
    let [jobs, deliveries, attempts, callbacks] = snapshot(&db).await;
    let kept_history = history(&db).await;
    assert_eq!(kept_history, [3, 1, 2], "a1, a3 and b1 made transitions");

    let cutoff = Utc::now() - Duration::days(90);
    // One batch, then the rest from where it stopped: a sweep resumes across jobs.
    let (after, first) = sweep(store.as_ref(), cutoff, [Some(0); 3], 1).await.unwrap();
    assert!(after[0].is_some(), "600 done jobs take more than one batch");
    assert!(first[0] > 0 && first[0] < 601, "{first:?}");
    let (after, rest) = sweep(store.as_ref(), cutoff, after, u32::MAX).await.unwrap();
    assert_eq!(after, [None; 3]);
    assert_eq!([first[0] + rest[0], rest[1], rest[2]], [601, 3, 2]);

    let gone = |all: &BTreeSet<String>, now: &BTreeSet<String>| -> BTreeSet<String> {
        all.difference(now).cloned().collect()
    };
    let [jobs_now, deliveries_now, attempts_now, callbacks_now] = snapshot(&db).await;
    let mut done_and_old: BTreeSet<String> = (1..=600).map(|i| format!("bulk-{i}")).collect();
    done_and_old.insert("old-done".into());
    assert_eq!(gone(&jobs, &jobs_now), done_and_old);
    for kept in [
        "recent-done",
        "old-created-recently-done",
        "old-queued",
        "old-running",
        "old-dead",
    ] {
        assert!(jobs_now.contains(kept), "{kept} was deleted");
    }
    let finished: BTreeSet<String> = ["old-delivered", "old-dead", "old-cancelled"]
        .map(String::from)
        .into();
    assert_eq!(gone(&deliveries, &deliveries_now), finished);
    let attempts_gone = gone(&attempts, &attempts_now);
    assert_eq!(attempts_gone.len(), 5, "{attempts_gone:?}");
    assert!(attempts_gone
        .iter()
        .all(|a| finished.iter().any(|d| a.starts_with(&format!("{d}#")))));
    let no_transition: BTreeSet<String> = ["a2", "u1"].map(String::from).into();
    assert_eq!(gone(&callbacks, &callbacks_now), no_transition);
    assert_eq!(
        history(&db).await,
        kept_history,
        "transitions, evaluations, profiles kept"
    );

    // A second sweep finds nothing more.
    let (_, again) = sweep(store.as_ref(), cutoff, [Some(0); 3], u32::MAX)
        .await
        .unwrap();
    assert_eq!(again, [0; 3]);
    store.close().await;
}

/// `serve` sweeps on its own at start-up (and hourly), and `/metrics` then counts each table's
/// rows as they are.
async fn serve_sweeps_and_metrics_count_the_rows(backend: Backend) {
    let db = TestDb::new(backend).await;
    seed(&db).await.close().await;
    let mut env = support::base_env(&db);
    env.push(("RETENTION_DAYS", "30".into()));
    let config = Config::load_from(None, env).unwrap();
    let app = Application::build(&config).await.unwrap();
    let addr = app.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let tables = trusthub_hooks::store::retention::COUNTED_TABLES;
    support::wait_for(
        60,
        "the sweep, then /metrics equal to the tables' rows",
        || async {
            if db
                .count("select count(*) from jobs where dedupe_key = 'old-done'")
                .await
                > 0
            {
                return None;
            }
            let exposition = client
                .get(format!("http://{addr}/metrics"))
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            for table in tables {
                let shown =
                    support::metric(&exposition, &format!("trusthub_table_rows{{table=\"{table}\"}}"));
                if shown != db.count(&format!("select count(*) from {table}")).await as f64 {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    assert_eq!(
        db.count("select count(*) from callbacks where body_hash in ('a2', 'u1')")
            .await,
        0
    );
    assert_eq!(db.count("select count(*) from callbacks").await, 4);
    let _ = stop.send(());
    served.await.unwrap().unwrap();
}

both_backends!(
    the_sweep_deletes_exactly_what_is_older_and_keeps_the_history,
    serve_sweeps_and_metrics_count_the_rows,
);
