//! CSRF defences for every form that changes something: the session's CSRF token as a hidden
//! field, compared in constant time, and, when the browser says where a request comes from
//! (`Sec-Fetch-Site`, `Origin`), nothing but this site. `SameSite=Strict` on the cookie is a
//! third line, but not one to rely on alone (older browsers, same-site subdomains).

use super::error::UiError;
use super::session::Session;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup};
use subtle::ConstantTimeEq;

/// The hidden field that carries the token.
pub const FIELD: &str = "csrf";
/// Dashboard forms carry a token and an id or two: anything larger is not one of ours.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// The hidden field of a form that changes something.
pub fn field(session: &Session) -> Markup {
    html! { input type="hidden" name=(FIELD) value=(session.csrf_token()); }
}

/// `PUBLIC_URL`'s origin: the site's name when a proxy rewrites `Host`.
fn public_origin(state: &AppState) -> Option<String> {
    let url = url::Url::parse(&state.public_url().callback_url()).ok()?;
    Some(url.origin().ascii_serialization())
}

/// Whether the browser's own headers place the request on this site. Absent headers say
/// nothing (older browsers, scripts): the token still guards those requests.
pub fn same_site(state: &AppState, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        if site.as_bytes() != b"same-origin" {
            return false;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let same_host = matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h));
    same_host || public_origin(state).as_deref() == Some(origin)
}

/// Refuses (403) a request that changes something unless it carries this session's token and
/// comes from this site; the body is read (bounded) and handed on unchanged.
pub async fn guard(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    if !same_site(&state, request.headers()) {
        tracing::warn!(path = %request.uri().path(), "dashboard: cross-site request refused");
        return UiError::Forbidden("This request did not come from the dashboard itself.").into_response();
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return UiError::BadRequest("That form is too large.".into()).into_response();
    };
    let presented = url::form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == FIELD)
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    if !bool::from(presented.as_bytes().ct_eq(session.csrf_token().as_bytes())) {
        tracing::warn!(path = %parts.uri.path(), "dashboard: missing or wrong CSRF token");
        return UiError::Forbidden(
            "This form has expired or was not sent by the dashboard: reload the page and try again.",
        )
        .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}
