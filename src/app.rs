//! Assembles the service from its configuration; tests start it exactly as `serve` does.

use crate::config::Config;
use crate::http::{self, ApiTokens, AppState};
use crate::store;
use crate::twilio::Verifier;
use anyhow::Context as _;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// A service ready to run: migrated, listening.
pub struct Application {
    state: AppState,
    listener: TcpListener,
}

impl Application {
    /// Checks the configuration, opens and migrates the database, binds `LISTEN_ADDR`.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let public_url = config.public_url()?;
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
        let store = store::connect(&config.database_url, config.sqlite_synchronous)
            .await
            .context("DATABASE_URL: cannot open the database")?;
        store.migrate().await.context("applying migrations")?;
        let addr = config.listen_addr()?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("LISTEN_ADDR: cannot listen on {addr}"))?;
        let state = AppState::new(store, verifier, public_url, api_tokens);
        Ok(Self { state, listener })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown`, finishes in-flight requests, then closes the database.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let store = self.state.store().clone();
        tracing::info!(addr = %self.listener.local_addr()?, "serving");
        http::serve(self.listener, self.state, shutdown).await?;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
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
