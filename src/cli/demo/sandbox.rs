//! The demo's stand-in for Twilio, on loopback and only for `demo`: the bundles of the story
//! (customer profiles and trust products on the Trust Hub paths, regulatory bundles on the
//! numbers v2 paths, in Twilio's JSON shapes), their evaluations, and an A2P brand on the
//! Messaging API, for one sandbox account whose basic auth is required.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Twilio's own example of a noncompliant evaluation's results (`trusthub_v1.json`).
const EXAMPLES: &str = include_str!("../../../tests/fixtures/twilio/trusthub_examples.json");

#[derive(Debug, Clone)]
pub struct Bundle {
    pub kind: &'static str,
    pub name: String,
    pub status: String,
    /// What its evaluation finds missing (Twilio's example) while true.
    pub incomplete: bool,
}

#[derive(Clone)]
pub struct Sandbox {
    pub account: String,
    pub token: String,
    pub bundles: Arc<Mutex<HashMap<String, Bundle>>>,
    pub brands: Arc<Mutex<HashMap<String, (String, String)>>>,
}

impl Sandbox {
    pub fn set_status(&self, sid: &str, status: &str) {
        if let Some(bundle) = self.bundles.lock().expect("never poisoned").get_mut(sid) {
            bundle.status = status.to_owned();
        }
    }

    pub fn complete(&self, sid: &str) {
        if let Some(bundle) = self.bundles.lock().expect("never poisoned").get_mut(sid) {
            bundle.incomplete = false;
        }
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let expected =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.account, self.token));
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == format!("Basic {expected}"))
    }

    fn bundle_json(&self, sid: &str, kind: &str) -> Option<Value> {
        let bundles = self.bundles.lock().expect("never poisoned");
        let b = bundles.get(sid).filter(|b| b.kind == kind)?;
        let approved = b.status == "twilio-approved";
        let mut json = json!({
            "sid": sid, "account_sid": self.account, "friendly_name": b.name, "status": b.status,
            "email": "compliance@example.com", "status_callback": null,
            "date_created": "2026-01-05T10:00:00Z", "date_updated": "2026-01-05T10:00:00Z",
            "valid_until": approved.then_some("2027-01-05T10:00:00Z"),
            "errors": (b.status == "twilio-rejected").then(|| json!([{"code": 18601}])),
        });
        let policy = if kind == "regulatory_bundle" {
            "regulation_sid"
        } else {
            "policy_sid"
        };
        json[policy] = json!("RNdfbf3fae0e1107f8aded0e7cead80bf5");
        Some(json)
    }

    fn evaluation(&self, sid: &str, kind: &str) -> Option<Value> {
        let incomplete = {
            let bundles = self.bundles.lock().expect("never poisoned");
            bundles.get(sid).filter(|b| b.kind == kind)?.incomplete
        };
        let examples: Value = serde_json::from_str(EXAMPLES).expect("Twilio's examples parse");
        let mut evaluation = examples["evaluation_create_201"]["create"]["value"].clone();
        evaluation["sid"] = json!(format!("EL{:032x}", rand::random::<u128>()));
        evaluation["account_sid"] = json!(self.account);
        evaluation["customer_profile_sid"] = json!(sid);
        if !incomplete {
            evaluation["status"] = json!("compliant");
            evaluation["results"] = json!([]);
        }
        Some(evaluation)
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"code": 20404, "message": "The requested resource was not found", "status": 404})),
    )
        .into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"code": 20003, "message": "Authenticate", "status": 401})),
    )
        .into_response()
}

async fn fetch(
    State((sandbox, kind)): State<(Sandbox, &'static str)>,
    headers: HeaderMap,
    Path(sid): Path<String>,
) -> Response {
    if !sandbox.authorized(&headers) {
        return unauthorized();
    }
    sandbox
        .bundle_json(&sid, kind)
        .map_or_else(not_found, |b| Json(b).into_response())
}

async fn evaluate(
    State((sandbox, kind)): State<(Sandbox, &'static str)>,
    headers: HeaderMap,
    Path(sid): Path<String>,
) -> Response {
    if !sandbox.authorized(&headers) {
        return unauthorized();
    }
    sandbox
        .evaluation(&sid, kind)
        .map_or_else(not_found, |e| (StatusCode::CREATED, Json(e)).into_response())
}

async fn brand(State(sandbox): State<Sandbox>, headers: HeaderMap, Path(sid): Path<String>) -> Response {
    if !sandbox.authorized(&headers) {
        return unauthorized();
    }
    let brands = sandbox.brands.lock().expect("never poisoned");
    match brands.get(&sid) {
        Some((profile, product)) => Json(json!({
            "sid": sid, "account_sid": sandbox.account, "customer_profile_bundle_sid": profile,
            "a2p_profile_bundle_sid": product, "status": "FAILED"
        }))
        .into_response(),
        None => not_found(),
    }
}

/// The sandbox's routes.
pub fn router(sandbox: Sandbox) -> Router {
    let kind = |kind: &'static str| (sandbox.clone(), kind);
    Router::new()
        .route(
            "/v1/CustomerProfiles/{sid}",
            get(fetch).with_state(kind("customer_profile")),
        )
        .route(
            "/v1/CustomerProfiles/{sid}/Evaluations",
            post(evaluate).with_state(kind("customer_profile")),
        )
        .route(
            "/v1/TrustProducts/{sid}",
            get(fetch).with_state(kind("trust_product")),
        )
        .route(
            "/v1/TrustProducts/{sid}/Evaluations",
            post(evaluate).with_state(kind("trust_product")),
        )
        .route(
            "/v2/RegulatoryCompliance/Bundles/{sid}",
            get(fetch).with_state(kind("regulatory_bundle")),
        )
        .route(
            "/v2/RegulatoryCompliance/Bundles/{sid}/Evaluations",
            post(evaluate).with_state(kind("regulatory_bundle")),
        )
        .route(
            "/v1/a2p/BrandRegistrations/{sid}",
            get(brand).with_state(sandbox.clone()),
        )
}
