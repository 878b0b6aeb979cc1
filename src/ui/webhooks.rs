//! `/ui/webhooks`: the subscriptions and how they fare, recent deliveries (webhooks and
//! emails) with status and latency, and replaying one that failed.

use super::error::UiError;
use super::layout::{self, badge, notice, profile_link, time, Nav};
use super::session::Session;
use crate::state::AppState;
use crate::store::{Delivery, DeliveryQuery, DeliveryStatus, WebhookHealth};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;

const PAGE_SIZE: u32 = 50;

#[derive(Deserialize, Default)]
pub struct Params {
    status: Option<String>,
    /// Deliveries older than this id (the next page).
    before: Option<i64>,
    replayed: Option<i64>,
}

pub async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(params): Query<Params>,
) -> Result<Response, UiError> {
    let status = params
        .status
        .clone()
        .filter(|s| DeliveryStatus::parse(s).is_some());
    let webhooks = state.store().webhook_health().await?;
    let query = DeliveryQuery {
        status: status.clone(),
        limit: PAGE_SIZE + 1,
        before_id: params.before,
        ..DeliveryQuery::default()
    };
    let mut deliveries = state.store().list_deliveries(&query).await?;
    let older = (deliveries.len() > PAGE_SIZE as usize).then(|| {
        deliveries.truncate(PAGE_SIZE as usize);
        deliveries.last().map(|d| d.id)
    });
    let body = html! {
        @if let Some(id) = params.replayed { (notice(&format!("Delivery {id} is queued to be sent again."))) }
        h1 { "Webhooks & deliveries" }
        section aria-labelledby="subscriptions" {
            h2 #subscriptions { "Subscriptions" }
            (subscriptions(&webhooks))
        }
        section aria-labelledby="deliveries" {
            h2 #deliveries { "Recent deliveries" }
            (filter(status.as_deref()))
            (deliveries_table(&deliveries, &session))
            @if let Some(Some(before)) = older {
                @let filter = status.as_deref().map(|s| format!("&status={s}")).unwrap_or_default();
                nav.pager aria-label="Pages" {
                    a rel="next" href={ "/ui/webhooks?before=" (before) (filter) } { "Older deliveries" }
                }
            }
        }
    };
    Ok(layout::page(
        "Webhooks & deliveries",
        Nav::Webhooks,
        Some(&session),
        body,
    ))
}

fn subscriptions(webhooks: &[WebhookHealth]) -> Markup {
    if webhooks.is_empty() {
        return html! { p.muted { "No subscription. Create one with " code { "POST /v1/webhooks" } "." } };
    }
    html! {
        div.table-wrap { table.stack {
            (layout::head(
                &["Endpoint", "Events", "State", "Retrying", "Dead", "Created"],
                &["Retrying", "Dead"],
            ))
            tbody { @for h in webhooks { @let w = &h.webhook; tr {
                td data-label="Endpoint" {
                    code { (w.url) }
                    @if let Some(d) = &w.description { br; span.muted { (d) } }
                    br; span.muted { (w.id) }
                }
                td data-label="Events" { @if w.events.is_empty() { "all" } @else { (w.events.join(", ")) } }
                td data-label="State" {
                    @if w.enabled { (badge("active")) } @else {
                        (badge("disabled")) " " (w.disabled_reason.as_deref().unwrap_or(""))
                    }
                }
                td.num data-label="Retrying" { (h.failing) }
                td.num data-label="Dead" { (h.dead) }
                td data-label="Created" { (time(w.created_at)) }
            } } }
        } }
    }
}

fn filter(current: Option<&str>) -> Markup {
    html! {
        form.filters method="get" action="/ui/webhooks" {
            div {
                label for="status" { "Status" }
                select #status name="status" {
                    option value="" { "Any status" }
                    @for s in DeliveryStatus::ALL.map(DeliveryStatus::as_str) { option value=(s) selected[current == Some(s)] { (s) } }
                }
            }
            div { button type="submit" { "Filter" } }
        }
    }
}

fn deliveries_table(deliveries: &[Delivery], session: &Session) -> Markup {
    if deliveries.is_empty() {
        return html! { p.muted { "No delivery." } };
    }
    let replayable = |d: &Delivery| {
        matches!(
            DeliveryStatus::parse(&d.status),
            Some(DeliveryStatus::Failed | DeliveryStatus::Dead | DeliveryStatus::Cancelled)
        )
    };
    html! {
        div.table-wrap { table.stack #delivery-list {
            (layout::head(
                &["#", "To", "Profile", "Status", "Attempts", "Last answer", "Latency", "Updated", "Action"],
                &["Attempts", "Latency"],
            ))
            tbody { @for d in deliveries { tr id={ "delivery-" (d.id) } {
                td data-label="#" { (d.id) }
                td data-label="To" { (d.channel) ": " code { (d.recipient) } }
                td data-label="Profile" { @if let Some(sid) = &d.profile_sid { (profile_link(sid)) } }
                td data-label="Status" { (badge(&d.status)) }
                td.num data-label="Attempts" { (d.attempts) }
                td data-label="Last answer" {
                    // The error names the status code when there is one; a timeout has none.
                    @if let Some(error) = &d.last_error { (error) }
                    @else if let Some(code) = d.last_status_code { (code) }
                }
                td.num data-label="Latency" { @if let Some(ms) = d.last_latency_ms { (ms) " ms" } }
                td data-label="Updated" { (time(d.updated_at)) }
                td data-label="Action" {
                    @if replayable(d) {
                        form method="post" action={ "/ui/deliveries/" (d.id) "/replay" } {
                            (super::csrf::field(session))
                            button.secondary type="submit" aria-label={ "Replay delivery " (d.id) } {
                                "Replay"
                            }
                        }
                    }
                }
            } } }
        } }
    }
}

/// Sends a delivery again (same `webhook-id`) on a fresh schedule, and wakes the worker.
pub async fn replay(
    State(state): State<AppState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Response, UiError> {
    let Path(id) = id.map_err(|_| UiError::BadRequest("Not a delivery id.".into()))?;
    if !state.store().replay_delivery(id).await? {
        return Err(UiError::NotFound(format!("No delivery {id}.")));
    }
    state.wake_worker();
    Ok(Redirect::to(&format!("/ui/webhooks?replayed={id}")).into_response())
}
