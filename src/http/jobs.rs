//! `GET /v1/jobs` and `POST /v1/jobs/{id}/retry`: the job queue, inspectable and revivable.

use super::error::{ApiError, ErrorBody};
use super::profiles::{paging, query_error, ListPage};
use crate::state::AppState;
use crate::store::{JobInfo, JobState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/jobs", get(list))
        .route("/jobs/{id}/retry", post(retry))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// queued, running, done or dead; empty for no filter.
    #[param(pattern = "^(|queued|running|done|dead)$")]
    state: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(ListParams), security(("bearer" = [])),
    responses((status = 200, description = "jobs, newest first", body = ListPage<JobInfo>),
              (status = 400, description = "invalid state or query", body = ErrorBody), (status = 401, description = "no or wrong bearer token", body = ErrorBody)))]
async fn list(
    State(app): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListPage<JobInfo>>, ApiError> {
    let Query(params) = params.map_err(query_error)?;
    let wanted = params.state.filter(|s| !s.is_empty());
    if let Some(wanted) = &wanted {
        if JobState::parse(wanted).is_none() {
            return Err(ApiError::bad_request(
                "invalid_state",
                "state is queued, running, done or dead",
            ));
        }
    }
    let (limit, _) = paging(params.limit, None)?;
    let items = app.store().list_jobs(wanted.as_deref(), limit).await?;
    Ok(Json(ListPage {
        items,
        next_cursor: None,
    }))
}

/// Queues a dead job again with a fresh retry schedule.
#[utoipa::path(post, path = "/v1/jobs/{id}/retry", tag = "jobs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "job id")),
    responses((status = 202, description = "queued again", body = Object),
              (status = 400, description = "not a job id", body = ErrorBody),
              (status = 409, description = "no such dead job", body = ErrorBody), (status = 401, description = "no or wrong bearer token", body = ErrorBody)))]
async fn retry(
    State(app): State<AppState>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = super::error::path_id(id)?;
    if !app.store().revive_job(id).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_dead",
            format!("job {id} does not exist or is not dead"),
        ));
    }
    app.wake_worker();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "state": JobState::Queued.as_str()})),
    ))
}
