//! A profile's transitions drawn as a timeline, oldest first, each with the notifications it
//! caused and how they fared.

use super::layout::{badge, time};
use crate::store::{Channel, Delivery, TransitionRow};
use maud::{html, Markup};

pub fn render(rows: &[TransitionRow], deliveries: &[Delivery]) -> Markup {
    if rows.is_empty() {
        return html! { p.muted { "No status change recorded." } };
    }
    html! {
        ol.timeline {
            @for row in rows {
                @let t = &row.transition;
                @let class = match t.to.as_wire() {
                    "twilio-rejected" => "rejected",
                    "twilio-approved" | "provisionally-approved" => "approved",
                    _ => "",
                };
                li class=(class) {
                    div {
                        span.when { (time(t.at)) } " — "
                        @match &t.from {
                            Some(from) => { (badge(from.as_wire())) " → " }
                            None => "first seen as ",
                        }
                        (badge(t.to.as_wire()))
                        " " span.muted { "via " (t.source.as_str()) }
                    }
                    @if !t.applied {
                        p.hint { "Arrived after a later status: kept as history, the status did not change." }
                    }
                    @if let Some(reason) = &t.failure_reason {
                        p { "Reason given: " q { (reason) } }
                    }
                    (notifications(row.id, deliveries))
                }
            }
        }
    }
}

fn notifications(transition_id: i64, deliveries: &[Delivery]) -> Markup {
    let mine: Vec<&Delivery> = deliveries
        .iter()
        .filter(|d| d.transition_id == Some(transition_id))
        .collect();
    if mine.is_empty() {
        return html! { p.hint { "No notification sent for this change." } };
    }
    html! {
        details open[mine.iter().any(|d| d.status != "delivered")] {
            summary { (mine.len()) " notification" @if mine.len() != 1 { "s" } }
            ul.deliveries {
                @for d in mine.iter().rev() {
                    li {
                        @if d.channel == Channel::Email.as_str() { "Email to " } @else { "Webhook to " }
                        code { (d.recipient) } " " (badge(&d.status))
                        " " span.muted {
                            (d.attempts) " attempt" @if d.attempts != 1 { "s" }
                            @if let Some(code) = d.last_status_code { ", last answer " (code) }
                            @if let Some(ms) = d.last_latency_ms { ", " (ms) " ms" }
                            @if let Some(at) = d.delivered_at { ", delivered " (time(at)) }
                        }
                        @if let Some(error) = &d.last_error { br; span.muted { "Last error: " (error) } }
                    }
                }
            }
        }
    }
}
