//! Liveness, readiness and metrics: what is recorded (`crate::metrics`), then the queue's
//! gauges and each table's rows as the database sees them now (so every replica reports the
//! shared database, and retention's effect shows).

use crate::state::AppState;
use crate::store::DynStore;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive", body = Object)))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "the database answers", body = Object),
              (status = 503, description = "the database does not answer", body = Object)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.store().ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(error) => {
            tracing::warn!(%error, "not ready: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "reason": "database unreachable"})),
            )
        }
    }
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let body = render(state.store()).await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// The text exposition: recorded metrics, then the queue as the database sees it now.
async fn render(store: &DynStore) -> String {
    let mut out = crate::metrics::handle().render();
    match store.job_counts().await {
        Ok(counts) => {
            out.push_str("# HELP trusthub_jobs Jobs by kind and state (done jobs are not counted).\n# TYPE trusthub_jobs gauge\n");
            for c in &counts {
                out.push_str(&format!(
                    "trusthub_jobs{{kind=\"{}\",state=\"{}\"}} {}\n",
                    c.kind, c.state, c.count
                ));
            }
            out.push_str(
                "# HELP trusthub_job_oldest_age_seconds Age of the oldest due job by kind and state.\n# TYPE trusthub_job_oldest_age_seconds gauge\n",
            );
            let now = chrono::Utc::now();
            for c in &counts {
                let age = (now - c.oldest).num_milliseconds().max(0) as f64 / 1000.0;
                out.push_str(&format!(
                    "trusthub_job_oldest_age_seconds{{kind=\"{}\",state=\"{}\"}} {age}\n",
                    c.kind, c.state
                ));
            }
            out.push_str("# TYPE trusthub_database_up gauge\ntrusthub_database_up 1\n");
        }
        Err(error) => {
            tracing::warn!(%error, "metrics: cannot read the queue");
            out.push_str("# TYPE trusthub_database_up gauge\ntrusthub_database_up 0\n");
        }
    }
    // Exact counts (a scan of each table, read off the writer's path): estimates would not
    // show a sweep's effect when it is small.
    match store.row_counts().await {
        Ok(counts) => {
            out.push_str(
                "# HELP trusthub_table_rows Rows in each table.\n# TYPE trusthub_table_rows gauge\n",
            );
            for (table, rows) in counts {
                out.push_str(&format!("trusthub_table_rows{{table=\"{table}\"}} {rows}\n"));
            }
        }
        Err(error) => tracing::warn!(%error, "metrics: cannot count the tables' rows"),
    }
    out
}
