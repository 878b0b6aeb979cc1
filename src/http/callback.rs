//! `POST /twilio/status-callback`: verify, store durably, then answer.

use super::error::{ApiError, ErrorBody};
use crate::domain::callback::{fields_from_json, parse_report, posted_account};
use crate::domain::Source;
use crate::domain::{AccountSid, Decision, StatusReport};
use crate::state::AppState;
use crate::store::{self, CallbackRecord, Recorded};
use crate::twilio::signature::{self, Payload};
use crate::twilio::{Rejection, SignedRequest, Verdict};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, OriginalUri, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};

/// Twilio's status callbacks are small; anything larger is refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
const IDEMPOTENCY_HEADER: &str = "i-twilio-idempotency-token";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Form,
    Json,
}

/// The form fields Twilio sends (others are accepted and kept).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code)]
pub struct CallbackForm {
    account_sid: String,
    bundle_sid: String,
    status: String,
    failure_reason: Option<String>,
}

/// Receives one callback and counts its outcome.
#[utoipa::path(post, path = "/twilio/status-callback", tag = "twilio",
    description = "What Twilio posts (served under PUBLIC_URL's prefix too). Signed with X-Twilio-Signature.",
    request_body(content = CallbackForm, content_type = "application/x-www-form-urlencoded"),
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's signature"),
           ("X-Twilio-Webhooks-Signature-Settings" = Option<String>, Header, description = "key=...,algorithm=HMAC_SHA256 for shared-key signatures"),
           ("I-Twilio-Idempotency-Token" = Option<String>, Header, description = "Twilio's redelivery token")),
    responses((status = 204, description = "stored durably (or already stored)"),
              (status = 400, description = "signed but unusable", body = ErrorBody),
              (status = 403, description = "missing or invalid signature, or an account not served", body = ErrorBody),
              (status = 413, description = "over 64 KiB", body = ErrorBody),
              (status = 408, description = "the body did not arrive within BODY_READ_TIMEOUT_SECS", body = ErrorBody),
              (status = 415, description = "not form-encoded or JSON", body = ErrorBody),
              (status = 429, description = "too many failed signature checks from this address (Retry-After)", body = ErrorBody),
              (status = 503, description = "the database is unavailable; nothing stored", body = ErrorBody)))]
pub async fn receive(
    state: State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    // The limiter is asked only once a check has failed: a callback that verifies is never
    // refused, so forgers sharing Twilio's addresses cannot get Twilio throttled.
    let client = state.guard().client(peer, &headers);
    let result = handle(state, client, uri, headers, body).await;
    let outcome = match &result {
        Ok(response) => response
            .headers()
            .get("x-callback-outcome")
            .and_then(|v| v.to_str().ok())
            .map_or(
                "stored",
                |v| if v == "duplicate" { "duplicate" } else { "stored" },
            ),
        Err(error) => error.code(),
    };
    crate::metrics::callback(outcome);
    result
}

/// The body's kind and its content type's essence, from the raw `Content-Type` value.
fn kind(raw: &str) -> Result<(Kind, String), ApiError> {
    let essence = raw
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Ok((Kind::Form, essence)),
        "application/json" => Ok((Kind::Json, essence)),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "status callbacks are application/x-www-form-urlencoded (or application/json with bodySHA256)",
        )),
    }
}

pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn handle(
    State(state): State<AppState>,
    client: Option<IpAddr>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (kind, content_type) = kind(header(&headers, header::CONTENT_TYPE.as_str()).unwrap_or_default())?;
    let body = body.map_err(|e| unreadable_body(e, "status callbacks", MAX_BODY_BYTES))?;
    let (fields, unreadable) = read_fields(kind, &body);
    // Served at exactly this route, under the prefix or without it.
    let url = state.public_url().route_url(super::CALLBACK_PATH, uri.query());
    let payload = match kind {
        Kind::Form => Payload::Form(&fields),
        Kind::Json => Payload::Body(&body),
    };
    let verdict = verify(
        &state,
        &SignedRequest {
            url: &url,
            signature: header(&headers, signature::SIGNATURE_HEADER),
            settings: header(&headers, signature::SIGNATURE_SETTINGS_HEADER),
            payload,
            account: posted_account(&fields),
        },
    )
    .await?;
    let verified = match verdict.result {
        Ok(verified) => verified,
        Err(rejection) => {
            return Err(refused(
                &state,
                client,
                rejection,
                &verdict.attempts,
                &url,
                "status callback",
            ))
        }
    };
    let mut report = read_report(&fields, unreadable);
    // A callback that names no account is the verifying account's: its follow-ups use that
    // account's credentials, and it fixes the bundle's account.
    if let Ok(report) = &mut report {
        if report.account_sid.is_none() {
            report.account_sid = verified.account.clone();
        }
    }
    let token = header(&headers, IDEMPOTENCY_HEADER)
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let record = CallbackRecord {
        idempotency_token: token.map(str::to_owned),
        body_hash: body_hash(&url, &body),
        account_sid: verified
            .account
            .clone()
            .or_else(|| posted_account(&fields).and_then(|a| AccountSid::parse(a).ok())),
        report,
        content_type,
        fields,
        credential: verified.credential,
        received_at: store::now(),
    };
    // What the answer needs, before the record goes to the store.
    let (problem, status) = match &record.report {
        Ok(report) => (None, Some(report.status.clone())),
        Err(problem) => (Some(problem.clone()), None),
    };
    let recorded = state.store().record_callback(record).await?;
    if let Some(problem) = problem {
        tracing::warn!(%problem, "stored an unusable status callback");
        return Err(ApiError::bad_request("unusable_callback", problem));
    }
    let outcome = match recorded {
        Recorded::Duplicate => "duplicate",
        Recorded::Foreign {
            callback_id,
            ref owner,
        } => {
            // Named in the log only: answers do not say which accounts exist.
            tracing::warn!(callback_id, %owner, "refused a callback for a bundle of another account (kept for inspection)");
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "account_mismatch",
                "this bundle belongs to another account than the one that signed the callback",
            ));
        }
        Recorded::Stored { decision, .. } => {
            if let (Some(status), Some(decision)) = (&status, decision) {
                crate::metrics::transition(status, Source::Callback, decision);
            }
            if decision == Some(Decision::Advance) {
                state.wake_worker();
            }
            "stored"
        }
    };
    tracing::info!(outcome, decision = ?recorded, "status callback");
    Ok((StatusCode::NO_CONTENT, [("x-callback-outcome", outcome)]).into_response())
}

/// Verifies a request as the configured accounts and, when it names an account that is not
/// configured, as a subaccount of the main account learnt from Twilio (`SUBACCOUNT_DISCOVERY`):
/// its token fetched once, and fetched again (rotation) when the signature fails with it.
/// `503` when Twilio cannot be asked now (Twilio retries the callback).
pub(super) async fn verify(state: &AppState, request: &SignedRequest<'_>) -> Result<Verdict, ApiError> {
    let verdict = state.verifier().verify(request);
    if !matches!(verdict.result, Err(Rejection::UnknownAccount(_))) {
        return Ok(verdict);
    }
    let (Some(subaccounts), Some(named)) = (state.credentials().subaccounts(), request.account) else {
        return Ok(verdict);
    };
    let Ok(sid) = AccountSid::parse(named) else {
        return Ok(verdict);
    };
    let unavailable = |error: crate::twilio::TwilioError| {
        tracing::warn!(account = %sid, %error, "could not ask Twilio whether the account is a subaccount");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "account_lookup_failed",
            "the account could not be looked up with Twilio now; try again later",
        )
    };
    let Some(token) = subaccounts.token(sid.as_str()).await.map_err(unavailable)? else {
        return Ok(verdict);
    };
    let first = state.verifier().verify_as(request, &sid, &token);
    if first.result.is_ok() {
        return Ok(first);
    }
    Ok(
        match subaccounts.refresh(sid.as_str()).await.map_err(unavailable)? {
            Some(fresh) => state.verifier().verify_as(request, &sid, &fresh),
            None => first,
        },
    )
}

/// The answer to a request whose signature did not verify: `429` while its address is
/// throttled, else `403`. The limiter is asked only once a check has failed (a request that
/// verifies is never refused, so forgers sharing Twilio's addresses cannot get Twilio
/// throttled), and an account this deployment does not serve is no guess at one of its
/// secrets, so it is not counted.
pub(super) fn refused(
    state: &AppState,
    client: Option<IpAddr>,
    rejection: Rejection,
    attempts: &[impl std::fmt::Display],
    url: &str,
    what: &str,
) -> ApiError {
    if let Some(wait) = state.guard().blocked(client) {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_failures",
            "too many failed signature checks from this address; try again later",
        )
        .retry_after(wait);
    }
    if !matches!(rejection, Rejection::UnknownAccount(_)) {
        state.guard().failed(client);
    }
    let tried: Vec<String> = attempts.iter().map(ToString::to_string).collect();
    tracing::warn!(%rejection, %url, ?tried, "refused a {what}");
    // The reason stays in the log: the answer does not tell a forger which accounts or
    // shared keys exist.
    match rejection {
        Rejection::UnknownAccount(_) => ApiError::new(
            StatusCode::FORBIDDEN,
            "unknown_account",
            format!("the {what}'s account is not served here"),
        ),
        _ => ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_signature",
            "the signature does not verify",
        ),
    }
}

/// 413 over the limit, 408 when the client was too slow to send it, else 400.
pub(super) fn unreadable_body(rejection: BytesRejection, what: &str, limit: usize) -> ApiError {
    let timed_out = std::iter::successors(Some(&rejection as &(dyn std::error::Error + 'static)), |e| {
        e.source()
    })
    .any(|e| e.is::<tower_http::timeout::TimeoutError>());
    let (status, code) = match rejection.status() {
        _ if timed_out => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
        StatusCode::PAYLOAD_TOO_LARGE => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        status => (status, "bad_body"),
    };
    ApiError::new(
        status,
        code,
        format!("{rejection} ({what} are at most {limit} bytes)"),
    )
}

/// The fields a body carries, and why a JSON body could not be read (it is still verified and
/// stored, so that the problem can be seen).
fn read_fields(kind: Kind, body: &[u8]) -> (Vec<(String, String)>, Option<String>) {
    match kind {
        Kind::Form => (url::form_urlencoded::parse(body).into_owned().collect(), None),
        Kind::Json => match fields_from_json(body) {
            Ok(fields) => (fields, None),
            Err(error) => (Vec::new(), Some(error.to_string())),
        },
    }
}

/// The report a verified callback carries, or why it carries none.
fn read_report(fields: &[(String, String)], unreadable: Option<String>) -> Result<StatusReport, String> {
    match unreadable {
        Some(problem) => Err(problem),
        None => parse_report(fields).map_err(|e| e.to_string()),
    }
}

/// What identifies a redelivery that carries no idempotency token.
fn body_hash(url: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(url.as_bytes());
    hash.update([0]);
    hash.update(body);
    let mut text = [0; 64];
    hex::encode_to_slice(hash.finalize(), &mut text).expect("64 hex digits for 32 bytes");
    // hex::encode collects chars one at a time (~1,700 instructions here, callgrind).
    String::from_utf8_lossy(&text).into_owned()
}

/// The receiver's reading of a callback, for the fuzz targets in `fuzz/`; not an API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::domain::StatusReport;

    /// What the receiver reads from a request, before and after the signature is checked.
    #[derive(Debug)]
    pub struct Reading {
        /// The content type's essence, lower-cased.
        pub content_type: String,
        pub json: bool,
        pub fields: Vec<(String, String)>,
        /// The posted `AccountSid`, which picks the tokens to verify with.
        pub account: Option<String>,
        pub report: Result<StatusReport, String>,
    }

    /// Reads a body as `receive` does; `None` where it answers 415.
    pub fn read(content_type: &str, body: &[u8]) -> Option<Reading> {
        let (kind, content_type) = super::kind(content_type).ok()?;
        let (fields, unreadable) = super::read_fields(kind, body);
        let account = crate::domain::callback::posted_account(&fields).map(str::to_owned);
        let report = super::read_report(&fields, unreadable);
        Some(Reading {
            content_type,
            json: kind == super::Kind::Json,
            fields,
            account,
            report,
        })
    }
}
