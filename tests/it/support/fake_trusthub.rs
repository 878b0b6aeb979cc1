//! A local Trust Hub that follows `shared/twilio/trusthub_v1.json`: the same paths, HTTP basic
//! auth, form-encoded requests, JSON shapes (from Twilio's own examples), paging with
//! `meta.next_page_url`, Twilio's error bodies, and injectable faults (5xx, 429 with
//! `Retry-After`, slow answers).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A fault the next request meets.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and Twilio's error body.
    Status(u16),
    /// 429 with `Retry-After`.
    TooManyRequests { retry_after_secs: u64 },
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Do the work at once, but answer only after this long (a lost or late answer).
    SlowAnswer(Duration),
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub form: Vec<(String, String)>,
    pub username: Option<String>,
    pub status: u16,
}

#[derive(Default)]
pub struct FakeState {
    credentials: Vec<(String, String)>,
    profiles: BTreeMap<String, Value>,
    evaluations: HashMap<String, Vec<Value>>,
    compliant: HashSet<String>,
    faults: VecDeque<Fault>,
    /// Faults for the next request whose "METHOD /path" contains the key.
    targeted: Vec<(String, Fault)>,
    /// Created end users, supporting documents and addresses, by SID.
    pub objects: BTreeMap<String, Value>,
    /// Profile SID -> assigned object SIDs.
    assignments: HashMap<String, Vec<String>>,
    /// Profile SID -> assigned phone number SIDs.
    phone_numbers: HashMap<String, Vec<String>>,
    requests: Vec<Seen>,
    /// Requests that arrived (answered or not).
    arrivals: usize,
    counter: u64,
    base: String,
}

pub struct FakeTrustHub {
    pub base: String,
    state: Arc<Mutex<FakeState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTrustHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn examples() -> Value {
    serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/twilio/trusthub_examples.json"
    )))
    .unwrap()
}

impl FakeTrustHub {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(FakeState {
            base: base.clone(),
            ..FakeState::default()
        }));
        let app = axum::Router::new().fallback(dispatch).with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base, state, task }
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn add_account(&self, username: &str, password: &str) {
        self.with(|s| s.credentials.push((username.into(), password.into())));
    }

    /// Adds a customer profile shaped like Twilio's fetch example.
    pub fn add_profile(&self, sid: &str, account: &str, status: &str) {
        self.with(|s| {
            let profile = s.profile_json(sid, account, status, "RN".to_owned() + &"1".repeat(32));
            s.profiles.insert(sid.into(), profile);
        });
    }

    pub fn set_status(&self, sid: &str, status: &str) {
        self.with(|s| s.profiles.get_mut(sid).unwrap()["status"] = json!(status));
    }

    pub fn profile(&self, sid: &str) -> Option<Value> {
        self.with(|s| s.profiles.get(sid).cloned())
    }

    /// Evaluations created from now on for this profile pass.
    pub fn make_compliant(&self, sid: &str) {
        self.with(|s| s.compliant.insert(sid.into()));
    }

    /// The profile no longer meets its policy (edited since its last evaluation).
    pub fn make_noncompliant(&self, sid: &str) {
        self.with(|s| s.compliant.remove(sid));
    }

    /// Stores an evaluation as if the customer had created one.
    pub fn add_evaluation(&self, profile_sid: &str) -> Value {
        self.with(|s| s.create_evaluation(profile_sid))
    }

    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.with(|s| s.faults.extend(faults));
    }

    /// The next request whose "METHOD /path" contains `target` meets `fault`.
    pub fn inject_on(&self, target: &str, fault: Fault) {
        self.with(|s| s.targeted.push((target.to_owned(), fault)));
    }

    /// Every customer profile the fake holds.
    pub fn profiles(&self) -> Vec<Value> {
        self.with(|s| s.profiles.values().cloned().collect())
    }

    pub fn objects(&self) -> Vec<Value> {
        self.with(|s| s.objects.values().cloned().collect())
    }

    pub fn assignments(&self, profile: &str) -> Vec<String> {
        self.with(|s| s.assignments.get(profile).cloned().unwrap_or_default())
    }

    pub fn phone_numbers(&self, profile: &str) -> Vec<String> {
        self.with(|s| s.phone_numbers.get(profile).cloned().unwrap_or_default())
    }

    pub fn arrivals(&self) -> usize {
        self.with(|s| s.arrivals)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.with(|s| s.requests.clone())
    }
}

fn error(status: u16, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    });
    (StatusCode::from_u16(status).unwrap(), Json(body)).into_response()
}

fn username(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(value).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.into(), pass.into()))
}

async fn dispatch(
    State(state): State<Arc<Mutex<FakeState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let creds = username(&headers);
    let fault = {
        let mut s = state.lock().unwrap();
        s.arrivals += 1;
        let here = format!("{method} {}", uri.path());
        match s
            .targeted
            .iter()
            .position(|(target, _)| here.contains(target.as_str()))
        {
            Some(i) => Some(s.targeted.remove(i).1),
            None => s.faults.pop_front(),
        }
    };
    if let Some(Fault::Delay(delay)) = &fault {
        tokio::time::sleep(*delay).await;
    }
    let response = {
        let mut s = state.lock().unwrap();
        let authorized = creds.as_ref().is_some_and(|c| s.credentials.contains(c));
        let is_form = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !authorized {
            error(401, 20003, "Authenticate")
        } else if method == Method::POST && !is_form && !body.is_empty() {
            error(415, 20415, "Unsupported Media Type")
        } else {
            match fault {
                Some(Fault::Status(status)) => error(status, 20500, "Internal Server Error"),
                Some(Fault::TooManyRequests { retry_after_secs }) => {
                    let mut r = error(429, 20429, "Too Many Requests");
                    r.headers_mut()
                        .insert("retry-after", retry_after_secs.to_string().parse().unwrap());
                    r
                }
                _ => s.route(&method, uri.path(), uri.query().unwrap_or_default(), &form),
            }
        }
    };
    if let Some(Fault::SlowAnswer(delay)) = &fault {
        tokio::time::sleep(*delay).await;
    }
    state.lock().unwrap().requests.push(Seen {
        method: method.to_string(),
        path: uri.path().into(),
        form,
        username: creds.map(|c| c.0),
        status: response.status().as_u16(),
    });
    response
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

impl FakeState {
    fn next_sid(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{:032x}", self.counter)
    }

    /// A strictly increasing creation time, in Twilio's format.
    fn now(&mut self) -> String {
        self.counter += 1;
        let at = chrono::DateTime::from_timestamp(1_780_000_000 + self.counter as i64, 0).unwrap();
        at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    fn profile_json(&mut self, sid: &str, account: &str, status: &str, policy: String) -> Value {
        let mut profile = examples()["customer_profile_fetch_200"]["fetch"]["value"].clone();
        let base = format!("{}/v1/CustomerProfiles/{sid}", self.base);
        profile["sid"] = json!(sid);
        profile["account_sid"] = json!(account);
        profile["status"] = json!(status);
        profile["policy_sid"] = json!(policy);
        profile["url"] = json!(base);
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

    fn create_evaluation(&mut self, profile_sid: &str) -> Value {
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
            .push(evaluation.clone());
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

    fn create_object(
        &mut self,
        prefix: &str,
        path: &str,
        form: &[(String, String)],
        required: &[&str],
    ) -> Response {
        if let Some(missing) = required.iter().find(|name| field(form, name).is_none()) {
            return error(
                400,
                20001,
                &format!("Missing required parameter {missing} in the post body"),
            );
        }
        let attributes: Value = match field(form, "Attributes").map(serde_json::from_str).transpose() {
            Ok(attributes) => attributes.unwrap_or(Value::Null),
            Err(_) => return error(400, 20001, "Attributes must be JSON"),
        };
        let sid = self.next_sid(prefix);
        let object = json!({
            "sid": sid,
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

    /// A page of `items` as Twilio pages lists (`PageSize`, `Page`).
    fn page(&self, path: &str, query: &str, items: Vec<Value>) -> Response {
        let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let size: usize = params
            .get("PageSize")
            .and_then(|v| v.parse().ok())
            .unwrap_or(50)
            .clamp(1, 1000);
        let page: usize = params.get("Page").and_then(|v| v.parse().ok()).unwrap_or(0);
        let url = |p: usize| format!("{}{path}?PageSize={size}&Page={p}", self.base);
        let start = (page * size).min(items.len());
        let end = (start + size).min(items.len());
        let body = json!({
            "results": items[start..end],
            "meta": {
                "page": page,
                "page_size": size,
                "first_page_url": url(0),
                "previous_page_url": if page > 0 { json!(url(page - 1)) } else { Value::Null },
                "url": url(page),
                "next_page_url": if end < items.len() { json!(url(page + 1)) } else { Value::Null },
                "key": "results",
            }
        });
        Json(body).into_response()
    }

    fn route(&mut self, method: &Method, path: &str, query: &str, form: &[(String, String)]) -> Response {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let not_found = || {
            error(
                404,
                20404,
                &format!("The requested resource {path} was not found"),
            )
        };
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["v1", "CustomerProfiles"]) => {
                let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
                    .into_owned()
                    .collect();
                let wanted =
                    |p: &&Value, key: &str, param: &str| params.get(param).is_none_or(|v| p[key] == json!(v));
                let items = self
                    .profiles
                    .values()
                    .filter(|p| {
                        wanted(p, "friendly_name", "FriendlyName") && wanted(p, "policy_sid", "PolicySid")
                    })
                    .cloned()
                    .collect();
                self.page(path, query, items)
            }
            ("POST", ["v1", "CustomerProfiles"]) => {
                for required in ["FriendlyName", "Email", "PolicySid"] {
                    if field(form, required).is_none() {
                        return error(
                            400,
                            20001,
                            &format!("Missing required parameter {required} in the post body"),
                        );
                    }
                }
                let sid = self.next_sid("BU");
                let account = self.credentials.first().map(|c| c.0.clone()).unwrap_or_default();
                let mut profile = self.profile_json(
                    &sid,
                    &account,
                    "draft",
                    field(form, "PolicySid").unwrap().to_owned(),
                );
                profile["friendly_name"] = json!(field(form, "FriendlyName"));
                profile["email"] = json!(field(form, "Email"));
                profile["status_callback"] = json!(field(form, "StatusCallback"));
                self.profiles.insert(sid, profile.clone());
                (StatusCode::CREATED, Json(profile)).into_response()
            }
            ("GET", ["v1", "Policies", sid]) => {
                let body = json!({"sid": sid, "friendly_name": "Secondary Customer Profile of type Business",
                                  "requirements": {}, "url": format!("{}{path}", self.base)});
                Json(body).into_response()
            }
            ("POST", ["v1", "EndUsers"]) => self.create_object("IT", path, form, &["FriendlyName", "Type"]),
            ("POST", ["v1", "SupportingDocuments"]) => {
                self.create_object("RD", path, form, &["FriendlyName", "Type"])
            }
            ("POST", ["2010-04-01", "Accounts", _, "Addresses.json"]) => self.create_object(
                "AD",
                path,
                form,
                &[
                    "CustomerName",
                    "Street",
                    "City",
                    "Region",
                    "PostalCode",
                    "IsoCountry",
                ],
            ),
            ("POST", ["v1", "CustomerProfiles", sid, "EntityAssignments"]) => {
                if !self.profiles.contains_key(*sid) {
                    return not_found();
                }
                let Some(object) = field(form, "ObjectSid").map(str::to_owned) else {
                    return error(
                        400,
                        20001,
                        "Missing required parameter ObjectSid in the post body",
                    );
                };
                if !object.starts_with("BU") && !self.objects.contains_key(&object) {
                    return error(400, 22207, &format!("Object {object} does not exist"));
                }
                self.assignments
                    .entry((*sid).into())
                    .or_default()
                    .push(object.clone());
                let assignment = self.next_sid("BV");
                let body = json!({"sid": assignment, "customer_profile_sid": sid, "object_sid": object});
                (StatusCode::CREATED, Json(body)).into_response()
            }
            ("POST", ["v1", "CustomerProfiles", sid, "ChannelEndpointAssignments"]) => {
                if !self.profiles.contains_key(*sid) {
                    return not_found();
                }
                let (Some(kind), Some(number)) = (
                    field(form, "ChannelEndpointType"),
                    field(form, "ChannelEndpointSid"),
                ) else {
                    return error(
                        400,
                        20001,
                        "Missing required parameter ChannelEndpointType or ChannelEndpointSid",
                    );
                };
                let body = json!({"sid": self.next_sid("RA"), "customer_profile_sid": sid,
                                  "channel_endpoint_type": kind, "channel_endpoint_sid": number});
                self.phone_numbers
                    .entry((*sid).into())
                    .or_default()
                    .push(number.to_owned());
                (StatusCode::CREATED, Json(body)).into_response()
            }
            ("GET", ["v1", "CustomerProfiles", sid]) => match self.profiles.get(*sid) {
                Some(p) => Json(p.clone()).into_response(),
                None => not_found(),
            },
            ("POST", ["v1", "CustomerProfiles", sid]) => {
                let Some(profile) = self.profiles.get_mut(*sid) else {
                    return not_found();
                };
                for (name, key) in [
                    ("Status", "status"),
                    ("StatusCallback", "status_callback"),
                    ("FriendlyName", "friendly_name"),
                    ("Email", "email"),
                ] {
                    if let Some(value) = field(form, name) {
                        profile[key] = json!(value);
                    }
                }
                Json(profile.clone()).into_response()
            }
            ("GET", ["v1", "CustomerProfiles", sid, "Evaluations"]) => {
                if !self.profiles.contains_key(*sid) {
                    return not_found();
                }
                let items = self.evaluations.get(*sid).cloned().unwrap_or_default();
                self.page(path, query, items)
            }
            ("POST", ["v1", "CustomerProfiles", sid, "Evaluations"]) => {
                if !self.profiles.contains_key(*sid) {
                    return not_found();
                }
                if field(form, "PolicySid").is_none() {
                    return error(
                        400,
                        20001,
                        "Missing required parameter PolicySid in the post body",
                    );
                }
                (StatusCode::CREATED, Json(self.create_evaluation(sid))).into_response()
            }
            _ => not_found(),
        }
    }
}
