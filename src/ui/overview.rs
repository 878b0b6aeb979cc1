//! `/ui`: where things stand: profiles by status, who waits longest for Twilio, what was
//! rejected lately, and which notifications are not getting through.

use super::error::UiError;
use super::layout::{self, badge, profile_link, time, Nav};
use super::session::Session;
use crate::domain::ProfileStatus;
use crate::state::AppState;
use crate::store::{Channel, Delivery, Profile, StatusCount, TransitionRow, WebhookHealth};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use chrono::Utc;
use maud::{html, Markup};

const LIST_LENGTH: u32 = 10;

pub async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Result<Response, UiError> {
    let store = state.store();
    let counts = store.status_counts().await?;
    let waiting = store
        .waiting_longest(&["pending-review", "in-review"], LIST_LENGTH)
        .await?;
    let rejections = store.recent_rejections(LIST_LENGTH).await?;
    let webhooks: Vec<WebhookHealth> = store
        .webhook_health()
        .await?
        .into_iter()
        .filter(WebhookHealth::is_failing)
        .collect();
    let emails = store.failing_deliveries(Channel::Email, LIST_LENGTH).await?;
    let body = html! {
        h1 { "Overview" }
        section aria-labelledby="by-status" {
            h2 #by-status { "Profiles by status" }
            (chart(&counts))
        }
        section aria-labelledby="waiting" {
            h2 #waiting { "Waiting longest for Twilio" }
            (waiting_table(&waiting))
        }
        section aria-labelledby="rejections" {
            h2 #rejections { "Recent rejections" }
            (rejections_table(&rejections))
        }
        section aria-labelledby="failing-webhooks" {
            h2 #failing-webhooks { "Failing webhook subscriptions" }
            (webhooks_table(&webhooks))
        }
        section aria-labelledby="failing-email" {
            h2 #failing-email { "Failing email alerts" }
            (emails_table(&emails))
        }
    };
    Ok(layout::page("Overview", Nav::Overview, Some(&session), body))
}

/// Known statuses in lifecycle order (with zero counts), then any Twilio added later.
fn ordered(counts: &[StatusCount]) -> Vec<(String, i64)> {
    let count = |s: &str| counts.iter().find(|c| c.status == s).map_or(0, |c| c.count);
    let mut rows: Vec<(String, i64)> = ProfileStatus::KNOWN
        .iter()
        .map(|s| (s.as_wire().to_owned(), count(s.as_wire())))
        .collect();
    rows.extend(
        counts
            .iter()
            .filter(|c| !ProfileStatus::from_wire(&c.status).is_known())
            .map(|c| (c.status.clone(), c.count)),
    );
    rows
}

/// A horizontal bar chart as inline SVG; each bar links to the list filtered by its status.
fn chart(counts: &[StatusCount]) -> Markup {
    let rows = ordered(counts);
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let total: i64 = rows.iter().map(|(_, n)| n).sum();
    let summary = rows
        .iter()
        .map(|(s, n)| format!("{}: {n}", layout::status_label(s)))
        .collect::<Vec<_>>()
        .join(", ");
    let height = rows.len() * 36 + 8;
    let colour = |s: &str| match s {
        "twilio-rejected" => "#cf222e",
        "twilio-approved" => "#1a7f37",
        "provisionally-approved" => "#4ac26b",
        "in-review" => "#0969da",
        "pending-review" => "#9a6700",
        _ => "#6e7781",
    };
    html! {
        p { (total) " profiles known." }
        svg.chart role="img" aria-label={ "Profiles by status: " (summary) } viewBox={ "0 0 420 " (height) }
            xmlns="http://www.w3.org/2000/svg" {
            @for (i, (status, n)) in rows.iter().enumerate() {
                @let y = i * 36 + 4;
                @let width = (*n as f64 / max as f64 * 225.0).round().max(if *n > 0 { 3.0 } else { 0.0 });
                a href={ "/ui/profiles?status=" (layout::query_value(status)) } {
                    text x="0" y=(y + 21) font-size="15" fill="#1f2328" { (layout::status_label(status)) }
                    rect x="130" y=(y + 4) width=(width) height="24" rx="3" fill=(colour(status)) {}
                    text x=(138.0 + width) y=(y + 21) font-size="15" fill="#1f2328" font-weight="600" { (n) }
                }
            }
        }
    }
}

fn waiting_table(profiles: &[Profile]) -> Markup {
    if profiles.is_empty() {
        return html! { p.muted { "No profile is pending or in review." } };
    }
    let now = Utc::now();
    html! {
        div.table-wrap { table.stack {
            (layout::head(&["Profile", "Status", "Waiting for", "Since"], &[]))
            tbody { @for p in profiles { tr {
                td data-label="Profile" { (layout::profile_with_name(p)) }
                td data-label="Status" { (badge(p.status.as_wire())) }
                td data-label="Waiting for" { (layout::duration(now - p.updated_at)) }
                td data-label="Since" { (time(p.updated_at)) }
            } } }
        } }
    }
}

fn rejections_table(rows: &[TransitionRow]) -> Markup {
    if rows.is_empty() {
        return html! { p.muted { "No rejections recorded." } };
    }
    html! {
        div.table-wrap { table.stack {
            (layout::head(&["Profile", "Rejected", "Twilio's reason"], &[]))
            tbody { @for row in rows { tr {
                td data-label="Profile" { (profile_link(&row.profile_sid)) }
                td data-label="Rejected" { (time(row.transition.at)) }
                td data-label="Twilio's reason" {
                    @match &row.transition.failure_reason {
                        Some(reason) => (reason),
                        None => span.muted { "None given: see the profile's evaluation." },
                    }
                }
            } } }
        } }
    }
}

fn webhooks_table(webhooks: &[WebhookHealth]) -> Markup {
    if webhooks.is_empty() {
        return html! { p.muted { "Every subscription is delivering." } };
    }
    html! {
        div.table-wrap { table.stack {
            (layout::head(&["Endpoint", "State", "Retrying", "Dead", "Last failure"], &["Retrying", "Dead"]))
            tbody { @for h in webhooks { tr {
                td data-label="Endpoint" { a href="/ui/webhooks" { code { (h.webhook.url) } } }
                td data-label="State" {
                    @if h.webhook.enabled { (badge("active")) } @else {
                        (badge("disabled")) " " (h.webhook.disabled_reason.as_deref().unwrap_or(""))
                    }
                }
                td.num data-label="Retrying" { (h.failing) }
                td.num data-label="Dead" { (h.dead) }
                td data-label="Last failure" {
                    @if let Some(at) = h.last_failure_at { (time(at)) } @else { "—" }
                }
            } } }
        } }
    }
}

fn emails_table(deliveries: &[Delivery]) -> Markup {
    if deliveries.is_empty() {
        return html! { p.muted { "No email alert is failing." } };
    }
    html! {
        div.table-wrap { table.stack {
            (layout::head(&["Recipient", "Profile", "Status", "Last error", "When"], &[]))
            tbody { @for d in deliveries { tr {
                td data-label="Recipient" { (d.recipient) }
                td data-label="Profile" { @if let Some(sid) = &d.profile_sid { (profile_link(sid)) } }
                td data-label="Status" { (badge(&d.status)) " after " (d.attempts) " attempts" }
                td data-label="Last error" { (d.last_error.as_deref().unwrap_or("")) }
                td data-label="When" { (time(d.updated_at)) }
            } } }
        } }
        p { a href="/ui/webhooks?status=dead" { "Replay dead deliveries" } }
    }
}
