//! `/ui/profiles/{sid}`: one profile's history as a timeline, why Twilio rejected it, who was
//! told of each change, and buttons to fetch its evaluation again or sync it with Trust Hub.

use super::error::UiError;
use super::layout::{self, badge, notice, time, Nav};
use super::session::Session;
use super::timeline;
use crate::domain::{ProfileSid, ProfileStatus};
use crate::jobs::{confirm, sync};
use crate::state::AppState;
use crate::store::outbox::TransitionJob;
use crate::store::{DeliveryQuery, EvaluationRecord, ProfileDetail};
use crate::twilio::models::Evaluation;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;

/// Notifications listed per profile: more than any profile's history produces.
const MAX_DELIVERIES: u32 = 500;

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

fn parse(raw: &str) -> Result<ProfileSid, UiError> {
    ProfileSid::parse(raw).map_err(|e| UiError::BadRequest(format!("Not a customer profile SID: {e}")))
}

async fn detail(state: &AppState, sid: &ProfileSid) -> Result<ProfileDetail, UiError> {
    state
        .store()
        .get_profile(sid)
        .await?
        .ok_or_else(|| UiError::NotFound(format!("No profile {sid} is known here.")))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(raw): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, UiError> {
    let sid = parse(&raw)?;
    let detail = detail(&state, &sid).await?;
    let rows = state.store().transition_rows(sid.as_str()).await?;
    let evaluation = state.store().evaluations(sid.as_str()).await?.into_iter().next();
    let query = DeliveryQuery {
        profile_sid: Some(sid.to_string()),
        limit: MAX_DELIVERIES,
        ..DeliveryQuery::default()
    };
    let deliveries = state.store().list_deliveries(&query).await?;
    let p = &detail.profile;
    let customer = super::customer::section(&state, &sid).await?;
    let body = html! {
        @match done.done.as_deref() {
            Some("refetch") => (notice("Fetching the evaluation from Trust Hub: reload in a moment.")),
            Some("sync") => (notice("Asking Trust Hub for this profile's status: reload in a moment.")),
            _ => {}
        }
        h1 { (p.friendly_name.as_deref().unwrap_or("Bundle")) }
        p {
            code.sid { (p.sid) } " " (badge(p.status.as_wire())) " "
            span.kind { (super::profiles::kind_label(p.kind)) }
        }
        p {
            "In this status for " (layout::duration(Utc::now() - p.updated_at))
            ", since " (time(p.updated_at)) ". "
            @if let Some(account) = &p.account_sid { "Account " code { (account) } "." }
        }
        @if let Some(until) = p.valid_until {
            p.expiry {
                @if until <= Utc::now() { "The approval ended " } @else { "Approved until " }
                (time(until)) " (" (layout::duration((until - Utc::now()).abs())) " "
                @if until <= Utc::now() { "ago" } @else { "from now" } ")."
            }
        }
        div.actions {
            form method="post" action={ "/ui/profiles/" (p.sid) "/refetch" } {
                (super::csrf::field(&session))
                button type="submit" { "Re-fetch evaluation" }
            }
            form method="post" action={ "/ui/profiles/" (p.sid) "/sync" } {
                (super::csrf::field(&session))
                button.secondary type="submit" { "Sync status with Trust Hub" }
            }
        }
        (reasons(&p.status, evaluation.as_ref()))
        (customer)
        section aria-labelledby="history" {
            h2 #history { "History" }
            (timeline::render(&rows, &deliveries))
        }
    };
    Ok(layout::page(&p.sid, Nav::Profiles, Some(&session), body))
}

/// Why Twilio rejected the profile, from its latest evaluation, in words.
fn reasons(status: &ProfileStatus, record: Option<&EvaluationRecord>) -> Markup {
    let rejected = *status == ProfileStatus::TwilioRejected;
    let Some(record) = record else {
        return html! {
            @if rejected {
                section aria-labelledby="why" {
                    h2 #why { "Why Twilio rejected it" }
                    p.alert {
                        "Twilio's evaluation has not been fetched yet. It is fetched after each "
                        "rejection; if that failed, use “Re-fetch evaluation”."
                    }
                }
            }
        };
    };
    let evaluation = Evaluation {
        sid: record.sid.clone(),
        account_sid: record.account_sid.clone(),
        policy_sid: record.policy_sid.clone(),
        customer_profile_sid: Some(record.profile_sid.clone()),
        status: record.status.clone(),
        results: record.results.clone(),
        date_created: record.date_created.clone(),
    };
    let failures = evaluation.failures();
    let codes: Vec<String> = record
        .profile_errors
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("code").map(|c| c.to_string()))
        .collect();
    html! {
        section aria-labelledby="why" {
            h2 #why { @if rejected { "Why Twilio rejected it" } @else { "Latest evaluation" } }
            p.hint { "Evaluation " code { (record.sid) } ", fetched " (time(record.fetched_at)) "." }
            @if failures.is_empty() {
                p { "Twilio found every requirement met (" (record.status) ")." }
            } @else {
                p {
                    "Twilio found " (failures.len()) " requirement"
                    @if failures.len() != 1 { "s" } " not met:"
                }
                @for failure in &failures {
                    div.failure {
                        h3 {
                            (failure.requirement)
                            @if let Some(code) = failure.error_code {
                                " " span.muted { "(error " (code) ")" }
                            }
                        }
                        @if let Some(reason) = &failure.reason { p { (reason) } }
                        @if !failure.invalid_fields.is_empty() {
                            p { "Fields to correct:" }
                            ul { @for field in &failure.invalid_fields {
                                li {
                                    strong { (field.field) }
                                    @if let Some(reason) = &field.reason { ": " (reason) }
                                }
                            } }
                        }
                    }
                }
            }
            @if !codes.is_empty() { p.hint { "Error codes on the profile: " (codes.join(", ")) "." } }
        }
    }
}

/// Queues a fresh `confirm_decision` for the profile's current status (a rejection gets a new
/// evaluation) and wakes the worker.
pub async fn refetch(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Response, UiError> {
    let sid = parse(&raw)?;
    let detail = detail(&state, &sid).await?;
    let rows = state.store().transition_rows(sid.as_str()).await?;
    let current = rows
        .iter()
        .rev()
        .find(|row| row.transition.applied)
        .ok_or_else(|| {
            UiError::BadRequest("This profile has no recorded status change to explain.".into())
        })?;
    let target = TransitionJob {
        transition_id: current.id,
        profile_sid: sid.to_string(),
        account_sid: detail.profile.account_sid.clone(),
        to: detail.profile.status.as_wire().to_owned(),
        evaluate: true,
    };
    let job = confirm::again(&target, crate::store::now());
    state.store().enqueue_jobs(&[job]).await?;
    state.wake_worker();
    Ok(Redirect::to(&format!("/ui/profiles/{sid}?done=refetch")).into_response())
}

/// Queues a `sync` of this one profile and wakes the worker.
pub async fn sync(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Response, UiError> {
    let sid = parse(&raw)?;
    detail(&state, &sid).await?;
    let job = sync::one_profile(&sid, crate::store::now());
    state.store().enqueue_jobs(&[job]).await?;
    state.wake_worker();
    Ok(Redirect::to(&format!("/ui/profiles/{sid}?done=sync")).into_response())
}
