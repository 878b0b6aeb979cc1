//! The worker loop: claim due jobs under a short lease, renew the leases of the jobs in hand
//! while they run (the worker's heartbeat), run them, record the outcome. A job whose lease
//! was lost (another worker took it after it expired) is stopped before it records anything.

use super::{Backoff, Job, JobError, JobHandler, Typed};
use crate::config::Config;
use crate::store::{ClaimedJob, DynStore, JobState, NewJob, Settlement, StoreError};
use chrono::Utc;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify, Semaphore};

/// The shortest time between two claims when the last one emptied the queue.
const CLAIM_GAP: Duration = Duration::from_millis(10);

/// How a worker claims and retries.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at once.
    pub concurrency: u32,
    /// How long a claimed job is ours without a heartbeat: renewed every third of it while
    /// the job runs, so a crashed worker's jobs are claimed again about this long after.
    pub lease: Duration,
    /// How often to look for due jobs when not woken.
    pub poll: Duration,
    pub backoff: Backoff,
    /// The longest `Retry-After` honoured when scheduling a retry.
    pub max_retry_after: Duration,
}

impl WorkerConfig {
    /// The worker settings of a configuration.
    pub fn from_config(config: &Config) -> Self {
        Self {
            concurrency: config.worker_concurrency.max(1),
            lease: Duration::from_secs(config.job_lease_secs.max(1)),
            poll: Duration::from_millis(config.worker_poll_ms.max(10)),
            backoff: Backoff {
                base: Duration::from_millis(config.job_retry_base_ms),
                max: Duration::from_millis(config.job_retry_max_ms.max(config.job_retry_base_ms)),
            },
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

pub struct Worker {
    shared: Shared,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
}

/// What each job's task needs to record its outcome.
#[derive(Clone)]
struct Shared {
    id: String,
    store: DynStore,
    config: WorkerConfig,
    wake: Arc<Notify>,
    /// The jobs running now, each with what stops it should its lease be lost.
    held: Arc<Mutex<HashMap<i64, tokio::task::AbortHandle>>>,
}

impl Worker {
    pub fn new(store: DynStore, config: WorkerConfig, wake: Arc<Notify>) -> Self {
        let id = format!(
            "{}-{}-{:08x}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into()),
            std::process::id(),
            rand::random::<u32>()
        );
        Self {
            shared: Shared {
                id,
                store,
                config,
                wake,
                held: Arc::default(),
            },
            handlers: HashMap::new(),
        }
    }

    /// Registers a typed job.
    pub fn register<J: Job>(self, job: J) -> Self {
        self.handle(J::KIND, Arc::new(Typed(job)))
    }

    /// Registers the handler of one kind of job.
    pub fn handle(mut self, kind: &str, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.insert(kind.to_owned(), handler);
        self
    }

    /// Runs until `shutdown` turns true, finishing the jobs in hand. Up to `concurrency` jobs
    /// run at once; freed slots are filled as jobs end (a slow job holds only its own slot),
    /// claiming once at least a quarter of the slots are free so that claims stay batched.
    /// No kind holds more than half of the slots, so that a slow kind (Trust Hub during an
    /// outage, a subscriber timing out) cannot hold back the others.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let shared = &self.shared;
        tracing::info!(worker = %shared.id, "job worker started");
        let concurrency = shared.config.concurrency.max(1) as usize;
        let per_kind = (concurrency / 2).max(1);
        let running: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let slots = Arc::new(Semaphore::new(concurrency));
        let freed = Arc::new(Notify::new());
        let (ended, outcomes) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record_as_they_end(shared.clone(), outcomes));
        let (stop_heartbeat, heartbeat_stopped) = watch::channel(false);
        let heartbeat = tokio::spawn(heartbeat(shared.clone(), heartbeat_stopped));
        let enough = (concurrency / 4).max(1);
        loop {
            if *shutdown.borrow() {
                break;
            }
            let free = slots.available_permits();
            if free < enough {
                tokio::select! {
                    () = freed.notified() => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            // Kinds at their share sit this claim out; the others may each get what is left
            // of theirs, whatever the claim returns.
            let (busy, limit) = {
                let running = lock(&running);
                let busy: Vec<String> = running
                    .iter()
                    .filter(|(_, &n)| n >= per_kind)
                    .map(|(kind, _)| kind.clone())
                    .collect();
                let most = running.values().filter(|&&n| n < per_kind).max().copied();
                (busy, free.min(per_kind - most.unwrap_or(0)))
            };
            let claimed_at = tokio::time::Instant::now();
            let claimed = shared
                .store
                .claim_jobs_except(&shared.id, limit as u32, shared.config.lease, &busy)
                .await;
            match claimed {
                Ok(jobs) => {
                    let full = jobs.len() == limit;
                    for job in jobs {
                        let slot = slots.clone().try_acquire_owned().expect("a slot per claimed job");
                        let (ended, freed, running) = (ended.clone(), freed.clone(), running.clone());
                        let kind = job.kind.clone();
                        *lock(&running).entry(kind.clone()).or_default() += 1;
                        let task = self.start(job, ended);
                        tokio::spawn(async move {
                            task.await;
                            if let Some(n) = lock(&running).get_mut(&kind) {
                                *n -= 1;
                            }
                            drop(slot);
                            freed.notify_one();
                        });
                    }
                    if full {
                        continue;
                    }
                }
                Err(error) => tracing::warn!(%error, "claiming jobs failed; retrying"),
            }
            let woken = tokio::select! {
                () = tokio::time::sleep(shared.config.poll) => false,
                () = shared.wake.notified() => true,
                // A kind left out of the claim may be claimed again once one of its jobs ends.
                () = freed.notified(), if !busy.is_empty() => true,
                _ = shutdown.changed() => false,
            };
            if woken {
                // Under load every group commit wakes the worker: claim at most once per
                // CLAIM_GAP after a claim that emptied the queue, gathering what came meanwhile.
                // (Claims back to back were most of PostgreSQL's work.)
                tokio::select! {
                    () = tokio::time::sleep_until(claimed_at + CLAIM_GAP) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        // Finish the jobs in hand (still renewing their leases) and record their outcomes.
        let _all = slots.acquire_many(concurrency as u32).await;
        let _ = stop_heartbeat.send(true);
        let _ = heartbeat.await;
        drop(ended);
        let _ = recorder.await;
        tracing::info!(worker = %shared.id, "job worker stopped");
    }

    /// Claims one batch of due jobs and runs it to the end, recording outcomes as jobs end;
    /// returns how many ran.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let shared = &self.shared;
        let jobs = shared
            .store
            .claim_jobs(&shared.id, shared.config.concurrency, shared.config.lease)
            .await?;
        let count = jobs.len();
        let (ended, outcomes) = mpsc::unbounded_channel();
        for job in jobs {
            tokio::spawn(self.start(job, ended.clone()));
        }
        drop(ended);
        record_as_they_end(shared.clone(), outcomes).await;
        Ok(count)
    }

    /// The task that runs one job and sends its outcome to be recorded.
    fn start(
        &self,
        job: ClaimedJob,
        ended: mpsc::UnboundedSender<Settlement>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let handler = self.handlers.get(&job.kind).cloned();
        let config = self.shared.config.clone();
        let held = self.shared.held.clone();
        async move {
            let outcome = match &handler {
                Some(handler) => {
                    // A panic in a handler becomes a retryable failure, not a dead worker.
                    let task = {
                        let handler = handler.clone();
                        let job = job.clone();
                        let span =
                            tracing::info_span!("job", id = job.id, kind = %job.kind, attempt = job.attempts);
                        tokio::spawn(tracing::Instrument::instrument(
                            async move { handler.run(&job).await },
                            span,
                        ))
                    };
                    lock(&held).insert(job.id, task.abort_handle());
                    let ran = task.await;
                    lock(&held).remove(&job.id);
                    match ran {
                        Ok(outcome) => outcome,
                        // Stopped by the heartbeat: the job is another worker's now, and
                        // nothing of this run is recorded.
                        Err(e) if e.is_cancelled() => {
                            tracing::warn!(job = job.id, kind = %job.kind, "lease lost: the job was stopped");
                            return;
                        }
                        Err(e) => Err(JobError::Retry {
                            reason: format!("handler panicked: {e}"),
                            after: None,
                        }),
                    }
                }
                None => Err(JobError::Retry {
                    reason: format!("no handler for job kind {:?} in this process", job.kind),
                    after: None,
                }),
            };
            let _ = ended.send(settlement(&config, &job, handler.as_deref(), outcome));
        }
    }
}

/// Renews the leases of the jobs in hand every third of a lease until `stop`. A job the store
/// no longer lists as ours is stopped; so is every job in hand when no renewal has succeeded
/// for a whole lease (the database unreachable: their leases may have run out).
async fn heartbeat(shared: Shared, mut stop: watch::Receiver<bool>) {
    let lease = shared.config.lease;
    let every = (lease / 3).max(Duration::from_millis(50));
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let ids: Vec<i64> = lock(&shared.held).keys().copied().collect();
        if ids.is_empty() {
            renewed = tokio::time::Instant::now();
            continue;
        }
        let lost: Vec<i64> = match shared.store.renew_leases(&shared.id, &ids, lease).await {
            Ok(kept) => {
                renewed = tokio::time::Instant::now();
                let kept: HashSet<i64> = kept.into_iter().collect();
                ids.into_iter().filter(|id| !kept.contains(id)).collect()
            }
            Err(error) if renewed.elapsed() >= lease => {
                tracing::warn!(%error, "leases not renewed for a whole lease: stopping the jobs in hand");
                ids
            }
            Err(error) => {
                tracing::warn!(%error, "renewing leases failed; retrying");
                Vec::new()
            }
        };
        let held = lock(&shared.held);
        for id in lost {
            if let Some(task) = held.get(&id) {
                task.abort();
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records outcomes as jobs end: whatever ended while the previous outcomes were committing
/// goes into the next transaction, so a fast job is never held back by a slow one and many
/// quick jobs cost a few commits, not one each. Returns once every sender is gone.
async fn record_as_they_end(shared: Shared, mut outcomes: mpsc::UnboundedReceiver<Settlement>) {
    let mut batch = Vec::new();
    while outcomes.recv_many(&mut batch, 256).await > 0 {
        shared.record(&batch).await;
        batch.clear();
    }
}

impl Shared {
    /// Records ended jobs in one go; on failure their leases expire and they run again.
    async fn record(&self, settlements: &[Settlement]) {
        match self.store.settle_jobs(&self.id, settlements).await {
            Ok(kept) => {
                for (settlement, kept) in settlements.iter().zip(kept) {
                    if !kept {
                        tracing::warn!(
                            job = settlement.id,
                            "lost the job's lease before finishing; another worker has it"
                        );
                    }
                }
                if settlements.iter().any(|s| !s.follow_ups.is_empty()) {
                    self.wake.notify_one();
                }
            }
            Err(error) => {
                tracing::warn!(%error, jobs = settlements.len(), "recording jobs' outcomes failed; their leases will expire");
            }
        }
    }
}

/// What to record of a job's outcome: done with its follow-ups, another attempt later, or dead.
fn settlement(
    config: &WorkerConfig,
    job: &ClaimedJob,
    handler: Option<&dyn JobHandler>,
    outcome: Result<Vec<NewJob>, JobError>,
) -> Settlement {
    let ended = |state, error: Option<String>, run_at, follow_ups| Settlement {
        id: job.id,
        state,
        error,
        run_at,
        follow_ups,
    };
    let error = match outcome {
        Ok(follow_ups) => {
            tracing::info!(job = job.id, kind = %job.kind, attempts = job.attempts, "job done");
            crate::metrics::job_run(&job.kind, "done");
            return ended(JobState::Done, None, None, follow_ups);
        }
        Err(error) => error,
    };
    let exhausted = handler.is_some_and(|h| job.attempts >= h.max_attempts());
    match (&error, handler) {
        (JobError::Permanent(reason), Some(handler)) | (JobError::Retry { reason, .. }, Some(handler))
            if exhausted || matches!(error, JobError::Permanent(_)) =>
        {
            tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts, %reason, "job dead");
            crate::metrics::job_run(&job.kind, "dead");
            let follow_ups = handler.on_dead(job, reason);
            ended(JobState::Dead, Some(reason.clone()), None, follow_ups)
        }
        _ => {
            let after = match &error {
                JobError::Retry {
                    after: Some(after), ..
                } => (*after).min(config.max_retry_after),
                _ => Duration::ZERO,
            };
            let backoff = handler.and_then(|h| h.backoff()).unwrap_or(config.backoff);
            let delay = backoff.delay(job.attempts).max(after);
            let run_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            tracing::info!(job = job.id, kind = %job.kind, attempts = job.attempts, %error, ?delay, "job will retry");
            crate::metrics::job_run(&job.kind, "retry");
            ended(
                JobState::Queued,
                Some(error.to_string()),
                Some(run_at),
                Vec::new(),
            )
        }
    }
}
