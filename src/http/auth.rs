//! `/v1` requires one of `API_TOKENS` as a bearer token (`crate::state::ApiTokens`).

use super::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;

/// Refuses a request without a valid `Authorization: Bearer` token; an address that keeps
/// presenting wrong ones is answered 429 until its minute ends (`AUTH_FAILURES_PER_MINUTE`).
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let client = state
        .auth_guard()
        .admit(peer, request.headers())
        .map_err(too_many_failures)?;
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    match presented {
        Some(token) if state.api_tokens().accepts(token) => Ok(next.run(request).await),
        Some(_) => {
            state.auth_guard().failed(client);
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "invalid bearer token",
            ))
        }
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authorization: Bearer <token> required (see API_TOKENS)",
        )),
    }
}

/// The answer to an address over its limit of failed checks.
pub fn too_many_failures(wait: std::time::Duration) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_failures",
        "too many failed authentications from this address; try again later",
    )
    .retry_after(wait)
}
