//! `POST /twilio/events`: an Event Streams webhook sink. Twilio posts CloudEvents as JSON, one
//! event or a batch (an array), signed like any JSON webhook: `X-Twilio-Signature` is the
//! HMAC-SHA1 of the URL it called, which carries `bodySHA256` (the hex SHA-256 of the body),
//! with the account's auth token; the body must hash to it (Twilio's helper libraries'
//! `validateBody` / `ValidateBody`). The account is the one the events name
//! (`data.accountsid`). Stored before the answer; a redelivered event (same `id`) changes
//! nothing; an event type this version does not read is kept and acknowledged.

use super::callback::{header, refused, unreadable_body, verify};
use super::error::{ApiError, ErrorBody};
use crate::domain::compliance::{named_account, parse_events};
use crate::state::AppState;
use crate::store::{self, EventRecorded};
use crate::twilio::signature::{self, Payload};
use crate::twilio::SignedRequest;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, OriginalUri, State};
use axum::http::{header as names, HeaderMap, StatusCode};
use axum::{Extension, Json};
use std::net::SocketAddr;

/// Where Event Streams posts (served under `PUBLIC_URL`'s prefix too).
pub const EVENTS_PATH: &str = "/twilio/events";

/// A batch of events is larger than a callback; anything over this is refused with 413.
pub const MAX_EVENTS_BYTES: usize = 1024 * 1024;

/// What the sink answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Received {
    /// Events stored now.
    stored: usize,
    /// Events stored before (the same `id`).
    duplicates: usize,
}

/// Receives one request of an Event Streams webhook sink.
#[utoipa::path(post, path = "/twilio/events", tag = "twilio",
    description = "An Event Streams webhook sink (served under PUBLIC_URL's prefix too): CloudEvents JSON, one event or an array, signed with X-Twilio-Signature over the URL carrying bodySHA256.",
    request_body(content = Object, content_type = "application/json"),
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's signature"),
           ("bodySHA256" = String, Query, description = "hex SHA-256 of the body, added by Twilio")),
    responses((status = 200, description = "stored durably (or already stored)", body = Received),
              (status = 400, description = "signed but not CloudEvents", body = ErrorBody),
              (status = 403, description = "missing or invalid signature, or an account not served", body = ErrorBody),
              (status = 408, description = "the body did not arrive within BODY_READ_TIMEOUT_SECS", body = ErrorBody),
              (status = 413, description = "over 1 MiB", body = ErrorBody),
              (status = 415, description = "not JSON", body = ErrorBody),
              (status = 429, description = "too many failed signature checks from this address (Retry-After)", body = ErrorBody),
              (status = 503, description = "the database is unavailable; nothing stored", body = ErrorBody)))]
pub async fn receive(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Received>, ApiError> {
    let client = state
        .guard()
        .client(peer.map(|Extension(ConnectInfo(addr))| addr), &headers);
    let json = header(&headers, names::CONTENT_TYPE.as_str())
        .and_then(|raw| raw.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Event Streams posts application/json",
        ));
    }
    let body = body.map_err(|e| unreadable_body(e, "event requests", MAX_EVENTS_BYTES))?;
    let url = state.public_url().route_url(EVENTS_PATH, uri.query());
    let account = named_account(&body);
    let verdict = verify(
        &state,
        &SignedRequest {
            url: &url,
            signature: header(&headers, signature::SIGNATURE_HEADER),
            settings: header(&headers, signature::SIGNATURE_SETTINGS_HEADER),
            payload: Payload::Body(&body),
            account: account.as_deref(),
        },
    )
    .await?;
    let verified = verdict.result.map_err(|rejection| {
        refused(
            &state,
            client,
            rejection,
            &verdict.attempts,
            &url,
            "event request",
        )
    })?;
    let events = parse_events(&body).map_err(|e| ApiError::bad_request("unusable_events", e.to_string()))?;
    let account = verified.account.map(|a| a.to_string()).or(account);
    let recorded = state
        .store()
        .record_events(&events, account.as_deref(), store::now())
        .await?;
    let duplicates = recorded
        .iter()
        .filter(|r| **r == EventRecorded::Duplicate)
        .count();
    let stored = recorded.len() - duplicates;
    if stored > 0 {
        state.wake_worker();
    }
    tracing::info!(stored, duplicates, "event streams request");
    Ok(Json(Received { stored, duplicates }))
}
