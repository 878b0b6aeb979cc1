//! The HTTP surface: the status callback, the `/v1` API, health.

mod auth;
mod callback;
mod deliveries;
mod error;
mod health;
mod jobs;
mod openapi;
mod profiles;
mod ratelimit;
mod server;
mod webhooks;

pub use auth::ApiTokens;
#[doc(hidden)]
pub use callback::fuzzing;
pub use callback::MAX_BODY_BYTES;
pub use error::ApiError;
pub use openapi::ApiDoc;
pub use ratelimit::SignatureGuard;
pub use server::Limits;

use crate::config::PublicUrl;
use crate::store::DynStore;
use crate::twilio::Verifier;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::post;
use axum::Router;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

/// Where Twilio posts status changes (under `PUBLIC_URL`'s prefix, if any).
pub const CALLBACK_PATH: &str = "/twilio/status-callback";

/// What every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    store: DynStore,
    verifier: Verifier,
    public_url: PublicUrl,
    api_tokens: ApiTokens,
    /// Wakes the job worker when a request enqueued work.
    wake: Arc<Notify>,
    /// `WEBHOOK_ALLOW_PRIVATE`: subscriptions may point at non-public addresses.
    webhook_allow_private: bool,
    /// Throttles addresses that keep failing signature checks.
    guard: SignatureGuard,
}

impl AppState {
    pub fn new(
        store: DynStore,
        verifier: Verifier,
        public_url: PublicUrl,
        api_tokens: ApiTokens,
        wake: Arc<Notify>,
        webhook_allow_private: bool,
        guard: SignatureGuard,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            verifier,
            public_url,
            api_tokens,
            wake,
            webhook_allow_private,
            guard,
        }))
    }

    pub fn guard(&self) -> &SignatureGuard {
        &self.0.guard
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

/// Every route of the service; request bodies must arrive within `body_read_timeout`.
pub fn router(state: AppState, body_read_timeout: std::time::Duration) -> Router {
    let callback = Router::new()
        .route(CALLBACK_PATH, post(callback::receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    let prefix = state.public_url().prefix().to_owned();
    // Served under the prefix, and without it for proxies that strip it.
    let callback = if prefix.is_empty() {
        callback
    } else {
        callback.clone().nest(&prefix, callback)
    };
    let api = profiles::router()
        .merge(jobs::router())
        .merge(webhooks::router())
        .merge(deliveries::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(callback)
        .merge(health::router())
        .route("/openapi.json", axum::routing::get(openapi::openapi_json))
        .nest("/v1", api)
        .merge(crate::ui::router(state.clone()))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, RandomRequestId))
        .layer(RequestBodyTimeoutLayer::new(body_read_timeout))
}

/// Request ids as random (v4) UUIDs from the thread's generator: tower-http's `MakeRequestUuid`
/// asks the kernel for each one (a `getrandom` call per request). Written by `uuid` into a
/// buffer: two `format!`s were ~2,900 instructions a request (callgrind).
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = uuid::Uuid::encode_buffer();
        let text = id.hyphenated().encode_lower(&mut text);
        axum::http::HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve(
        listener,
        router(state, limits.body_read_timeout),
        limits,
        shutdown,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct_v4_uuids() {
        let request = Request::new(());
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|_| {
                let id = RandomRequestId.make_request_id(&request).unwrap();
                id.header_value().to_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            let parts: Vec<&str> = id.split('-').collect();
            let lengths: Vec<usize> = parts.iter().map(|p| p.len()).collect();
            assert_eq!(lengths, [8, 4, 4, 4, 12], "{id}");
            assert!(parts[2].starts_with('4'), "version 4: {id}");
            assert!(
                matches!(&parts[3][..1], "8" | "9" | "a" | "b"),
                "RFC 4122 variant: {id}"
            );
            assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()), "{id}");
        }
    }
}
