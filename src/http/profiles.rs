//! `GET /v1/profiles` and `GET /v1/profiles/{sid}`.

use super::error::{ApiError, ErrorBody};
use crate::domain::compliance::ComplianceKind;
use crate::domain::{BundleKind, ProfileSid};
use crate::state::AppState;
use crate::store::{ComplianceObject, Cursor, EvaluationRecord, Profile, ProfileDetail, ProfileQuery};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/profiles", get(list))
        .route("/profiles/{sid}", get(show))
        .route("/profiles/{sid}/evaluations", get(evaluations))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    status: Option<String>,
    account_sid: Option<String>,
    /// Only bundles of this kind: `customer_profile`, `trust_product` or `regulatory_bundle`.
    kind: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    cursor: Option<String>,
}

/// A customer profile SID in the path.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct SidPath {
    /// The customer profile SID.
    #[param(pattern = "^BU[0-9a-fA-F]{32}$")]
    sid: String,
}

/// A page of any list: the contract's `{"items", "next_cursor"}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Reads `limit` and `cursor`, refusing values this service would not hand out.
pub fn paging(limit: Option<u32>, cursor: Option<&str>) -> Result<(u32, Option<Cursor>), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let cursor = cursor
        .filter(|c| !c.is_empty())
        .map(|c| {
            Cursor::decode(c)
                .ok_or_else(|| ApiError::bad_request("invalid_cursor", "cursor is not one this API returned"))
        })
        .transpose()?;
    Ok((limit, cursor))
}

pub fn query_error(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_query", rejection.body_text())
}

fn blank_to_none(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

#[utoipa::path(get, path = "/v1/profiles", tag = "profiles", params(ListParams), security(("bearer" = [])),
    responses((status = 200, description = "profiles, most recently changed first", body = ListPage<Profile>),
              (status = 400, description = "invalid limit, cursor, kind or query", body = ErrorBody), (status = 401, description = "no or wrong bearer token", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListPage<Profile>>, ApiError> {
    let Query(params) = params.map_err(query_error)?;
    let (limit, after) = paging(params.limit, params.cursor.as_deref())?;
    let query = ProfileQuery {
        status: blank_to_none(params.status),
        account_sid: blank_to_none(params.account_sid),
        kind: blank_to_none(params.kind).map(|k| kind(&k)).transpose()?,
        limit,
        after,
    };
    let page = state.store().list_profiles(&query).await?;
    Ok(Json(ListPage {
        items: page.items,
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Shown {
    #[serde(flatten)]
    detail: ProfileDetail,
    /// The latest Trust Hub evaluation (fetched on rejection), or `null`.
    evaluation: Option<EvaluationRecord>,
    /// The A2P brands that name it as their customer profile (Event Streams).
    brands: Vec<ComplianceObject>,
    /// Those brands' campaigns.
    campaigns: Vec<ComplianceObject>,
    /// The toll-free verifications that name it.
    tollfree_verifications: Vec<ComplianceObject>,
}

fn kind(raw: &str) -> Result<BundleKind, ApiError> {
    BundleKind::parse(raw).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_kind",
            "kind must be customer_profile, trust_product or regulatory_bundle",
        )
    })
}

fn sid(raw: &str) -> Result<ProfileSid, ApiError> {
    ProfileSid::parse(raw).map_err(|e| ApiError::bad_request("invalid_sid", e.to_string()))
}

#[utoipa::path(get, path = "/v1/profiles/{sid}", tag = "profiles", security(("bearer" = [])),
    params(SidPath),
    responses((status = 200, description = "the profile, its transitions and latest evaluation", body = Shown),
              (status = 400, description = "not a customer profile SID", body = ErrorBody),
              (status = 404, description = "unknown profile", body = ErrorBody), (status = 401, description = "no or wrong bearer token", body = ErrorBody)))]
async fn show(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Json<Shown>, ApiError> {
    let sid = sid(&raw)?;
    let detail = state
        .store()
        .get_profile(&sid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no profile {sid} is known")))?;
    let evaluation = state.store().evaluations(sid.as_str()).await?.into_iter().next();
    let related = state.store().compliance_for_profile(sid.as_str()).await?;
    let of = |kind| related.iter().filter(|o| o.kind == kind).cloned().collect();
    Ok(Json(Shown {
        detail,
        evaluation,
        brands: of(ComplianceKind::Brand),
        campaigns: of(ComplianceKind::Campaign),
        tollfree_verifications: of(ComplianceKind::TollfreeVerification),
    }))
}

/// Every stored evaluation of a profile, newest first (a profile has few: one list).
#[utoipa::path(get, path = "/v1/profiles/{sid}/evaluations", tag = "profiles", security(("bearer" = [])),
    params(SidPath),
    responses((status = 200, description = "every stored evaluation, newest first", body = ListPage<EvaluationRecord>),
              (status = 400, description = "not a customer profile SID", body = ErrorBody),
              (status = 404, description = "unknown profile", body = ErrorBody), (status = 401, description = "no or wrong bearer token", body = ErrorBody)))]
async fn evaluations(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<ListPage<EvaluationRecord>>, ApiError> {
    let sid = sid(&raw)?;
    if state.store().get_profile(&sid).await?.is_none() {
        return Err(ApiError::not_found(format!("no profile {sid} is known")));
    }
    let items = state.store().evaluations(sid.as_str()).await?;
    Ok(Json(ListPage {
        items,
        next_cursor: None,
    }))
}
