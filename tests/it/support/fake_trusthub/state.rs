//! What the fake Trust Hub holds: accounts and API keys, and each account's resources.

use super::rules::{self, error, missing};
use super::{Fault, Seen};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

fn examples() -> Value {
    serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/twilio/trusthub_examples.json"
    )))
    .unwrap()
}

#[derive(Default)]
pub struct FakeState {
    /// (account SID, auth token).
    pub accounts: Vec<(String, String)>,
    /// (API key SID, secret, account SID).
    pub api_keys: Vec<(String, String, String)>,
    /// Policies that exist (every account sees Twilio's policies).
    pub policies: HashSet<String>,
    /// Every bundle: customer profiles, trust products and regulatory bundles.
    pub profiles: BTreeMap<String, Value>,
    /// Bundle SID -> its kind, for every bundle that is not a customer profile.
    pub kinds: HashMap<String, String>,
    /// Profile SID -> its evaluations, newest first (as Twilio lists them).
    pub evaluations: HashMap<String, Vec<Value>>,
    pub compliant: HashSet<String>,
    pub faults: VecDeque<Fault>,
    /// Faults for the next request whose "METHOD /path" contains the key.
    pub targeted: Vec<(String, Fault)>,
    /// Created end users, supporting documents and addresses, by SID.
    pub objects: BTreeMap<String, Value>,
    /// Profile SID -> assigned object SIDs.
    pub assignments: HashMap<String, Vec<String>>,
    /// Profile SID -> assigned phone number SIDs.
    pub phone_numbers: HashMap<String, Vec<String>>,
    pub requests: Vec<Seen>,
    /// Profile SID -> its entity and channel endpoint assignments, as Twilio lists them.
    pub assignment_records: HashMap<String, Vec<Value>>,
    /// Event Streams sinks and subscriptions (the Events API), and each subscription's types.
    pub sinks: Vec<Value>,
    pub subscriptions: Vec<Value>,
    pub subscribed: HashMap<String, Vec<String>>,
    /// Subaccount SID -> its parent's.
    pub parents: HashMap<String, String>,
    /// Account SID -> how many times it was fetched (`/2010-04-01/Accounts/{sid}.json`).
    pub account_lookups: HashMap<String, usize>,
    /// Brands, campaigns and toll-free verifications (the Messaging API), by SID.
    pub compliance: BTreeMap<String, Value>,
    /// Requests that arrived (answered or not).
    pub arrivals: usize,
    /// Where list pages point `next_page_url`, when a test makes the fake hostile.
    pub next_page_origin: Option<String>,
    counter: u64,
    /// The last `date_created` handed out (unix seconds).
    clock: i64,
    pub base: String,
}

impl FakeState {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            policies: [rules::SECONDARY_POLICY, rules::TEST_POLICY]
                .map(str::to_owned)
                .into(),
            ..Self::default()
        }
    }

    /// The account a username and password act as: an account's SID and auth token, or an
    /// API key's SID and secret.
    pub fn authenticate(&self, user: &str, pass: &str) -> Option<String> {
        let by_token = self
            .accounts
            .iter()
            .find(|(sid, token)| sid == user && token == pass)
            .map(|(sid, _)| sid.clone());
        by_token.or_else(|| {
            self.api_keys
                .iter()
                .find(|(key, secret, _)| key == user && secret == pass)
                .map(|(_, _, account)| account.clone())
        })
    }

    /// A profile of `account` (others' are as absent as unknown ones).
    pub fn owned_profile(&mut self, account: &str, sid: &str) -> Option<&mut Value> {
        self.profiles.get_mut(sid).filter(|p| p["account_sid"] == account)
    }

    pub fn next_sid(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}f{:031x}", self.counter)
    }

    /// A strictly increasing time, in Twilio's format: no two resources share a date.
    pub fn now(&mut self) -> String {
        // Twilio's clock: the real time, each resource a second after the last (so that
        // creation order stays visible in whole seconds).
        self.counter += 1;
        self.clock = chrono::Utc::now().timestamp().max(self.clock + 1);
        let at = chrono::DateTime::from_timestamp(self.clock, 0).unwrap();
        at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    pub fn profile_json(&mut self, sid: &str, account: &str, status: &str, policy: &str) -> Value {
        let mut profile = examples()["customer_profile_fetch_200"]["fetch"]["value"].clone();
        let base = format!("{}/v1/CustomerProfiles/{sid}", self.base);
        profile["sid"] = json!(sid);
        profile["account_sid"] = json!(account);
        profile["status"] = json!(status);
        profile["policy_sid"] = json!(policy);
        profile["url"] = json!(base);
        profile["date_created"] = json!(self.now());
        profile["errors"] = if status == "twilio-rejected" {
            json!([{"code": 18601}])
        } else {
            Value::Null
        };
        profile["links"] = json!({
            "customer_profiles_entity_assignments": format!("{base}/EntityAssignments"),
            "customer_profiles_evaluations": format!("{base}/Evaluations"),
            "customer_profiles_channel_endpoint_assignment": format!("{base}/ChannelEndpointAssignments"),
        });
        profile
    }

    pub fn create_evaluation(&mut self, profile_sid: &str) -> Value {
        let mut evaluation = examples()["evaluation_create_201"]["create"]["value"].clone();
        let sid = self.next_sid("EL");
        let profile = self.profiles.get(profile_sid).cloned().unwrap_or(Value::Null);
        evaluation["sid"] = json!(sid);
        evaluation["customer_profile_sid"] = json!(profile_sid);
        evaluation["account_sid"] = profile["account_sid"].clone();
        evaluation["policy_sid"] = profile["policy_sid"].clone();
        evaluation["date_created"] = json!(self.now());
        evaluation["url"] = json!(format!(
            "{}/v1/CustomerProfiles/{profile_sid}/Evaluations/{sid}",
            self.base
        ));
        if self.compliant.contains(profile_sid) || self.complete(profile_sid) {
            evaluation["status"] = json!("compliant");
            evaluation["results"] = json!([{"friendly_name": "Business", "object_type": "business", "passed": true,
                                             "failure_reason": null, "error_code": null, "valid": [], "invalid": []}]);
        }
        self.evaluations
            .entry(profile_sid.into())
            .or_default()
            .insert(0, evaluation.clone());
        evaluation
    }

    /// Whether a secondary profile has what its policy requires assigned: business
    /// information, a first authorized representative, an address document and a primary
    /// customer profile.
    fn complete(&self, profile_sid: &str) -> bool {
        let assigned = self.assignments.get(profile_sid).cloned().unwrap_or_default();
        let types: Vec<String> = assigned
            .iter()
            .filter_map(|sid| self.objects.get(sid))
            .map(|o| o["type"].as_str().unwrap_or_default().to_owned())
            .collect();
        [
            "customer_profile_business_information",
            "authorized_representative_1",
            "customer_profile_address",
        ]
        .iter()
        .all(|t| types.iter().any(|have| have == t))
            && assigned.iter().any(|sid| sid.starts_with("BU"))
    }

    /// An end user, supporting document or address of `account`.
    pub fn create_object(
        &mut self,
        account: &str,
        prefix: &str,
        path: &str,
        form: &[(String, String)],
        required: &[&str],
    ) -> Response {
        if let Some(name) = required.iter().find(|name| field(form, name).is_none()) {
            return missing(name);
        }
        let attributes: Value = match field(form, "Attributes").map(serde_json::from_str).transpose() {
            Ok(attributes) => attributes.unwrap_or(Value::Null),
            Err(_) => return error(400, 20001, "Attributes must be JSON"),
        };
        let sid = self.next_sid(prefix);
        let object = json!({
            "sid": sid,
            "account_sid": account,
            "friendly_name": field(form, "FriendlyName"),
            "type": field(form, "Type"),
            "attributes": attributes,
            "form": form.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "date_created": self.now(),
            "url": format!("{}{path}/{sid}", self.base),
        });
        self.objects.insert(sid, object.clone());
        (StatusCode::CREATED, Json(object)).into_response()
    }
}

pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}
