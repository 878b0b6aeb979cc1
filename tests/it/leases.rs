//! Leases that follow the worker, on SQLite and PostgreSQL: a job slower than its lease is
//! renewed and runs once, even with another worker claiming; a job whose lease is lost is
//! stopped before it records anything.

use crate::support::{Backend, TestDb};
use chrono::Utc;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use trusthub_hooks::queue::{Backoff, JobError, JobHandler, Worker, WorkerConfig};
use trusthub_hooks::store::{ClaimedJob, DynStore, JobState, NewJob};

/// Runs for `takes`, counting its runs; `stopped` turns true when a run is dropped unfinished.
struct Slow {
    takes: Duration,
    runs: Arc<AtomicUsize>,
    stopped: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>, bool);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

#[async_trait::async_trait]
impl JobHandler for Slow {
    async fn run(&self, _job: &ClaimedJob) -> Result<Vec<NewJob>, JobError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let mut guard = SetOnDrop(self.stopped.clone(), false);
        tokio::time::sleep(self.takes).await;
        guard.1 = true;
        Ok(Vec::new())
    }

    fn max_attempts(&self) -> u32 {
        5
    }
}

fn worker(store: &DynStore, slow: Slow) -> Worker {
    let config = WorkerConfig {
        concurrency: 2,
        lease: Duration::from_secs(1),
        poll: Duration::from_millis(20),
        backoff: Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_millis(100),
        },
        max_retry_after: Duration::from_secs(1),
    };
    Worker::new(store.clone(), config, Arc::new(tokio::sync::Notify::new())).handle("slow", Arc::new(slow))
}

async fn enqueue(store: &DynStore) -> i64 {
    store
        .enqueue_jobs(&[NewJob {
            kind: "slow",
            payload: json!({}),
            dedupe_key: None,
            run_at: Utc::now(),
        }])
        .await
        .unwrap();
    store.list_jobs(None, 1).await.unwrap()[0].id
}

async fn a_job_slower_than_its_lease_runs_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let id = enqueue(&store).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicBool::new(false));
    // Two workers polling the same queue; the job takes four leases.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let slow = Slow {
            takes: Duration::from_secs(4),
            runs: runs.clone(),
            stopped: stopped.clone(),
        };
        tasks.push(tokio::spawn(worker(&store, slow).run(stopping.clone())));
    }
    crate::support::wait_for(30, "the slow job done", || async {
        let done = store.list_jobs(Some(JobState::Done.as_str()), 10).await.unwrap();
        done.into_iter().find(|j| j.id == id)
    })
    .await;
    let _ = stop.send(true);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "run once, never handed to the other worker"
    );
    assert!(!stopped.load(Ordering::SeqCst));
    let job = store.list_jobs(None, 1).await.unwrap().remove(0);
    assert_eq!((job.state.as_str(), job.attempts), ("done", 1));
    store.close().await;
}

async fn a_job_that_lost_its_lease_stops_before_recording(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let id = enqueue(&store).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicBool::new(false));
    let slow = Slow {
        takes: Duration::from_secs(60),
        runs: runs.clone(),
        stopped: stopped.clone(),
    };
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker(&store, slow).run(stopping));
    crate::support::wait_for(20, "the job started", || async {
        (runs.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    // Another worker takes it over (as after a lease that ran out during a long pause).
    db.execute(&format!("update jobs set worker = 'thief' where id = {id}"))
        .await;
    crate::support::wait_for(20, "the run stopped", || async {
        stopped.load(Ordering::SeqCst).then_some(())
    })
    .await;
    let _ = stop.send(true);
    running.await.unwrap();
    let job = store.list_jobs(None, 1).await.unwrap().remove(0);
    assert_eq!(
        (job.state.as_str(), job.attempts, job.last_error.as_deref()),
        ("running", 1, None),
        "nothing recorded by the worker that lost it"
    );
    store.close().await;
}

both_backends!(
    a_job_slower_than_its_lease_runs_once,
    a_job_that_lost_its_lease_stops_before_recording,
);
