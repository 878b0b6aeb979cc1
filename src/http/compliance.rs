//! `GET /v1/brands`, `/v1/campaigns`, `/v1/tollfree-verifications` and one of each: what Event
//! Streams reported about them.

use super::error::{ApiError, ErrorBody};
use super::profiles::{paging, query_error, ListPage};
use crate::domain::compliance::ComplianceKind;
use crate::state::AppState;
use crate::store::{ComplianceDetail, ComplianceObject, ComplianceQuery};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/brands", get(brands))
        .route("/brands/{sid}", get(brand))
        .route("/campaigns", get(campaigns))
        .route("/campaigns/{sid}", get(campaign))
        .route("/tollfree-verifications", get(verifications))
        .route("/tollfree-verifications/{sid}", get(verification))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Twilio's status word, exactly as sent.
    status: Option<String>,
    account_sid: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The object's SID in the path (`BN…`, the campaign SID its events name, `HH…`).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct SidPath {
    sid: String,
}

async fn list(
    state: AppState,
    kind: ComplianceKind,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListPage<ComplianceObject>>, ApiError> {
    let Query(params) = params.map_err(query_error)?;
    let (limit, cursor) = paging(params.limit, params.cursor.as_deref())?;
    let blank = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let query = ComplianceQuery {
        kind,
        status: blank(params.status),
        account_sid: blank(params.account_sid),
        limit,
        cursor,
    };
    let page = state.store().list_compliance(&query).await?;
    Ok(Json(ListPage {
        items: page.items,
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

async fn show(state: AppState, kind: ComplianceKind, sid: &str) -> Result<Json<ComplianceDetail>, ApiError> {
    state
        .store()
        .get_compliance(kind, sid)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no {} {sid} is known", kind.as_str())))
}

macro_rules! routes {
    ($list:ident, $show:ident, $kind:expr, $path:literal, $what:literal) => {
        #[utoipa::path(get, path = concat!("/v1/", $path), tag = "compliance", params(ListParams),
            security(("bearer" = [])),
            responses((status = 200, description = concat!($what, ", most recently changed first"), body = ListPage<ComplianceObject>),
                      (status = 400, description = "invalid limit, cursor or query", body = ErrorBody),
                      (status = 401, description = "no or wrong bearer token", body = ErrorBody)))]
        async fn $list(
            State(state): State<AppState>,
            params: Result<Query<ListParams>, QueryRejection>,
        ) -> Result<Json<ListPage<ComplianceObject>>, ApiError> {
            list(state, $kind, params).await
        }

        #[utoipa::path(get, path = concat!("/v1/", $path, "/{sid}"), tag = "compliance", params(SidPath),
            security(("bearer" = [])),
            responses((status = 200, description = "its status, errors, links and transitions (oldest first)", body = ComplianceDetail),
                      (status = 404, description = "unknown", body = ErrorBody),
                      (status = 401, description = "no or wrong bearer token", body = ErrorBody)))]
        async fn $show(
            State(state): State<AppState>,
            Path(sid): Path<String>,
        ) -> Result<Json<ComplianceDetail>, ApiError> {
            show(state, $kind, &sid).await
        }
    };
}

routes!(brands, brand, ComplianceKind::Brand, "brands", "A2P brands");
routes!(
    campaigns,
    campaign,
    ComplianceKind::Campaign,
    "campaigns",
    "A2P campaigns"
);
routes!(
    verifications,
    verification,
    ComplianceKind::TollfreeVerification,
    "tollfree-verifications",
    "toll-free verifications"
);
