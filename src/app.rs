//! Assembles the service from its configuration; tests start it exactly as `serve` does.

use crate::config::Config;
use crate::http;
use crate::queue::Worker;
use crate::state::{ApiTokens, AppState, FailureGuard, Guards};
use crate::store;
use crate::twilio::Verifier;
use crate::ui::session::SessionKey;
use anyhow::Context as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

/// A service ready to run: migrated, listening, its job worker built.
pub struct Application {
    /// The SQLite database's `ServeLock`, held while this application lives.
    _lock: Option<store::ServeLock>,
    state: AppState,
    limits: http::Limits,
    listener: TcpListener,
    worker: Worker,
    sync_interval: Option<Duration>,
    /// `RETENTION_DAYS`, unless 0 (everything kept).
    retention_days: Option<u32>,
    /// `EXPIRY_ALERT_DAYS` is not 0: approvals' ends are checked hourly.
    expiry_alerts: bool,
    session_key: SessionKey,
}

impl Application {
    /// Checks the configuration, opens and migrates the database, binds `LISTEN_ADDR`.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let public_url = config.public_url()?;
        crate::metrics::handle();
        let verifier = Verifier::from_config(config);
        if verifier.accounts().is_empty() {
            anyhow::bail!(
                "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: required (or [[accounts]] in the configuration file): \
                 without an account no callback can be verified"
            );
        }
        let api_tokens = ApiTokens::new(&config.api_tokens).map_err(anyhow::Error::msg)?;
        if config.api_tokens.is_empty() {
            tracing::warn!("API_TOKENS is empty: /v1 refuses every request");
        }
        // One process serves a SQLite file: held until this process ends.
        let lock = if config.database_url.starts_with("sqlite:") {
            Some(store::ServeLock::acquire(&config.database_url).context("DATABASE_URL")?)
        } else {
            None
        };
        let store = store::connect(&config.database_url, config.sqlite_synchronous)
            .await
            .context("DATABASE_URL: cannot open the database")?;
        store.migrate().await.context("applying migrations")?;
        let session_key = SessionKey::load(&*store)
            .await
            .context("the dashboard's session secret")?;
        if lock.is_some() {
            // Only a dead predecessor can have left jobs running: theirs now, not after
            // their leases (JOB_LEASE_SECS) run out.
            let reclaimed = store.reclaim_running_jobs().await.context("reclaiming jobs")?;
            if reclaimed > 0 {
                tracing::info!(reclaimed, "took back the jobs a previous process left running");
            }
        }
        let addr = config.listen_addr()?;
        let listener = listen(addr).with_context(|| format!("LISTEN_ADDR: cannot listen on {addr}"))?;
        let wake = Arc::new(Notify::new());
        let credentials = crate::twilio::CredentialBook::from_config(config);
        let worker = crate::jobs::worker(config, store.clone(), wake.clone(), &credentials)?;
        let state = AppState::new(
            store,
            verifier,
            credentials,
            public_url,
            api_tokens,
            wake,
            config.webhook_allow_private,
            Guards {
                signatures: FailureGuard::new(
                    config.signature_failures_per_minute,
                    config.client_ip_header.as_deref(),
                )
                .map_err(anyhow::Error::msg)?,
                authentications: FailureGuard::new(
                    config.auth_failures_per_minute,
                    config.client_ip_header.as_deref(),
                )
                .map_err(anyhow::Error::msg)?,
            },
        );
        let sync_interval =
            (config.sync_interval_secs > 0).then(|| Duration::from_secs(config.sync_interval_secs));
        Ok(Self {
            _lock: lock,
            state,
            limits: http::Limits::from_config(config),
            listener,
            worker,
            sync_interval,
            retention_days: (config.retention_days > 0).then_some(config.retention_days),
            expiry_alerts: config.expiry_alert_days > 0,
            session_key,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown`, finishes in-flight requests and the jobs in hand, then closes
    /// the database.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let store = self.state.store().clone();
        let (stop, stopped) = watch::channel(false);
        let worker = tokio::spawn(self.worker.run(stopped.clone()));
        if let Some(interval) = self.sync_interval {
            let sync = move |now| crate::jobs::sync::periodic(interval.as_secs(), now);
            tokio::spawn(enqueue_every(self.state.clone(), interval, stopped.clone(), sync));
        }
        if let Some(days) = self.retention_days {
            let interval = Duration::from_secs(crate::jobs::retention::INTERVAL_SECS);
            let sweep = move |now| crate::jobs::retention::periodic(days, now);
            tokio::spawn(enqueue_every(
                self.state.clone(),
                interval,
                stopped.clone(),
                sweep,
            ));
        }
        if self.expiry_alerts {
            let interval = Duration::from_secs(crate::jobs::expiry::INTERVAL_SECS);
            // The first check is this process's own (a restart checks at once, whatever the
            // hour's check found); the hourly ones are shared by the replicas.
            let started = std::sync::atomic::AtomicBool::new(false);
            let check = move |now| {
                if started.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    crate::jobs::expiry::periodic(now)
                } else {
                    crate::jobs::expiry::now_job(now)
                }
            };
            tokio::spawn(enqueue_every(self.state.clone(), interval, stopped, check));
        }
        let shutdown = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        tracing::info!(addr = %self.listener.local_addr()?, "serving");
        let app = router(self.state, self.session_key, self.limits.body_read_timeout);
        let served = http::serve(self.listener, app, self.limits, shutdown).await;
        worker.await.context("the job worker failed")?;
        served?;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Every route of the service: the API's and the dashboard's, under the same layers.
pub fn router(state: AppState, session_key: SessionKey, body_read_timeout: Duration) -> axum::Router {
    let routes = http::router(&state).merge(crate::ui::router(state.clone(), session_key));
    http::layers(routes, state, body_read_timeout)
}

/// Binds with a deep accept backlog: a burst of callbacks (or connections beyond
/// `MAX_CONNECTIONS`) waits there instead of being dropped by the kernel.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Enqueues a periodic job (`sync`, `retention`) every interval, the first at once, until
/// shutdown. Its key names the interval, so that of the replicas' copies one runs.
async fn enqueue_every(
    state: AppState,
    interval: Duration,
    mut stopped: watch::Receiver<bool>,
    job: impl Fn(chrono::DateTime<chrono::Utc>) -> store::NewJob + Send + 'static,
) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.changed() => return,
        }
        let job = job(chrono::Utc::now());
        match state.store().enqueue_jobs(std::slice::from_ref(&job)).await {
            Ok(()) => state.wake_worker(),
            Err(error) => tracing::warn!(%error, kind = job.kind, "could not enqueue a periodic job"),
        }
    }
}

/// Registers SIGTERM and SIGINT handlers now (so that a signal arriving before the server
/// polls the future is not lost to the default action) and completes on the first of them.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = interrupt.recv() => {},
        }
        tracing::info!("shutdown requested: finishing in-flight work");
    })
}
