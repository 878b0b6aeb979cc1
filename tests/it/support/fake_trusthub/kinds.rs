//! Trust products (`/v1/TrustProducts`, `trusthub_v1.json`) and numbers v2 regulatory bundles
//! (`/v2/RegulatoryCompliance/Bundles`, `numbers_v2_regulatory.json`): `BU…` SIDs like
//! customer profiles, each reachable only on its own API and only as its own account.
//! Shapes are Twilio's examples (`tests/fixtures/twilio/bundle_kinds_examples.json`).

use super::paging::{page, params};
use super::rules::{self, invalid, not_found};
use super::state::FakeState;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub const TRUST_PRODUCT: &str = "trust_product";
pub const REGULATORY_BUNDLE: &str = "regulatory_bundle";

/// `bundle_enum_status` of numbers v2: Trust Hub's statuses and `provisionally-approved`.
pub const BUNDLE_STATUSES: [&str; 6] = [
    "draft",
    "pending-review",
    "in-review",
    "twilio-rejected",
    "twilio-approved",
    "provisionally-approved",
];

fn examples() -> Value {
    serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/twilio/bundle_kinds_examples.json"
    )))
    .unwrap()
}

/// The collection path of a kind, the example key prefix, and the field naming the bundle
/// (and its policy) in an evaluation.
fn api(kind: &str) -> (&'static str, &'static str, &'static str, &'static str) {
    match kind {
        TRUST_PRODUCT => (
            "/v1/TrustProducts",
            "trust_product",
            "trust_product_sid",
            "policy_sid",
        ),
        _ => (
            "/v2/RegulatoryCompliance/Bundles",
            "regulatory_bundle",
            "bundle_sid",
            "regulation_sid",
        ),
    }
}

/// The kind a request path addresses, and the rest of the path after the collection.
pub fn addressed<'a>(parts: &'a [&'a str]) -> Option<(&'static str, &'a [&'a str])> {
    match parts {
        ["v1", "TrustProducts", rest @ ..] => Some((TRUST_PRODUCT, rest)),
        ["v2", "RegulatoryCompliance", "Bundles", rest @ ..] => Some((REGULATORY_BUNDLE, rest)),
        _ => None,
    }
}

impl FakeState {
    /// The kind of a bundle the fake holds (customer profiles carry none).
    pub fn kind_of(&self, sid: &str) -> &str {
        self.kinds.get(sid).map_or("customer_profile", String::as_str)
    }

    pub fn bundle_json(&mut self, kind: &str, sid: &str, account: &str, status: &str, policy: &str) -> Value {
        let (path, key, _, policy_field) = api(kind);
        let mut bundle = examples()[format!("{key}_fetch_200")].clone();
        let url = format!("{}{path}/{sid}", self.base);
        bundle["sid"] = json!(sid);
        bundle["account_sid"] = json!(account);
        bundle["status"] = json!(status);
        bundle[policy_field] = json!(policy);
        bundle["date_created"] = json!(self.now());
        if let Some(links) = bundle["links"].as_object_mut() {
            for link in links.values_mut() {
                let tail = link
                    .as_str()
                    .and_then(|l| l.rsplit('/').next())
                    .unwrap_or_default();
                *link = json!(format!("{url}/{tail}"));
            }
        }
        bundle["url"] = json!(url);
        if bundle.get("errors").is_some() {
            bundle["errors"] = if status == "twilio-rejected" {
                json!([{"code": 18601}])
            } else {
                Value::Null
            };
        }
        bundle
    }

    /// A request on a trust product or regulatory bundle path, as `account`.
    #[allow(clippy::too_many_arguments)]
    pub fn kind_route(
        &mut self,
        account: &str,
        method: &Method,
        kind: &'static str,
        rest: &[&str],
        path: &str,
        query: &str,
        form: &[(String, String)],
    ) -> Response {
        if let ("GET", []) = (method.as_str(), rest) {
            return self.list_kind(account, kind, path, query);
        }
        let Some(sid) = rest.first().copied() else {
            return not_found(path);
        };
        let owned = self.owned_profile(account, sid).is_some() && self.kind_of(sid) == kind;
        if !owned {
            return not_found(path);
        }
        match (method.as_str(), &rest[1..]) {
            ("GET", []) => Json(self.profiles[sid].clone()).into_response(),
            ("POST", []) => self.update_profile(sid, form),
            ("GET", ["Evaluations"]) => {
                let items = self.evaluations.get(sid).cloned().unwrap_or_default();
                page(&self.base.clone(), path, query, &[], &items)
            }
            // A trust product is evaluated against a policy; a regulatory bundle against its
            // own regulation, so its create takes no parameter at all.
            ("POST", ["Evaluations"]) if kind == TRUST_PRODUCT => match self.refuse_policy(form) {
                Some(refused) => refused,
                None => (StatusCode::CREATED, Json(self.kind_evaluation(kind, sid))).into_response(),
            },
            ("POST", ["Evaluations"]) => {
                (StatusCode::CREATED, Json(self.kind_evaluation(kind, sid))).into_response()
            }
            _ => not_found(path),
        }
    }

    fn list_kind(&self, account: &str, kind: &str, path: &str, query: &str) -> Response {
        let params = params(query);
        if let Some(status) = params
            .get("Status")
            .filter(|s| !BUNDLE_STATUSES.contains(&s.as_str()))
        {
            return invalid("Status", status);
        }
        let items: Vec<Value> = self
            .profiles
            .iter()
            .filter(|(sid, p)| p["account_sid"] == account && self.kind_of(sid) == kind)
            .filter(|(_, p)| params.get("Status").is_none_or(|s| p["status"] == *s))
            .map(|(_, p)| p.clone())
            .collect();
        page(&self.base, path, query, &["Status"], &items)
    }

    fn kind_evaluation(&mut self, kind: &str, sid: &str) -> Value {
        let (path, key, bundle_field, policy_field) = api(kind);
        let mut evaluation = examples()[format!("{key}_evaluation_create_201")].clone();
        let evaluation_sid = self.next_sid("EL");
        let bundle = self.profiles[sid].clone();
        evaluation["sid"] = json!(evaluation_sid);
        evaluation[bundle_field] = json!(sid);
        evaluation["account_sid"] = bundle["account_sid"].clone();
        evaluation[policy_field] = bundle[policy_field].clone();
        evaluation["date_created"] = json!(self.now());
        evaluation["url"] = json!(format!("{}{path}/{sid}/Evaluations/{evaluation_sid}", self.base));
        if self.compliant.contains(sid) {
            evaluation["status"] = json!("compliant");
            evaluation["results"] = json!([]);
        }
        self.evaluations
            .entry(sid.into())
            .or_default()
            .insert(0, evaluation.clone());
        evaluation
    }
}

/// Whether `status` is one a bundle of `kind` can have.
pub fn is_status_of(kind: &str, status: &str) -> bool {
    match kind {
        REGULATORY_BUNDLE => BUNDLE_STATUSES.contains(&status),
        _ => rules::STATUSES.contains(&status),
    }
}
