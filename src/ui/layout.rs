//! The page shell every dashboard page shares, and the small pieces pages are built from.
//! The style sheet and the one script are compiled in and inlined; the Content-Security-Policy
//! allows exactly those (by hash) and nothing else, so injected markup could not run anyway.

use super::csrf;
use super::session::Session;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const STYLE: &str = include_str!("assets/dashboard.css");
const SCRIPT: &str = include_str!("assets/localtime.js");

static CSP: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = |text: &str| STANDARD.encode(Sha256::digest(text.as_bytes()));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{}'; script-src 'sha256-{}'; img-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        hash(STYLE),
        hash(SCRIPT)
    );
    HeaderValue::from_str(&policy).expect("the policy is ASCII")
});

/// Which main section a page belongs to (marked in the navigation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Profiles,
    Webhooks,
    None,
}

/// A whole page: the navigation and sign-out form when signed in, `main` inside.
pub fn page(title: &str, nav: Nav, session: Option<&Session>, main: Markup) -> Response {
    let link = |href: &str, label: &str, this: Nav| {
        html! { li { a href=(href) aria-current=[(nav == this).then_some("page")] { (label) } } }
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) " · trusthub-hooks" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "trusthub-hooks" }
                    @if let Some(session) = session {
                        nav aria-label="Main" {
                            ul {
                                (link("/ui", "Overview", Nav::Overview))
                                (link("/ui/profiles", "Profiles", Nav::Profiles))
                                (link("/ui/webhooks", "Webhooks & deliveries", Nav::Webhooks))
                            }
                        }
                        form method="post" action="/ui/logout" {
                            (csrf::field(session))
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main { (main) }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    let mut response = markup.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, CSP.clone());
    // Pages show live data and are for signed-in eyes only: never cached, never framed.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// A moment, in UTC for the server and localised by the script for the viewer.
pub fn time(at: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(at.to_rfc3339_opts(SecondsFormat::Secs, true)) {
            (at.format("%Y-%m-%d %H:%M UTC"))
        }
    }
}

/// How long, roughly: the two largest units.
pub fn duration(span: chrono::Duration) -> String {
    let minutes = span.num_minutes().max(0);
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours, mins) {
        (0, 0, 0) => "under a minute".to_owned(),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// Words for Twilio's profile statuses.
pub fn status_label(status: &str) -> String {
    match status {
        "draft" => "Draft".into(),
        "pending-review" => "Pending review".into(),
        "in-review" => "In review".into(),
        "provisionally-approved" => "Provisionally approved".into(),
        "twilio-rejected" => "Rejected".into(),
        "twilio-approved" => "Approved".into(),
        other => format!("{other} (unknown status)"),
    }
}

/// A status (of a profile, delivery or subscription) as a coloured badge with its words.
pub fn badge(status: &str) -> Markup {
    // Only known names become classes: a status from outside must not reach an attribute
    // unchecked, even escaped.
    const KNOWN: [&str; 13] = [
        "draft",
        "pending-review",
        "in-review",
        "provisionally-approved",
        "twilio-rejected",
        "twilio-approved",
        "pending",
        "delivered",
        "failed",
        "dead",
        "cancelled",
        "active",
        "disabled",
    ];
    let class = KNOWN.iter().find(|k| **k == status).copied().unwrap_or("unknown");
    let label = match status {
        "pending" | "delivered" | "failed" | "dead" | "cancelled" | "active" | "disabled" => {
            let mut label = status.to_owned();
            label[..1].make_ascii_uppercase();
            label
        }
        other => status_label(other),
    };
    html! { span class={ "status s-" (class) } { (label) } }
}

/// A success message after a form did its work.
pub fn notice(text: &str) -> Markup {
    html! { p.notice role="status" { (text) } }
}

/// A table's header row; the columns named in `numeric` are right-aligned.
pub fn head(columns: &[&str], numeric: &[&str]) -> Markup {
    html! {
        thead { tr { @for column in columns {
            th.num[numeric.contains(column)] scope="col" { (column) }
        } } }
    }
}

/// Text as one value of a query string.
pub fn query_value(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A profile's SID as a link, with its friendly name under it when known.
pub fn profile_with_name(profile: &crate::store::Profile) -> Markup {
    html! {
        (profile_link(&profile.sid))
        @if let Some(name) = &profile.friendly_name { br; span.muted { (name) } }
    }
}

/// A profile SID as a link to its page.
pub fn profile_link(sid: &str) -> Markup {
    html! { a.sid href={ "/ui/profiles/" (query_value(sid)) } { (sid) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        let d = |m: i64| duration(chrono::Duration::minutes(m));
        assert_eq!(d(0), "under a minute");
        assert_eq!(d(-5), "under a minute");
        assert_eq!(d(7), "7 min");
        assert_eq!(d(125), "2 h 5 min");
        assert_eq!(d(3 * 1440 + 4 * 60 + 9), "3 d 4 h");
    }

    #[test]
    fn badges_never_put_outside_text_in_a_class() {
        let hostile = badge("x\" onmouseover=\"alert(1)");
        let text = hostile.into_string();
        assert!(text.contains("s-unknown"), "{text}");
        assert!(!text.contains("\" onmouseover"), "{text}");
        assert!(badge("dead").into_string().contains("s-dead\">Dead<"));
    }
}
