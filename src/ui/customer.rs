//! The customer view on a customer profile's page: what else this customer waits on, from
//! Event Streams — the A2P brands that name the profile (with their A2P trust product), the
//! brands' campaigns, and the toll-free verifications — each with Twilio's status and errors,
//! so one page answers "what is this customer still waiting on, and why".

use super::error::UiError;
use super::layout::{badge, time};
use crate::domain::compliance::ComplianceKind;
use crate::domain::ProfileSid;
use crate::state::AppState;
use crate::store::ComplianceObject;
use maud::{html, Markup};
use serde_json::Value;

/// The class a Twilio status word is shown with (its own word is the label).
fn class_of(status: &str) -> &'static str {
    let status = status.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| status.contains(w));
    if has(&["fail", "reject", "suspend", "unverified", "delet"]) {
        "twilio-rejected"
    } else if has(&["approved", "registered", "verified", "active"]) {
        "twilio-approved"
    } else {
        "in-review"
    }
}

fn status(word: &str) -> Markup {
    html! { span class={ "status s-" (class_of(word)) } { (word) } }
}

/// Twilio's errors in words: each description (or code) and the fields to fix.
fn errors(errors: &Value) -> Markup {
    let items: Vec<Value> = match errors {
        Value::Null => return html! {},
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    let text = |e: &Value, names: &[&str]| {
        names
            .iter()
            .find_map(|n| e.get(*n))
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
    };
    html! {
        ul.errors {
            @for e in &items {
                li {
                    @if let Some(text) = text(e, &["registrationerrordescription", "description", "reason"]) { (text) " " }
                    @else if let Some(s) = e.as_str() { (s) " " }
                    @if let Some(code) = text(e, &["registrationerrorcode", "code", "error_code"]) {
                        span.muted { "(error " (code) ")" }
                    } @else if e.is_number() { span.muted { "(error " (e) ")" } }
                    @if let Some(fields) = e.get("registrationerrorfields").and_then(Value::as_array) {
                        br; "Fields to fix: "
                        @for (i, f) in fields.iter().enumerate() {
                            @if i > 0 { ", " }
                            strong { (f.as_str().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

fn row(object: &ComplianceObject) -> Markup {
    html! {
        tr {
            td data-label="What" { (object.kind.title()) }
            td data-label="SID" { code.sid { (object.sid) } }
            td data-label="Status" { (status(&object.status)) }
            td data-label="Since" { (time(object.updated_at)) }
            td data-label="Why" { (errors(&object.errors)) }
        }
    }
}

/// The section, or nothing when Event Streams has said nothing about this customer.
pub async fn section(state: &AppState, profile: &ProfileSid) -> Result<Markup, UiError> {
    let objects = state.store().compliance_for_profile(profile.as_str()).await?;
    if objects.is_empty() {
        return Ok(html! {});
    }
    // Each brand's A2P trust product, as far as its callbacks have told.
    let mut products = Vec::new();
    for brand in objects.iter().filter(|o| o.kind == ComplianceKind::Brand) {
        let Some(sid) = brand.links.a2p_profile_bundle_sid.as_deref() else {
            continue;
        };
        let Ok(sid) = ProfileSid::parse(sid) else { continue };
        if sid == *profile || products.iter().any(|(s, _): &(ProfileSid, _)| *s == sid) {
            continue;
        }
        let known = state.store().get_profile(&sid).await?.map(|d| d.profile);
        products.push((sid, known));
    }
    let waiting = objects
        .iter()
        .filter(|o| class_of(&o.status) != "twilio-approved")
        .count()
        + products
            .iter()
            .filter(|(_, p)| p.as_ref().is_none_or(|p| p.status.as_wire() != "twilio-approved"))
            .count();
    Ok(html! {
        section aria-labelledby="customer" {
            h2 #customer { "This customer's onboarding" }
            p {
                @if waiting == 0 { "Everything below is approved." }
                @else { (waiting) " still waiting or refused." }
            }
            table.customer {
                thead { tr { th { "What" } th { "SID" } th { "Status" } th { "Since" } th { "Why" } } }
                tbody {
                    @for (sid, known) in &products {
                        tr {
                            td data-label="What" { "A2P trust product" }
                            td data-label="SID" { a href={ "/ui/profiles/" (sid) } { code.sid { (sid) } } }
                            td data-label="Status" {
                                @match known { Some(p) => (badge(p.status.as_wire())), None => "not reported yet" }
                            }
                            td data-label="Since" { @if let Some(p) = known { (time(p.updated_at)) } }
                            td data-label="Why" {}
                        }
                    }
                    @for object in &objects { (row(object)) }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::class_of;

    #[test]
    fn twilios_words_read_as_their_outcome() {
        for word in [
            "registration_failed",
            "FAILED",
            "twilio_rejected",
            "SUSPENDED",
            "brand-unverified",
        ] {
            assert_eq!(class_of(word), "twilio-rejected", "{word}");
        }
        for word in ["registered", "APPROVED", "VERIFIED", "twilio_approved"] {
            assert_eq!(class_of(word), "twilio-approved", "{word}");
        }
        for word in ["PENDING", "IN_PROGRESS", "in_review"] {
            assert_eq!(class_of(word), "in-review", "{word}");
        }
    }
}
