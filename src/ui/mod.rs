//! The dashboard: server-rendered HTML under `/ui` for people, next to the `/v1` API for
//! programs. Signing in takes one of `API_TOKENS`; everything else needs the session that
//! opens, and every form that changes something a CSRF token.

mod csrf;
mod customer;
mod error;
mod layout;
mod login;
mod overview;
mod profile;
mod profiles;
pub mod session;
mod timeline;
mod webhooks;

use crate::state::AppState;
use axum::middleware::from_fn_with_state;
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::{Extension, Router};
use session::SessionKey;

/// Every `/ui` route, to be merged into the service's router; sessions are signed with `key`.
pub fn router(state: AppState, key: SessionKey) -> Router<AppState> {
    // Layers run outside in: the session check first, then the CSRF guard on forms.
    let private = Router::new()
        .route("/", get(overview::show))
        .route("/profiles", get(profiles::list))
        .route("/profiles/{sid}", get(profile::show))
        .route("/profiles/{sid}/refetch", post(profile::refetch))
        .route("/profiles/{sid}/sync", post(profile::sync))
        .route("/webhooks", get(webhooks::show))
        .route("/deliveries/{id}/replay", post(webhooks::replay))
        .route("/logout", post(login::logout))
        .fallback(|| async { error::UiError::NotFound("There is no such page.".into()) })
        .layer(from_fn_with_state(state.clone(), csrf::guard))
        .layer(from_fn_with_state(state, session::require));
    let ui = Router::new()
        .route("/login", get(login::show).post(login::submit))
        .merge(private)
        .layer(Extension(key));
    // `nest` matches `/ui` but not `/ui/`, which people type too.
    Router::new()
        .nest("/ui", ui)
        .route("/ui/", get(|| async { Redirect::permanent("/ui") }))
}
