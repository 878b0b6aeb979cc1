//! Job queue throughput: jobs claimed and completed per second with a no-op handler.
//!
//! `cargo bench --bench queue` (SQLite in a temporary file; PostgreSQL at 127.0.0.1:5432 when
//! reachable). `QUEUE_BENCH_JOBS` sets the number of jobs (default 20000).

mod support;

use async_trait::async_trait;
use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use trusthub_hooks::queue::{Backoff, JobError, JobHandler, Worker, WorkerConfig};
use trusthub_hooks::store::DynStore;
use trusthub_hooks::store::{ClaimedJob, NewJob};

struct NoOp;

#[async_trait]
impl JobHandler for NoOp {
    async fn run(&self, _job: &ClaimedJob) -> Result<Vec<NewJob>, JobError> {
        Ok(Vec::new())
    }

    fn max_attempts(&self) -> u32 {
        1
    }
}

async fn bench(name: &str, store: DynStore, jobs: usize, concurrency: u32) {
    store.migrate().await.unwrap();
    let batch: Vec<NewJob> = (0..jobs)
        .map(|n| NewJob {
            kind: "noop",
            payload: serde_json::json!({ "n": n }),
            dedupe_key: None,
            run_at: Utc::now(),
        })
        .collect();
    let started = Instant::now();
    for chunk in batch.chunks(1000) {
        store.enqueue_jobs(chunk).await.unwrap();
    }
    let enqueue = started.elapsed();
    let config = WorkerConfig {
        concurrency,
        lease: Duration::from_secs(60),
        poll: Duration::from_millis(10),
        backoff: Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_secs(1),
        },
        max_retry_after: Duration::from_secs(1),
    };
    // Two workers, as two replicas (or two tasks of one) would run.
    let workers: Vec<_> = (0..2)
        .map(|_| {
            Arc::new(
                Worker::new(store.clone(), config.clone(), Arc::new(Notify::new()))
                    .handle("noop", Arc::new(NoOp)),
            )
        })
        .collect();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in workers {
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            loop {
                let ran = worker.run_once().await.unwrap();
                if ran == 0 {
                    return done;
                }
                done += ran;
            }
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!(total, jobs, "every job ran exactly once");
    println!(
        "{name:<10} concurrency {concurrency:>3}: enqueued {jobs} in {:>6.0} ms ({:>7.0} jobs/s); claimed+completed in {:>6.0} ms ({:>7.0} jobs/s)",
        enqueue.as_secs_f64() * 1e3,
        jobs as f64 / enqueue.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3,
        jobs as f64 / elapsed.as_secs_f64()
    );
    store.close().await;
}

#[tokio::main]
async fn main() {
    let jobs: usize = std::env::var("QUEUE_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    for concurrency in [8, 32] {
        support::on_each_backend(|name, store| bench(name, store, jobs, concurrency)).await;
    }
}
