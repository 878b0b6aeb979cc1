//! The HTTP surface: the status callback, the `/v1` API, health.

mod auth;
mod callback;
mod compliance;
mod deliveries;
mod error;
mod events;
mod health;
mod jobs;
mod openapi;
mod profiles;
mod server;
mod webhooks;

#[doc(hidden)]
pub use callback::fuzzing;
pub use callback::MAX_BODY_BYTES;
pub use error::ApiError;
pub use openapi::ApiDoc;
pub use server::{serve, Limits};

use crate::config::CALLBACK_PATH;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Request};
use axum::routing::post;
use axum::Router;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

/// The service's HTTP routes (the callback, `/v1`, health, the OpenAPI description), to be
/// merged with the dashboard's and finished by `layers`.
pub fn router(state: &AppState) -> Router<AppState> {
    let callback = Router::new()
        .route(CALLBACK_PATH, post(callback::receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .merge(
            Router::new()
                .route(events::EVENTS_PATH, post(events::receive))
                .layer(DefaultBodyLimit::max(events::MAX_EVENTS_BYTES)),
        );
    let prefix = state.public_url().prefix().to_owned();
    // Served under the prefix, and without it for proxies that strip it.
    let callback = if prefix.is_empty() {
        callback
    } else {
        callback.clone().nest(&prefix, callback)
    };
    let api = profiles::router()
        .merge(compliance::router())
        .merge(jobs::router())
        .merge(webhooks::router())
        .merge(deliveries::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        // Answers carry profiles, evaluations and webhook secrets: no cache keeps them.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    Router::new()
        .merge(callback)
        .merge(health::router())
        .route("/openapi.json", axum::routing::get(openapi::openapi_json))
        .nest("/v1", api)
}

/// What wraps every route: a 404 for the rest, request ids, tracing, and the body deadline.
pub fn layers(routes: Router<AppState>, state: AppState, body_read_timeout: std::time::Duration) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    // Under an https PUBLIC_URL, browsers are told to use nothing else (the dashboard's
    // session cookie included); over plain http the header would mean nothing.
    let hsts = state.public_url().is_https().then(|| {
        SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        )
    });
    routes
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
        .layer(tower::util::option_layer(hsts))
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
