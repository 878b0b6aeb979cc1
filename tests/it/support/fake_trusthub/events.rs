//! The Events API (`shared/twilio/events_v1_sinks.json`): webhook sinks, subscriptions and
//! their subscribed event types, each account seeing only its own, form-encoded and checked
//! (sink type, the sink configuration's JSON, each `Types` entry's JSON), listed under the
//! description's keys.

use super::paging::{keyed_page, params};
use super::rules::{invalid, missing, not_found};
use super::state::{field, FakeState};
use super::FakeTrustHub;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

type Form = [(String, String)];

impl FakeState {
    /// An Events API request; `None` when the path is not one.
    pub fn events_route(
        &mut self,
        account: &str,
        method: &str,
        parts: &[&str],
        path: &str,
        query: &str,
        form: &Form,
    ) -> Option<Response> {
        let base = self.base.clone();
        Some(match (method, parts) {
            ("GET", ["v1", "Sinks"]) => {
                let mine: Vec<Value> = self
                    .sinks
                    .iter()
                    .filter(|s| s["account_sid"] == account)
                    .cloned()
                    .collect();
                keyed_page(&base, path, query, &[], &mine, "sinks")
            }
            ("POST", ["v1", "Sinks"]) => self.create_sink(account, form),
            ("GET", ["v1", "Subscriptions"]) => {
                let sink = params(query).get("SinkSid").cloned();
                let mine: Vec<Value> = self
                    .subscriptions
                    .iter()
                    .filter(|s| s["account_sid"] == account)
                    .filter(|s| sink.as_ref().is_none_or(|k| s["sink_sid"] == k.as_str()))
                    .cloned()
                    .collect();
                keyed_page(&base, path, query, &["SinkSid"], &mine, "subscriptions")
            }
            ("POST", ["v1", "Subscriptions"]) => self.create_subscription(account, form),
            (_, ["v1", "Subscriptions", sid, "SubscribedEvents"]) => {
                if !self
                    .subscriptions
                    .iter()
                    .any(|s| s["sid"] == *sid && s["account_sid"] == account)
                {
                    return Some(not_found(path));
                }
                let sid = (*sid).to_owned();
                if method == "POST" {
                    let Some(kind) = field(form, "Type") else {
                        return Some(missing("Type"));
                    };
                    let types = self.subscribed.entry(sid.clone()).or_default();
                    if types.iter().any(|t| t == kind) {
                        return Some(invalid("Type", kind));
                    }
                    types.push(kind.to_owned());
                    let body = json!({"account_sid": account, "type": kind, "schema_version": 1, "subscription_sid": sid});
                    (StatusCode::CREATED, Json(body)).into_response()
                } else {
                    let items: Vec<Value> = self
                        .subscribed
                        .get(&sid)
                        .into_iter()
                        .flatten()
                        .map(|t| json!({"account_sid": account, "type": t, "schema_version": 1, "subscription_sid": sid}))
                        .collect();
                    keyed_page(&base, path, query, &[], &items, "types")
                }
            }
            _ => return None,
        })
    }

    fn create_sink(&mut self, account: &str, form: &Form) -> Response {
        let (Some(description), Some(kind), Some(configuration)) = (
            field(form, "Description"),
            field(form, "SinkType"),
            field(form, "SinkConfiguration"),
        ) else {
            return missing("Description, SinkType and SinkConfiguration");
        };
        if !["kinesis", "webhook", "segment", "email"].contains(&kind) {
            return invalid("SinkType", kind);
        }
        let Ok(configuration) = serde_json::from_str::<Value>(configuration) else {
            return invalid("SinkConfiguration", configuration);
        };
        if kind == "webhook"
            && configuration["destination"]
                .as_str()
                .is_none_or(|d| !d.starts_with("http"))
        {
            return invalid("SinkConfiguration", &configuration.to_string());
        }
        let sid = self.next_sid("DG");
        let sink = json!({"sid": sid, "account_sid": account, "description": description, "sink_type": kind,
                          "sink_configuration": configuration, "status": "active", "date_created": self.now(),
                          "url": format!("{}/v1/Sinks/{sid}", self.base)});
        self.sinks.push(sink.clone());
        (StatusCode::CREATED, Json(sink)).into_response()
    }

    fn create_subscription(&mut self, account: &str, form: &Form) -> Response {
        let (Some(description), Some(sink)) = (field(form, "Description"), field(form, "SinkSid")) else {
            return missing("Description and SinkSid");
        };
        if !self
            .sinks
            .iter()
            .any(|s| s["sid"] == sink && s["account_sid"] == account)
        {
            return invalid("SinkSid", sink);
        }
        let mut types = Vec::new();
        for (name, value) in form.iter().filter(|(name, _)| name == "Types") {
            match serde_json::from_str::<Value>(value)
                .ok()
                .and_then(|t| t["type"].as_str().map(str::to_owned))
            {
                Some(kind) => types.push(kind),
                None => return invalid(name, value),
            }
        }
        if types.is_empty() {
            return missing("Types");
        }
        let sid = self.next_sid("DF");
        let subscription = json!({"sid": sid, "account_sid": account, "description": description, "sink_sid": sink,
                                  "date_created": self.now(), "url": format!("{}/v1/Subscriptions/{sid}", self.base)});
        self.subscriptions.push(subscription.clone());
        self.subscribed.insert(sid, types);
        (StatusCode::CREATED, Json(subscription)).into_response()
    }
}

impl FakeTrustHub {
    /// Every sink, of every account.
    pub fn sinks(&self) -> Vec<Value> {
        self.with(|s| s.sinks.clone())
    }

    /// Every subscription, each with its subscribed types.
    pub fn subscriptions(&self) -> Vec<(Value, Vec<String>)> {
        self.with(|s| {
            s.subscriptions
                .iter()
                .map(|sub| {
                    let types = s
                        .subscribed
                        .get(sub["sid"].as_str().unwrap_or_default())
                        .cloned()
                        .unwrap_or_default();
                    (sub.clone(), types)
                })
                .collect()
        })
    }

    /// Drops one subscribed type (someone edited the subscription in the console).
    pub fn unsubscribe(&self, subscription: &str, kind: &str) {
        self.with(|s| {
            if let Some(types) = s.subscribed.get_mut(subscription) {
                types.retain(|t| t != kind);
            }
        });
    }
}
