//! `/ui/login` and `/ui/logout`: signing in with one of `API_TOKENS`, and out.

use super::csrf;
use super::error::UiError;
use super::layout::{self, Nav};
use super::session::{self, Session, SessionKey};
use crate::state::AppState;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::Utc;
use maud::html;
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct Credentials {
    #[serde(default)]
    token: String,
    next: Option<String>,
}

/// Where to go after signing in: a dashboard path, never another site.
fn destination(next: Option<&str>) -> &str {
    match next {
        Some(next)
            if (next == "/ui" || next.starts_with("/ui/") || next.starts_with("/ui?"))
                && !next.contains(['\\', '\r', '\n']) =>
        {
            next
        }
        _ => "/ui",
    }
}

fn form(next: &str, failed: bool) -> Response {
    let body = html! {
        div.login {
            h1 { "Sign in" }
            @if failed {
                p.alert role="alert" id="login-error" {
                    "That token is not one of this service's API tokens."
                }
            }
            form.login method="post" action="/ui/login" {
                input type="hidden" name="next" value=(next);
                label for="token" { "API token" }
                input #token type="password" name="token" required autocomplete="current-password"
                    autofocus aria-describedby=[failed.then_some("login-error")];
                button type="submit" { "Sign in" }
            }
            p.hint { "Any token listed in API_TOKENS opens the dashboard for eight hours." }
        }
    };
    layout::page("Sign in", Nav::None, None, body)
}

/// The sign-in form, or the dashboard for a viewer signed in already.
pub async fn show(
    State(state): State<AppState>,
    Extension(key): Extension<SessionKey>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Response {
    let next = destination(q.next.as_deref());
    let signed_in = session::cookie(&headers, session::secure(&state))
        .and_then(|v| session::verify(&key, state.api_tokens(), v, Utc::now()))
        .is_some();
    if signed_in {
        return Redirect::to(next).into_response();
    }
    form(next, false)
}

/// Checks the token (in constant time, across every configured token) and opens a session.
pub async fn submit(
    State(state): State<AppState>,
    Extension(key): Extension<SessionKey>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(creds): Form<Credentials>,
) -> Response {
    // An address that keeps trying wrong tokens waits for the rest of its minute.
    let client = match state
        .auth_guard()
        .admit(peer.map(|Extension(ConnectInfo(a))| a), &headers)
    {
        Ok(client) => client,
        Err(wait) => {
            let mut response = form(destination(creds.next.as_deref()), true);
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            let seconds = wait.as_secs().max(1).to_string();
            if let Ok(value) = header::HeaderValue::from_str(&seconds) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
    };
    // No session yet, so no token: a cross-site sign-in (login CSRF) is refused by origin.
    if !csrf::same_site(&state, &headers) {
        return UiError::Forbidden("Sign in from the dashboard's own page.").into_response();
    }
    let next = destination(creds.next.as_deref());
    let token = creds.token.trim();
    if token.is_empty() || !state.api_tokens().accepts(token) {
        state.auth_guard().failed(client);
        tracing::warn!("dashboard: sign-in with an unknown token refused");
        let mut response = form(next, true);
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    }
    let cookie = session::issue(&key, &session::digest_of(token), Utc::now() + session::LIFETIME);
    let mut response = Redirect::to(next).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(Some(&cookie), session::secure(&state)),
    );
    response
}

/// Ends the session in this browser (behind the CSRF guard, like every form).
pub async fn logout(State(state): State<AppState>, Extension(_session): Extension<Session>) -> Response {
    let mut response = Redirect::to("/ui/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(None, session::secure(&state)),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::destination;

    #[test]
    fn only_dashboard_paths_are_destinations() {
        for good in ["/ui", "/ui/profiles?status=draft", "/ui?x=1"] {
            assert_eq!(destination(Some(good)), good);
        }
        for bad in [
            "//evil.example",
            "https://evil.example/ui",
            "/uix",
            "/ui/\\evil",
            "",
            "/v1/profiles",
        ] {
            assert_eq!(destination(Some(bad)), "/ui", "{bad}");
        }
        assert_eq!(destination(None), "/ui");
    }
}
