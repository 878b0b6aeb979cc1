//! `POST/GET /v1/webhooks`, `DELETE /v1/webhooks/{id}`: outbound webhook subscriptions.

use super::error::{ApiError, ErrorBody};
use super::profiles::ListPage;
use crate::notify::event::EVENT_TYPES;
use crate::notify::{signing, ssrf};
use crate::state::AppState;
use crate::store::Webhook;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list).post(create))
        .route("/webhooks/{id}", delete(remove))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NewWebhook {
    /// An http(s) URL; it must resolve to a public address unless WEBHOOK_ALLOW_PRIVATE=true.
    #[schema(format = "uri", min_length = 1)]
    url: String,
    /// Event types to deliver; all when absent or empty.
    #[serde(default)]
    #[schema(value_type = Vec<EventType>, inline)]
    events: Vec<String>,
    description: Option<String>,
}

/// The event types a subscription may ask for.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
enum EventType {
    #[serde(rename = "profile.status_changed")]
    StatusChanged,
    #[serde(rename = "profile.expiring")]
    Expiring,
    #[serde(rename = "brand.status_changed")]
    BrandStatusChanged,
    #[serde(rename = "campaign.status_changed")]
    CampaignStatusChanged,
    #[serde(rename = "tollfree_verification.status_changed")]
    TollfreeVerificationStatusChanged,
}

/// A subscription as created: the only time its secret is shown.
#[derive(Serialize, utoipa::ToSchema)]
struct Created {
    #[serde(flatten)]
    webhook: Webhook,
    secret: String,
}

/// Refuses URLs that are not http(s), that carry credentials, or that point at non-public
/// addresses (unless allowed). A name that does not resolve now is accepted: every delivery
/// checks again.
async fn check_url(raw: &str, allow_private: bool) -> Result<(), ApiError> {
    let refuse = |message: String| ApiError::bad_request("invalid_url", message);
    let url = url::Url::parse(raw).map_err(|e| refuse(format!("{raw:?} is not a URL: {e}")))?;
    // They would be stored, listed by GET /v1/webhooks and shown on the dashboard; every
    // delivery is signed (`webhook-signature`) for the receiver to check instead.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            "a webhook URL must not carry credentials (user:password@): verify the \
             webhook-signature header instead, or put a token in the path"
                .into(),
        ));
    }
    ssrf::check_url(&url, allow_private).map_err(refuse)?;
    if let (Some(url::Host::Domain(host)), false) = (url.host(), allow_private) {
        if let Ok(addrs) = tokio::net::lookup_host((host, 0)).await {
            let addrs: Vec<_> = addrs.collect();
            if !addrs.is_empty() && addrs.iter().all(|a| !ssrf::is_public(a.ip())) {
                return Err(refuse(format!(
                    "{host} resolves only to non-public addresses (set WEBHOOK_ALLOW_PRIVATE=true to allow them)"
                )));
            }
        }
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = NewWebhook,
    responses((status = 201, description = "created; the secret is shown only here", body = Created),
              (status = 400, description = "invalid URL, events or body", body = ErrorBody), (status = 401, description = "no or wrong bearer token", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    body: Result<Json<NewWebhook>, JsonRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let Json(body) = body.map_err(|e| ApiError::bad_request("invalid_body", e.body_text()))?;
    check_url(&body.url, state.webhook_allow_private()).await?;
    if let Some(unknown) = body.events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
        return Err(ApiError::bad_request(
            "invalid_events",
            format!(
                "unknown event type {unknown:?}; known: {}",
                EVENT_TYPES.join(", ")
            ),
        ));
    }
    let now = crate::store::now();
    let secret = signing::new_secret();
    let webhook = Webhook {
        id: format!("wh_{:016x}{:08x}", rand::random::<u64>(), rand::random::<u32>()),
        url: body.url,
        events: body.events,
        description: body.description,
        secret: secret.clone(),
        enabled: true,
        disabled_reason: None,
        created_at: now,
        updated_at: now,
    };
    state.store().create_webhook(&webhook).await?;
    Ok((StatusCode::CREATED, Json(Created { webhook, secret })))
}

#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, description = "subscriptions, without secrets", body = ListPage<Webhook>), (status = 401, description = "no or wrong bearer token", body = ErrorBody)))]
async fn list(State(state): State<AppState>) -> Result<Json<ListPage<Webhook>>, ApiError> {
    let items = state.store().list_webhooks().await?;
    Ok(Json(ListPage {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "subscription id (wh_...)")),
    responses((status = 204, description = "removed"), (status = 404, description = "unknown subscription", body = ErrorBody), (status = 401, description = "no or wrong bearer token", body = ErrorBody)))]
async fn remove(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if state.store().delete_webhook(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no webhook {id}")))
    }
}
