//! The routes, each answered for the authenticated account only.

use super::paging::{page, params};
use super::rules::{
    self, bad_object, bad_object_type, bad_status, invalid, is_any_sid, is_sid, missing, not_found,
};
use super::state::{field, FakeState};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

type Form = [(String, String)];

impl FakeState {
    pub fn route(
        &mut self,
        account: &str,
        method: &Method,
        path: &str,
        query: &str,
        form: &Form,
    ) -> Response {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        if let Some(answer) = self.events_route(account, method.as_str(), &parts, path, query, form) {
            return answer;
        }
        if method == Method::GET {
            if let Some(answer) = self.messaging_route(account, &parts, path) {
                return answer;
            }
            if let Some(answer) = self.accounts_route(account, &parts, path, query) {
                return answer;
            }
        }
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["v1", "CustomerProfiles"]) => self.list_profiles(account, path, query),
            ("POST", ["v1", "CustomerProfiles"]) => self.create_profile(account, path, form),
            ("GET", ["v1", "Policies", sid]) if self.policies.contains(*sid) => {
                let body = json!({"sid": sid, "friendly_name": "Secondary Customer Profile of type Business",
                                  "requirements": {}, "url": format!("{}{path}", self.base)});
                Json(body).into_response()
            }
            ("POST", ["v1", "EndUsers"]) => {
                self.create_object(account, "IT", path, form, &["FriendlyName", "Type"])
            }
            ("POST", ["v1", "SupportingDocuments"]) => {
                self.create_object(account, "RD", path, form, &["FriendlyName", "Type"])
            }
            ("POST", ["2010-04-01", "Accounts", owner, "Addresses.json"]) if *owner == account => {
                let required = [
                    "CustomerName",
                    "Street",
                    "City",
                    "Region",
                    "PostalCode",
                    "IsoCountry",
                ];
                self.create_object(account, "AD", path, form, &required)
            }
            (_, ["v1", "CustomerProfiles", sid, rest @ ..])
                if self.owned_profile(account, sid).is_some() && self.kind_of(sid) == "customer_profile" =>
            {
                let sid = (*sid).to_owned();
                self.profile_route(account, method, &sid, rest, path, query, form)
            }
            (_, parts) => match super::kinds::addressed(parts) {
                Some((kind, rest)) => self.kind_route(account, method, kind, rest, path, query, form),
                None => not_found(path),
            },
        }
    }

    fn list_profiles(&self, account: &str, path: &str, query: &str) -> Response {
        let params = params(query);
        if let Some(status) = params
            .get("Status")
            .filter(|s| !rules::STATUSES.contains(&s.as_str()))
        {
            return invalid("Status", status);
        }
        if let Some(policy) = params.get("PolicySid").filter(|p| !is_sid(p, "RN")) {
            return invalid("PolicySid", policy);
        }
        let wanted = |p: &Value, key: &str, param: &str| params.get(param).is_none_or(|v| p[key] == *v);
        let items: Vec<Value> = self
            .profiles
            .values()
            .filter(|p| p["account_sid"] == account)
            .filter(|p| self.kind_of(p["sid"].as_str().unwrap_or_default()) == "customer_profile")
            .filter(|p| {
                wanted(p, "status", "Status")
                    && wanted(p, "friendly_name", "FriendlyName")
                    && wanted(p, "policy_sid", "PolicySid")
            })
            .cloned()
            .collect();
        let filters = ["Status", "FriendlyName", "PolicySid"];
        page(self.page_base(), path, query, &filters, &items)
    }

    fn page_base(&self) -> &str {
        self.next_page_origin.as_deref().unwrap_or(&self.base)
    }

    /// Twilio's refusal of a form's `PolicySid`: missing, malformed or unknown.
    pub(super) fn refuse_policy(&self, form: &Form) -> Option<Response> {
        let Some(policy) = field(form, "PolicySid") else {
            return Some(missing("PolicySid"));
        };
        if !is_sid(policy, "RN") {
            return Some(invalid("PolicySid", policy));
        }
        (!self.policies.contains(policy)).then(|| not_found(&format!("/v1/Policies/{policy}")))
    }

    fn create_profile(&mut self, account: &str, path: &str, form: &Form) -> Response {
        if let Some(name) = ["FriendlyName", "Email", "PolicySid"]
            .into_iter()
            .find(|name| field(form, name).is_none())
        {
            return missing(name);
        }
        if let Some(refused) = self.refuse_policy(form) {
            return refused;
        }
        let policy = field(form, "PolicySid").unwrap_or_default().to_owned();
        let sid = self.next_sid("BU");
        let mut profile = self.profile_json(&sid, account, "draft", &policy);
        profile["friendly_name"] = json!(field(form, "FriendlyName"));
        profile["email"] = json!(field(form, "Email"));
        profile["status_callback"] = json!(field(form, "StatusCallback"));
        profile["url"] = json!(format!("{}{path}/{sid}", self.base));
        self.profiles.insert(sid, profile.clone());
        (StatusCode::CREATED, Json(profile)).into_response()
    }

    #[allow(clippy::too_many_arguments)]
    fn profile_route(
        &mut self,
        account: &str,
        method: &Method,
        sid: &str,
        rest: &[&str],
        path: &str,
        query: &str,
        form: &Form,
    ) -> Response {
        match (method.as_str(), rest) {
            ("GET", []) => Json(self.profiles[sid].clone()).into_response(),
            ("POST", []) => self.update_profile(sid, form),
            ("POST", ["EntityAssignments"]) => self.assign(account, sid, form),
            ("POST", ["ChannelEndpointAssignments"]) => self.assign_endpoint(account, sid, form),
            ("GET", [list @ ("EntityAssignments" | "ChannelEndpointAssignments")]) => {
                let items: Vec<Value> = self
                    .assignment_records
                    .get(sid)
                    .into_iter()
                    .flatten()
                    .filter(|a| (*list == "EntityAssignments") == a.get("object_sid").is_some())
                    .cloned()
                    .collect();
                page(self.page_base(), path, query, &[], &items)
            }
            ("GET", ["Evaluations"]) => {
                let items = self.evaluations.get(sid).cloned().unwrap_or_default();
                page(self.page_base(), path, query, &[], &items)
            }
            ("GET", ["Evaluations", evaluation]) => self
                .evaluations
                .get(sid)
                .and_then(|all| all.iter().find(|e| e["sid"] == *evaluation))
                .map_or_else(|| not_found(path), |e| Json(e.clone()).into_response()),
            ("POST", ["Evaluations"]) => match self.refuse_policy(form) {
                Some(refused) => refused,
                None => (StatusCode::CREATED, Json(self.create_evaluation(sid))).into_response(),
            },
            _ => not_found(path),
        }
    }

    pub(super) fn update_profile(&mut self, sid: &str, form: &Form) -> Response {
        let properties = [
            ("StatusCallback", "status_callback"),
            ("FriendlyName", "friendly_name"),
            ("Email", "email"),
        ];
        let profile = self.profiles.get_mut(sid).unwrap();
        if let Some(status) = field(form, "Status") {
            if properties.iter().any(|(name, _)| field(form, name).is_some()) {
                return rules::status_with_properties();
            }
            let from = profile["status"].as_str().unwrap_or_default();
            if !rules::STATUSES.contains(&status) || !rules::client_may_set(from, status) {
                return bad_status(status);
            }
            profile["status"] = json!(status);
        }
        for (name, key) in properties {
            if let Some(value) = field(form, name) {
                profile[key] = json!(value);
            }
        }
        Json(profile.clone()).into_response()
    }

    /// Assigns an end user, supporting document or customer profile of the same account, once.
    fn assign(&mut self, account: &str, sid: &str, form: &Form) -> Response {
        let Some(object) = field(form, "ObjectSid") else {
            return missing("ObjectSid");
        };
        if !is_any_sid(object) {
            return bad_object(object, "is malformed");
        }
        let exists = match &object[..2] {
            "IT" | "RD" => self
                .objects
                .get(object)
                .is_some_and(|o| o["account_sid"] == account),
            // A profile of the account, or (an ISV's primary profile) of its parent.
            "BU" => {
                let parent = self.parents.get(account).cloned();
                object != sid
                    && (self.owned_profile(account, object).is_some()
                        || parent.is_some_and(|p| self.owned_profile(&p, object).is_some()))
            }
            _ => return bad_object_type(object),
        };
        if !exists {
            return bad_object(object, "does not exist in this account");
        }
        let assigned = self.assignments.entry(sid.into()).or_default();
        if assigned.iter().any(|a| a == object) {
            return bad_object(object, "is already assigned to this customer profile");
        }
        assigned.push(object.to_owned());
        let assignment = self.next_sid("BV");
        let body = json!({"sid": assignment, "customer_profile_sid": sid, "account_sid": account,
                          "object_sid": object, "date_created": self.now(),
                          "url": format!("{}/v1/CustomerProfiles/{sid}/EntityAssignments/{assignment}", self.base)});
        self.assignment_records
            .entry(sid.into())
            .or_default()
            .push(body.clone());
        (StatusCode::CREATED, Json(body)).into_response()
    }

    fn assign_endpoint(&mut self, account: &str, sid: &str, form: &Form) -> Response {
        let (Some(kind), Some(number)) = (
            field(form, "ChannelEndpointType"),
            field(form, "ChannelEndpointSid"),
        ) else {
            return missing("ChannelEndpointType and ChannelEndpointSid");
        };
        if !is_any_sid(number) {
            return invalid("ChannelEndpointSid", number);
        }
        if self
            .phone_numbers
            .get(sid)
            .is_some_and(|n| n.iter().any(|a| a == number))
        {
            return bad_object(number, "is already assigned to this customer profile");
        }
        let assignment = self.next_sid("RA");
        let body = json!({"sid": assignment, "customer_profile_sid": sid, "account_sid": account,
                          "channel_endpoint_type": kind, "channel_endpoint_sid": number,
                          "date_created": self.now(),
                          "url": format!("{}/v1/CustomerProfiles/{sid}/ChannelEndpointAssignments/{assignment}", self.base)});
        self.phone_numbers
            .entry(sid.into())
            .or_default()
            .push(number.to_owned());
        self.assignment_records
            .entry(sid.into())
            .or_default()
            .push(body.clone());
        (StatusCode::CREATED, Json(body)).into_response()
    }
}
