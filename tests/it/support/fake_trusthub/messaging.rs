//! The Messaging API's compliance resources (`shared/twilio/messaging_v1_compliance.json`): a
//! brand, a campaign (under its messaging service) and a toll-free verification, fetched as
//! their account only (another account's is a 404, as Twilio answers), shaped like Twilio's
//! own examples.

use super::rules::not_found;
use super::state::FakeState;
use super::FakeTrustHub;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

fn examples() -> Value {
    serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/twilio/messaging_examples.json"
    )))
    .unwrap()
}

impl FakeState {
    /// `GET` of a brand, campaign or toll-free verification; `None` when the path is none.
    pub fn messaging_route(&self, account: &str, parts: &[&str], path: &str) -> Option<Response> {
        let sid = match parts {
            ["v1", "a2p", "BrandRegistrations", sid] => *sid,
            ["v1", "Tollfree", "Verifications", sid] => *sid,
            ["v1", "Services", service, "Compliance", "Usa2p", sid] => {
                let found = self.compliance.get(*sid);
                if found.is_some_and(|c| c["messaging_service_sid"] != *service) {
                    return Some(not_found(path));
                }
                *sid
            }
            _ => return None,
        };
        Some(match self.compliance.get(sid) {
            Some(object) if object["account_sid"] == account => Json(object.clone()).into_response(),
            _ => not_found(path),
        })
    }
}

impl FakeTrustHub {
    /// A brand of `account` registered for `customer_profile` (and `a2p_profile`).
    pub fn add_brand(
        &self,
        sid: &str,
        account: &str,
        customer_profile: &str,
        a2p_profile: &str,
        status: &str,
    ) {
        let mut brand = examples()["brand_fetch_200"].clone();
        brand["sid"] = json!(sid);
        brand["account_sid"] = json!(account);
        brand["customer_profile_bundle_sid"] = json!(customer_profile);
        brand["a2p_profile_bundle_sid"] = json!(a2p_profile);
        brand["status"] = json!(status);
        brand["url"] = json!(format!("{}/v1/a2p/BrandRegistrations/{sid}", self.base));
        self.with(|s| s.compliance.insert(sid.into(), brand));
    }

    /// A toll-free verification of `account` for `customer_profile`.
    pub fn add_tollfree_verification(&self, sid: &str, account: &str, customer_profile: &str, status: &str) {
        let mut verification = examples()["tollfree_verification_fetch_200"].clone();
        verification["sid"] = json!(sid);
        verification["account_sid"] = json!(account);
        verification["customer_profile_sid"] = json!(customer_profile);
        verification["status"] = json!(status);
        self.with(|s| s.compliance.insert(sid.into(), verification));
    }
}
