//! `/ui/profiles`: every profile, filtered by status and account, searched by SID or name,
//! most recently changed first, a page at a time.

use super::error::UiError;
use super::layout::{self, badge, query_value, time, Nav};
use super::session::Session;
use crate::domain::{BundleKind, ProfileStatus};
use crate::state::AppState;
use crate::store::{Cursor, Page, Profile, ProfileSearch};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Extension;
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;

const PAGE_SIZE: u32 = 50;

#[derive(Deserialize, Default)]
pub struct Params {
    status: Option<String>,
    account: Option<String>,
    kind: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
}

fn filled(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl Params {
    /// The query string of these filters (without the cursor), for the next page's link.
    fn filters(&self) -> String {
        [
            ("status", &self.status),
            ("account", &self.account),
            ("kind", &self.kind),
            ("q", &self.q),
        ]
        .iter()
        .filter_map(|(name, value)| filled(value).map(|v| format!("{name}={}", query_value(&v))))
        .collect::<Vec<_>>()
        .join("&")
    }
}

pub async fn list(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(params): Query<Params>,
) -> Result<Response, UiError> {
    let after = match filled(&params.cursor) {
        Some(raw) => Some(
            Cursor::decode(&raw)
                .ok_or_else(|| UiError::BadRequest("That page link is not one the dashboard made.".into()))?,
        ),
        None => None,
    };
    let search = ProfileSearch {
        status: filled(&params.status),
        account_sid: filled(&params.account),
        kind: filled(&params.kind).as_deref().and_then(BundleKind::parse),
        text: filled(&params.q),
        limit: PAGE_SIZE,
        after,
    };
    let page = state.store().search_profiles(&search).await?;
    let accounts = state.store().profile_accounts().await?;
    let counts = state.store().status_counts().await?;
    let mut statuses: Vec<String> = ProfileStatus::KNOWN
        .iter()
        .map(|s| s.as_wire().to_owned())
        .collect();
    statuses.extend(
        counts
            .into_iter()
            .map(|c| c.status)
            .filter(|s| !ProfileStatus::from_wire(s).is_known()),
    );
    let body = html! {
        h1 { "Profiles" }
        (filters(&search, &statuses, &accounts))
        (table(&page, &params))
    };
    Ok(layout::page("Profiles", Nav::Profiles, Some(&session), body))
}

fn filters(search: &ProfileSearch, statuses: &[String], accounts: &[String]) -> Markup {
    let selected = |current: &Option<String>, value: &str| current.as_deref() == Some(value);
    html! {
        form.filters method="get" action="/ui/profiles" role="search" {
            div {
                label for="q" { "SID or name" }
                input #q type="search" name="q" value=(search.text.as_deref().unwrap_or(""))
                    aria-describedby="q-hint";
            }
            div {
                label for="status" { "Status" }
                select #status name="status" {
                    option value="" { "Any status" }
                    @for s in statuses {
                        option value=(s) selected[selected(&search.status, s)] { (layout::status_label(s)) }
                    }
                }
            }
            div {
                label for="account" { "Account" }
                select #account name="account" {
                    option value="" { "Any account" }
                    @for a in accounts {
                        option value=(a) selected[selected(&search.account_sid, a)] { (a) }
                    }
                }
            }
            div {
                label for="kind" { "Kind" }
                select #kind name="kind" {
                    option value="" { "Any kind" }
                    @for k in BundleKind::ALL {
                        option value=(k.as_str()) selected[search.kind == Some(k)] { (kind_label(Some(k))) }
                    }
                }
            }
            div { button type="submit" { "Filter" } }
        }
        p.hint #q-hint {
            "The search matches any part of a profile's SID or friendly name, ignoring case. "
            "A bundle has a name here once Twilio returned it (a decision's confirmation, sync, "
            "submit or create), until then search by SID."
        }
    }
}

/// A bundle kind as people name it.
pub fn kind_label(kind: Option<BundleKind>) -> &'static str {
    match kind {
        Some(BundleKind::CustomerProfile) => "Customer profile",
        Some(BundleKind::TrustProduct) => "Trust product",
        Some(BundleKind::RegulatoryBundle) => "Regulatory bundle",
        None => "Not known yet",
    }
}

fn table(page: &Page<Profile>, params: &Params) -> Markup {
    if page.items.is_empty() {
        return html! { p.muted { "No profile matches." } };
    }
    let now = Utc::now();
    let filters = params.filters();
    let sep = if filters.is_empty() { "" } else { "&" };
    html! {
        div.table-wrap { table.stack {
            caption { "Most recently changed first" }
            (layout::head(&["Profile", "Kind", "Status", "Account", "In this status for", "Last change"], &[]))
            tbody { @for p in &page.items { tr {
                td data-label="Profile" { (layout::profile_with_name(p)) }
                td data-label="Kind" { (kind_label(p.kind)) }
                td data-label="Status" { (badge(p.status.as_wire())) }
                td data-label="Account" { code { (p.account_sid.as_deref().unwrap_or("—")) } }
                td data-label="In this status for" { (layout::duration(now - p.updated_at)) }
                td data-label="Last change" { (time(p.updated_at)) }
            } } }
        } }
        nav.pager aria-label="Pages" {
            @if filled(&params.cursor).is_some() {
                a href={ "/ui/profiles?" (filters) } { "First page" }
            }
            @if let Some(next) = &page.next {
                a href={ "/ui/profiles?" (filters) (sep) "cursor=" (next.encode()) } rel="next" {
                    "Next page"
                }
            }
        }
    }
}
