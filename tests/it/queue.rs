//! The job queue's guarantees at the store level, on SQLite and PostgreSQL.

use crate::support;
use crate::support::{Backend, TestDb};
use chrono::Utc;
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use trusthub_hooks::queue::{Backoff, JobError, JobHandler, Worker, WorkerConfig};
use trusthub_hooks::store::{ClaimedJob, JobInfo, JobState, NewJob, Settlement};

fn job(n: u32, key: Option<&str>) -> NewJob {
    NewJob {
        kind: "test",
        payload: json!({"n": n}),
        dedupe_key: key.map(str::to_owned),
        run_at: Utc::now(),
    }
}

async fn claim_complete_retry_bury_revive(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store
        .enqueue_jobs(&[job(1, Some("k1")), job(1, Some("k1")), job(2, None)])
        .await
        .unwrap();
    let claimed = store.claim_jobs("w1", 10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(claimed.len(), 2, "the duplicate dedupe key was skipped");
    assert!(claimed.iter().all(|j| j.attempts == 1));
    // Claimed jobs are not handed out twice while leased.
    assert!(store
        .claim_jobs("w2", 10, Duration::from_secs(60))
        .await
        .unwrap()
        .is_empty());
    // Another worker cannot settle a job it does not hold.
    assert!(!store.complete_job(claimed[0].id, "w2", &[]).await.unwrap());
    // Completion enqueues follow-ups atomically.
    assert!(store
        .complete_job(claimed[0].id, "w1", &[job(3, Some("k3"))])
        .await
        .unwrap());
    // A retry is not due before its time.
    let later = Utc::now() + chrono::Duration::seconds(3600);
    assert!(store
        .retry_job_later(claimed[1].id, "w1", "boom", later)
        .await
        .unwrap());
    let due = store.claim_jobs("w1", 10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        due.iter()
            .map(|j| j.payload["n"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [3]
    );
    assert!(store.bury_job(due[0].id, "w1", "hopeless", &[]).await.unwrap());
    let dead = store.list_jobs(Some(JobState::Dead.as_str()), 10).await.unwrap();
    assert_eq!((dead.len(), dead[0].last_error.as_deref()), (1, Some("hopeless")));
    let queued = store
        .list_jobs(Some(JobState::Queued.as_str()), 10)
        .await
        .unwrap();
    assert_eq!(queued[0].last_error.as_deref(), Some("boom"));
    assert!(store.revive_job(dead[0].id).await.unwrap());
    assert!(
        !store.revive_job(dead[0].id).await.unwrap(),
        "only dead jobs revive"
    );
    let again = store.claim_jobs("w1", 10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        (again.len(), again[0].attempts),
        (1, 1),
        "a revived job starts a fresh schedule"
    );
    store.close().await;
}

/// A worker that dies holding a job loses it when the lease expires.
async fn expired_leases_are_claimed_again(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store.enqueue_jobs(&[job(1, None)]).await.unwrap();
    // Long enough that the claim just below always falls inside it, even on a busy machine.
    let first = store
        .claim_jobs("dead-worker", 1, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert!(store
        .claim_jobs("w2", 1, Duration::from_secs(60))
        .await
        .unwrap()
        .is_empty());
    let second = support::wait_for(30, "lease expiry", || {
        let store = store.clone();
        async move {
            Some(store.claim_jobs("w2", 1, Duration::from_secs(60)).await.unwrap()).filter(|j| !j.is_empty())
        }
    })
    .await;
    assert_eq!((second[0].id, second[0].attempts), (first[0].id, 2));
    assert!(
        !store.complete_job(first[0].id, "dead-worker", &[]).await.unwrap(),
        "the old holder lost it"
    );
    assert!(store.complete_job(first[0].id, "w2", &[]).await.unwrap());
    store.close().await;
}

/// Concurrent claimers never get the same job.
async fn concurrent_claims_are_disjoint(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let jobs: Vec<NewJob> = (0..200).map(|n| job(n, None)).collect();
    store.enqueue_jobs(&jobs).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store
                    .claim_jobs(&format!("w{w}"), 7, Duration::from_secs(60))
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|j| j.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for task in tasks {
        for id in task.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "job {id} claimed twice");
        }
    }
    assert_eq!(total, 200);
    store.close().await;
}

/// Several outcomes recorded at once: each as its own call would record it, and only for
/// the jobs the worker still holds.
async fn outcomes_settle_together(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store
        .enqueue_jobs(&[job(1, None), job(2, None), job(3, None), job(4, None)])
        .await
        .unwrap();
    let mut claimed = store.claim_jobs("w1", 10, Duration::from_secs(60)).await.unwrap();
    claimed.sort_by_key(|j| j.payload["n"].as_u64());
    let later = Utc::now() + chrono::Duration::seconds(3600);
    let settle = |id, state, error: Option<&str>, run_at, follow_ups| Settlement {
        id,
        state,
        error: error.map(str::to_owned),
        run_at,
        follow_ups,
    };
    let settlements = [
        settle(
            claimed[0].id,
            JobState::Done,
            None,
            None,
            vec![job(5, Some("k5"))],
        ),
        settle(claimed[1].id, JobState::Queued, Some("boom"), Some(later), vec![]),
        settle(
            claimed[2].id,
            JobState::Dead,
            Some("hopeless"),
            None,
            vec![job(6, Some("k6"))],
        ),
    ];
    // Another worker holds none of them: nothing changes, no follow-up is enqueued.
    assert_eq!(store.settle_jobs("w2", &settlements).await.unwrap(), [false; 3]);
    assert_eq!(
        store
            .list_jobs(Some(JobState::Running.as_str()), 10)
            .await
            .unwrap()
            .len(),
        4
    );
    assert_eq!(store.settle_jobs("w1", &settlements).await.unwrap(), [true; 3]);
    let by_n = |jobs: Vec<JobInfo>| {
        let mut ns: Vec<u64> = jobs.iter().map(|j| j.payload["n"].as_u64().unwrap()).collect();
        ns.sort_unstable();
        ns
    };
    assert_eq!(
        by_n(store.list_jobs(Some(JobState::Done.as_str()), 10).await.unwrap()),
        [1]
    );
    assert_eq!(
        by_n(
            store
                .list_jobs(Some(JobState::Running.as_str()), 10)
                .await
                .unwrap()
        ),
        [4]
    );
    assert_eq!(
        by_n(
            store
                .list_jobs(Some(JobState::Queued.as_str()), 10)
                .await
                .unwrap()
        ),
        [2, 5, 6]
    );
    let dead = store.list_jobs(Some(JobState::Dead.as_str()), 10).await.unwrap();
    assert_eq!(
        (by_n(dead.clone()), dead[0].last_error.as_deref()),
        (vec![3], Some("hopeless"))
    );
    let retried = store
        .list_jobs(Some(JobState::Queued.as_str()), 10)
        .await
        .unwrap();
    let retried = retried.iter().find(|j| j.payload["n"] == 2).unwrap();
    assert_eq!(retried.last_error.as_deref(), Some("boom"));
    assert!((retried.run_at - later).num_milliseconds().abs() < 1);
    // Settled jobs are not ours any more: a second try keeps nothing and adds nothing.
    assert_eq!(store.settle_jobs("w1", &settlements).await.unwrap(), [false; 3]);
    assert_eq!(store.list_jobs(None, 20).await.unwrap().len(), 6);
    // Due now: the two follow-ups; the retry waits for its time.
    let due = store.claim_jobs("w1", 10, Duration::from_secs(60)).await.unwrap();
    let mut due: Vec<u64> = due.iter().map(|j| j.payload["n"].as_u64().unwrap()).collect();
    due.sort_unstable();
    assert_eq!(due, [5, 6]);
    store.close().await;
}

/// Jobs of a slow kind never hold more than half of a worker's slots: the other kinds keep
/// running past them.
async fn a_slow_kind_does_not_hold_back_the_others(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    // "slow" jobs wait until released and count how many run at once.
    struct Slow {
        release: Arc<tokio::sync::Semaphore>,
        running: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    }
    #[async_trait::async_trait]
    impl JobHandler for Slow {
        async fn run(&self, _job: &ClaimedJob) -> Result<Vec<NewJob>, JobError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.release.acquire().await.unwrap().forget();
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(Vec::new())
        }
        fn max_attempts(&self) -> u32 {
            1
        }
    }
    struct Fast;
    #[async_trait::async_trait]
    impl JobHandler for Fast {
        async fn run(&self, _job: &ClaimedJob) -> Result<Vec<NewJob>, JobError> {
            Ok(Vec::new())
        }
        fn max_attempts(&self) -> u32 {
            1
        }
    }
    let kind = |kind: &'static str, n| NewJob { kind, ..job(n, None) };
    // The slow ones first: they are due before the fast ones.
    let mut jobs: Vec<NewJob> = (0..10).map(|n| kind("slow", n)).collect();
    jobs.extend((10..15).map(|n| kind("fast", n)));
    for job in &jobs {
        store.enqueue_jobs(std::slice::from_ref(job)).await.unwrap();
    }
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let slow = Slow {
        release: release.clone(),
        running: running.clone(),
        most: most.clone(),
    };
    let config = WorkerConfig {
        concurrency: 4,
        lease: Duration::from_secs(60),
        poll: Duration::from_millis(20),
        backoff: Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_secs(1),
        },
        max_retry_after: Duration::from_secs(1),
    };
    let worker = Worker::new(store.clone(), config, Arc::new(tokio::sync::Notify::new()))
        .handle("slow", Arc::new(slow))
        .handle("fast", Arc::new(Fast));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running_worker = tokio::spawn(worker.run(stopped));
    let done_kinds = || async {
        let done = store.list_jobs(Some(JobState::Done.as_str()), 50).await.unwrap();
        done.iter().map(|j| j.kind.clone()).collect::<Vec<_>>()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while done_kinds().await.len() < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "the fast jobs did not run past the slow ones"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        done_kinds().await.iter().all(|k| k == "fast"),
        "only fast jobs are done"
    );
    assert_eq!(
        running.load(Ordering::SeqCst),
        2,
        "two slow jobs hold half the slots"
    );
    // Released, the slow ones all run, still at most two at once.
    release.add_permits(10);
    while done_kinds().await.len() < 15 {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow jobs did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(most.load(Ordering::SeqCst), 2);
    stop.send(true).unwrap();
    running_worker.await.unwrap();
    store.close().await;
}

/// A claim can leave kinds out (how a worker keeps a slow kind to its share of slots).
async fn claims_leave_kinds_out(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let kind = |kind: &'static str, n| NewJob { kind, ..job(n, None) };
    store
        .enqueue_jobs(&[kind("a", 1), kind("b", 2), kind("a", 3), kind("c", 4)])
        .await
        .unwrap();
    let lease = Duration::from_secs(60);
    let claimed = store
        .claim_jobs_except("w1", 10, lease, &["a".to_owned(), "c".to_owned()])
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|j| j.kind.as_str()).collect::<Vec<_>>(), ["b"]);
    let rest = store.claim_jobs_except("w1", 10, lease, &[]).await.unwrap();
    let mut kinds: Vec<&str> = rest.iter().map(|j| j.kind.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["a", "a", "c"]);
    store.close().await;
}

/// Each kind is searched on its own (`jobs_queued`), and the claim still takes the oldest due
/// jobs whatever their kind, leaves jobs that are not due, and skips a kind left out however
/// many of its jobs are due.
async fn claims_take_the_oldest_due_jobs_across_kinds(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let now = Utc::now();
    let at = |kind: &'static str, n: u32, seconds: i64| NewJob {
        kind,
        run_at: now + chrono::Duration::seconds(seconds),
        ..job(n, None)
    };
    let mut jobs = vec![
        at("c", 1, -50),
        at("a", 2, -40),
        at("b", 3, -30),
        at("a", 4, -20),
        at("c", 5, -10),
        at("b", 6, 60),
    ];
    jobs.extend((100..400).map(|n| at("slow", n, -100)));
    store.enqueue_jobs(&jobs).await.unwrap();
    let lease = Duration::from_secs(60);
    let numbers = |claimed: &[ClaimedJob]| -> Vec<u64> {
        let mut n: Vec<u64> = claimed.iter().map(|j| j.payload["n"].as_u64().unwrap()).collect();
        n.sort_unstable();
        n
    };
    let except = ["slow".to_owned()];
    let first = store.claim_jobs_except("w1", 3, lease, &except).await.unwrap();
    assert_eq!(numbers(&first), [1, 2, 3]);
    let rest = store.claim_jobs_except("w1", 10, lease, &except).await.unwrap();
    assert_eq!(numbers(&rest), [4, 5], "job 6 is not due yet");
    let slow = store.claim_jobs("w1", 500, lease).await.unwrap();
    assert_eq!(numbers(&slow), (100..400).collect::<Vec<u64>>());
    store.close().await;
}

both_backends!(
    claims_take_the_oldest_due_jobs_across_kinds,
    a_slow_kind_does_not_hold_back_the_others,
    claims_leave_kinds_out,
    outcomes_settle_together,
    claim_complete_retry_bury_revive,
    expired_leases_are_claimed_again,
    concurrent_claims_are_disjoint
);
