//! What Trust Hub accepts, from `shared/twilio/trusthub_v1.json` and Twilio's error dictionary
//! (twilio.com/docs/api/errors/<code>): SID patterns, the status enum, the transitions a
//! client may make, and the error bodies it answers with.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// `customer_profile_enum_status`.
pub const STATUSES: [&str; 5] = [
    "draft",
    "pending-review",
    "in-review",
    "twilio-rejected",
    "twilio-approved",
];

/// The Secondary Customer Profile policy (what `create` defaults to).
pub const SECONDARY_POLICY: &str = "RNdfbf3fae0e1107f8aded0e7cead80bf5";
/// The policy profiles added by the tests are created with.
pub const TEST_POLICY: &str = "RN11111111111111111111111111111111";

/// Twilio's JSON error body.
pub fn error(status: u16, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    });
    (StatusCode::from_u16(status).unwrap(), Json(body)).into_response()
}

/// What Twilio answers for a SID that does not exist in the caller's account, or a path no
/// route matches (a malformed SID in a path matches none).
pub fn not_found(path: &str) -> Response {
    error(
        404,
        20404,
        &format!("The requested resource {path} was not found"),
    )
}

pub fn missing(name: &str) -> Response {
    error(
        400,
        20001,
        &format!("Missing required parameter {name} in the post body"),
    )
}

pub fn invalid(name: &str, value: &str) -> Response {
    error(400, 20001, &format!("Invalid parameter {name}: {value:?}"))
}

/// `^<prefix>[0-9a-fA-F]{32}$`, the pattern of every SID in the description.
pub fn is_sid(value: &str, prefix: &str) -> bool {
    value.len() == 34 && value.starts_with(prefix) && value[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `^[a-zA-Z]{2}[0-9a-fA-F]{32}$`: `ObjectSid` and `ChannelEndpointSid`, any kind of object.
pub fn is_any_sid(value: &str) -> bool {
    value.len() == 34
        && value.is_char_boundary(2)
        && value[..2].bytes().all(|b| b.is_ascii_alphabetic())
        && is_sid(value, &value[..2])
}

/// Whether a client (not Twilio's reviewers) may move a profile from `from` to `to`: it
/// submits a draft, or a rejected profile it has fixed, for review (`Status=pending-review`,
/// the description's `updateToInReview` example). `in-review`, `twilio-approved` and
/// `twilio-rejected` are Twilio's to set.
pub fn client_may_set(from: &str, to: &str) -> bool {
    to == "pending-review" && matches!(from, "draft" | "twilio-rejected")
}

/// 22203 "Unable to parse bundle status": a `Status` outside the enum. The dictionary has
/// no code for a valid status a client may not set; the fake answers 22203 there too.
pub fn bad_status(value: &str) -> Response {
    error(
        400,
        22203,
        &format!("Status {value:?} cannot be set: a client may only submit (pending-review)"),
    )
}

/// 22204 "Bundle status and properties cannot be updated in the same request".
pub fn status_with_properties() -> Response {
    error(
        400,
        22204,
        "Bundle status and properties cannot be updated in the same request",
    )
}

/// 22205 "Attempting to assign invalid object_sid to Bundle": malformed, of another
/// account, or unknown. The dictionary names no code for an object already assigned; 22205
/// is the code Twilio documents for refused assignments, so the fake answers it there too.
pub fn bad_object(object: &str, why: &str) -> Response {
    error(400, 22205, &format!("Object {object} {why}"))
}

/// 22206 "Attempting to add invalid object type to bundle": not an end user, supporting
/// document or customer profile.
pub fn bad_object_type(object: &str) -> Response {
    error(
        400,
        22206,
        &format!("Object {object} is not an end user, supporting document or customer profile"),
    )
}
