//! What every request handler shares, of the API (`crate::http`) and of the dashboard
//! (`crate::ui`): the store, the verifier, the API tokens, the signature-failure guard.

mod guard;
mod tokens;

pub use guard::{client_addr, FailureGuard, FailureLimiter};
pub use tokens::ApiTokens;

use crate::config::PublicUrl;
use crate::store::DynStore;
use crate::twilio::Verifier;
use std::sync::Arc;
use tokio::sync::Notify;

/// The limiters of failed checks, per client address.
pub struct Guards {
    /// Of callback signatures (`SIGNATURE_FAILURES_PER_MINUTE`).
    pub signatures: FailureGuard,
    /// Of API tokens, on `/v1` and `/ui/login` (`AUTH_FAILURES_PER_MINUTE`).
    pub authentications: FailureGuard,
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    store: DynStore,
    verifier: Verifier,
    /// Subaccounts discovered through the main account (`SUBACCOUNT_DISCOVERY`).
    credentials: crate::twilio::CredentialBook,
    public_url: PublicUrl,
    api_tokens: ApiTokens,
    /// Wakes the job worker when a request enqueued work.
    wake: Arc<Notify>,
    /// `WEBHOOK_ALLOW_PRIVATE`: subscriptions may point at non-public addresses.
    webhook_allow_private: bool,
    /// Throttles addresses that keep failing signature checks.
    guard: FailureGuard,
    /// Throttles addresses that keep presenting wrong API tokens (`/v1`, `/ui/login`).
    auth_guard: FailureGuard,
}

impl AppState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: DynStore,
        verifier: Verifier,
        credentials: crate::twilio::CredentialBook,
        public_url: PublicUrl,
        api_tokens: ApiTokens,
        wake: Arc<Notify>,
        webhook_allow_private: bool,
        guards: Guards,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            verifier,
            credentials,
            public_url,
            api_tokens,
            wake,
            webhook_allow_private,
            guard: guards.signatures,
            auth_guard: guards.authentications,
        }))
    }

    /// The credentials of every account served, subaccounts discovered included.
    pub fn credentials(&self) -> &crate::twilio::CredentialBook {
        &self.0.credentials
    }

    pub fn guard(&self) -> &FailureGuard {
        &self.0.guard
    }

    /// The limiter of failed API-token checks.
    pub fn auth_guard(&self) -> &FailureGuard {
        &self.0.auth_guard
    }

    pub fn webhook_allow_private(&self) -> bool {
        self.0.webhook_allow_private
    }

    /// Tells the job worker that work may be waiting.
    pub fn wake_worker(&self) {
        self.0.wake.notify_one();
    }

    pub fn store(&self) -> &DynStore {
        &self.0.store
    }

    pub fn verifier(&self) -> &Verifier {
        &self.0.verifier
    }

    pub fn public_url(&self) -> &PublicUrl {
        &self.0.public_url
    }

    pub fn api_tokens(&self) -> &ApiTokens {
        &self.0.api_tokens
    }
}
