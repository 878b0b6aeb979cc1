//! `GET /v1/deliveries`, `GET /v1/deliveries/{id}`, `POST /v1/deliveries/{id}/retry`: every
//! webhook and email delivery with its outcome, and replay.

use super::error::{ApiError, ErrorBody};
use super::profiles::{query_error, ListPage, DEFAULT_LIMIT, MAX_LIMIT};
use crate::state::AppState;
use crate::store::{Attempt, Delivery, DeliveryQuery, DeliveryStatus};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/deliveries", get(list))
        .route("/deliveries/{id}", get(show))
        .route("/deliveries/{id}/retry", post(retry))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// pending, delivered, failed, dead or cancelled; empty for no filter.
    #[param(pattern = "^(|pending|delivered|failed|dead|cancelled)$")]
    status: Option<String>,
    webhook_id: Option<String>,
    profile_sid: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    cursor: Option<String>,
}

fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("d{id}"))
}

fn decode_cursor(raw: &str) -> Option<i64> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    text.strip_prefix('d')?.parse().ok()
}

#[utoipa::path(get, path = "/v1/deliveries", tag = "deliveries", params(ListParams), security(("bearer" = [])),
    responses((status = 200, description = "webhook and email deliveries, newest first", body = ListPage<Delivery>),
              (status = 400, description = "invalid status, limit, cursor or query", body = ErrorBody), (status = 401, description = "no or wrong bearer token", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListPage<Delivery>>, ApiError> {
    let Query(params) = params.map_err(query_error)?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let status = params.status.filter(|s| !s.is_empty());
    if let Some(status) = &status {
        if DeliveryStatus::parse(status).is_none() {
            let all: Vec<&str> = DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect();
            return Err(ApiError::bad_request(
                "invalid_status",
                format!("status is one of {}", all.join(", ")),
            ));
        }
    }
    let before_id =
        match params.cursor.filter(|c| !c.is_empty()) {
            Some(raw) => Some(decode_cursor(&raw).ok_or_else(|| {
                ApiError::bad_request("invalid_cursor", "cursor is not one this API returned")
            })?),
            None => None,
        };
    let query = DeliveryQuery {
        status,
        webhook_id: params.webhook_id.filter(|s| !s.is_empty()),
        profile_sid: params.profile_sid.filter(|s| !s.is_empty()),
        limit: limit + 1,
        before_id,
    };
    let mut items = state.store().list_deliveries(&query).await?;
    let next_cursor = (items.len() > limit as usize).then(|| {
        items.truncate(limit as usize);
        encode_cursor(items.last().expect("limit is at least 1").id)
    });
    Ok(Json(ListPage { items, next_cursor }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Shown {
    #[serde(flatten)]
    delivery: Delivery,
    attempt_log: Vec<Attempt>,
}

#[utoipa::path(get, path = "/v1/deliveries/{id}", tag = "deliveries", security(("bearer" = [])),
    params(("id" = i64, Path, description = "delivery id")),
    responses((status = 200, description = "the delivery and every attempt", body = Shown),
              (status = 400, description = "not a delivery id", body = ErrorBody),
              (status = 404, description = "unknown delivery", body = ErrorBody), (status = 401, description = "no or wrong bearer token", body = ErrorBody)))]
async fn show(
    State(state): State<AppState>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<Json<Shown>, ApiError> {
    let id = super::error::path_id(id)?;
    let delivery = state
        .store()
        .get_delivery(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no delivery {id}")))?;
    let attempt_log = state.store().attempts(id).await?;
    Ok(Json(Shown {
        delivery,
        attempt_log,
    }))
}

/// Sends a delivery again (with the same `webhook-id`), on a fresh retry schedule.
#[utoipa::path(post, path = "/v1/deliveries/{id}/retry", tag = "deliveries", security(("bearer" = [])),
    params(("id" = i64, Path, description = "delivery id")),
    responses((status = 202, description = "queued again (same webhook-id)", body = Object),
              (status = 400, description = "not a delivery id", body = ErrorBody),
              (status = 404, description = "unknown delivery", body = ErrorBody), (status = 401, description = "no or wrong bearer token", body = ErrorBody)))]
async fn retry(
    State(state): State<AppState>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = super::error::path_id(id)?;
    if !state.store().replay_delivery(id).await? {
        return Err(ApiError::not_found(format!("no delivery {id}")));
    }
    state.wake_worker();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "status": DeliveryStatus::Pending.as_str()})),
    ))
}
