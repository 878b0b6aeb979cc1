//! The dashboard's errors, answered as small HTML pages; causes of 5xx are logged, not shown.

use super::layout;
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("the database is unavailable")]
    Store(#[from] StoreError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(&'static str),
}

impl UiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let message = match &self {
            Self::Store(error) => {
                tracing::error!(%error, "dashboard: store failed");
                "The database is unavailable; try again in a moment.".to_owned()
            }
            other => other.to_string(),
        };
        let status = self.status();
        let body = html! {
            h1 { (status.canonical_reason().unwrap_or("Error")) }
            p role="alert" { (message) }
            p { a href="/ui" { "Back to the overview" } }
        };
        let mut response = layout::page(
            status.canonical_reason().unwrap_or("Error"),
            layout::Nav::None,
            None,
            body,
        );
        *response.status_mut() = status;
        response
    }
}
