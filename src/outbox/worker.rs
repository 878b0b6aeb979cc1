//! The worker loop: claim due jobs under a lease, run them, record the outcome.

use super::{Backoff, Job, JobError, JobHandler, NewJob};
use crate::store::{DynStore, StoreError};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

/// How a worker claims and retries.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at once.
    pub concurrency: u32,
    /// How long a claimed job is ours; a crashed worker's jobs are claimed again after it.
    pub lease: Duration,
    /// How often to look for due jobs when not woken.
    pub poll: Duration,
    pub backoff: Backoff,
    /// The longest `Retry-After` honoured when scheduling a retry.
    pub max_retry_after: Duration,
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
            },
            handlers: HashMap::new(),
        }
    }

    /// Registers the handler of one kind of job.
    pub fn handle(mut self, kind: &str, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.insert(kind.to_owned(), handler);
        self
    }

    /// Runs until `shutdown` turns true, finishing the jobs in hand.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let shared = &self.shared;
        tracing::info!(worker = %shared.id, "job worker started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            match self.run_once().await {
                Ok(0) => {}
                Ok(_) => continue,
                Err(error) => tracing::warn!(%error, "claiming jobs failed; retrying"),
            }
            tokio::select! {
                () = tokio::time::sleep(shared.config.poll) => {}
                () = shared.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(worker = %shared.id, "job worker stopped");
    }

    /// Claims one batch of due jobs and runs it to the end; returns how many ran. Each job
    /// records its own outcome as soon as it ends, so outcomes commit concurrently.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let shared = &self.shared;
        let jobs = shared
            .store
            .claim_jobs(&shared.id, shared.config.concurrency, shared.config.lease)
            .await?;
        let count = jobs.len();
        let mut running = JoinSet::new();
        for job in jobs {
            let handler = self.handlers.get(&job.kind).cloned();
            let shared = shared.clone();
            running.spawn(async move {
                let outcome = match &handler {
                    Some(handler) => {
                        // A panic in a handler becomes a retryable failure, not a dead worker.
                        let task = {
                            let handler = handler.clone();
                            let job = job.clone();
                            let span = tracing::info_span!("job", id = job.id, kind = %job.kind, attempt = job.attempts);
                            tokio::spawn(tracing::Instrument::instrument(async move { handler.run(&job).await }, span))
                        };
                        task.await.unwrap_or_else(|e| {
                            Err(JobError::Retry {
                                reason: format!("handler panicked: {e}"),
                                after: None,
                            })
                        })
                    }
                    None => Err(JobError::Retry {
                        reason: format!("no handler for job kind {:?} in this process", job.kind),
                        after: None,
                    }),
                };
                if let Err(error) = shared.settle(&job, handler.as_deref(), outcome).await {
                    tracing::warn!(%error, job = job.id, "recording a job's outcome failed; its lease will expire");
                }
            });
        }
        while running.join_next().await.is_some() {}
        Ok(count)
    }
}

impl Shared {
    async fn settle(
        &self,
        job: &Job,
        handler: Option<&dyn JobHandler>,
        outcome: Result<Vec<NewJob>, JobError>,
    ) -> Result<(), StoreError> {
        let kept = match outcome {
            Ok(follow_ups) => {
                tracing::info!(job = job.id, kind = %job.kind, attempts = job.attempts, "job done");
                crate::metrics::job_run(&job.kind, "done");
                let kept = self.store.complete_job(job.id, &self.id, &follow_ups).await?;
                if !follow_ups.is_empty() {
                    self.wake.notify_one();
                }
                kept
            }
            Err(error) => {
                let exhausted = handler.is_some_and(|h| job.attempts >= h.max_attempts());
                match (&error, handler) {
                    (JobError::Permanent(reason), Some(handler))
                    | (JobError::Retry { reason, .. }, Some(handler))
                        if exhausted || matches!(error, JobError::Permanent(_)) =>
                    {
                        tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts, %reason, "job dead");
                        crate::metrics::job_run(&job.kind, "dead");
                        let follow_ups = handler.on_dead(job, reason);
                        let kept = self.store.bury_job(job.id, &self.id, reason, &follow_ups).await?;
                        if !follow_ups.is_empty() {
                            self.wake.notify_one();
                        }
                        kept
                    }
                    _ => {
                        let after = match &error {
                            JobError::Retry {
                                after: Some(after), ..
                            } => (*after).min(self.config.max_retry_after),
                            _ => Duration::ZERO,
                        };
                        let backoff = handler.and_then(|h| h.backoff()).unwrap_or(self.config.backoff);
                        let delay = backoff.delay(job.attempts).max(after);
                        let run_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                        tracing::info!(job = job.id, kind = %job.kind, attempts = job.attempts, %error, ?delay, "job will retry");
                        crate::metrics::job_run(&job.kind, "retry");
                        self.store
                            .retry_job_later(job.id, &self.id, &error.to_string(), run_at)
                            .await?
                    }
                }
            }
        };
        if !kept {
            tracing::warn!(
                job = job.id,
                "lost the job's lease before finishing; another worker has it"
            );
        }
        Ok(())
    }
}
