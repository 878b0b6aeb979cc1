//! A local Trust Hub that follows `shared/twilio/trusthub_v1.json` (and the Addresses of
//! `api_v2010_addresses.json`): the same paths, form-encoded requests, JSON shapes (from
//! Twilio's own examples), HTTP basic auth as an account (SID + auth token) or one of its API
//! keys (`SK…` + secret), every resource scoped to the account that created it, SIDs,
//! statuses and transitions checked, paging with filters and `PageToken` kept in `meta`,
//! Twilio's error bodies, and injectable faults (5xx, 429 with `Retry-After`, slow answers).
//! What only Twilio does (its reviewers' decisions) and a hostile server's tricks (a foreign
//! `next_page_url`, a redirect) are explicit test-side controls.

mod accounts;
mod events;
pub mod kinds;
mod messaging;
mod paging;
mod routes;
pub mod rules;
mod state;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use rules::error;
use serde_json::{json, Value};
use state::FakeState;
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
    /// `307 Temporary Redirect` to this URL (what a hijacked or misconfigured proxy might do).
    RedirectTo(String),
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub form: Vec<(String, String)>,
    pub username: Option<String>,
    pub status: u16,
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

impl FakeTrustHub {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(FakeState::new(&base)));
        let app = axum::Router::new().fallback(dispatch).with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base, state, task }
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// An account (`AC…`) and its auth token.
    pub fn add_account(&self, sid: &str, token: &str) {
        self.with(|s| s.accounts.push((sid.into(), token.into())));
    }

    /// An API key (`SK…` + secret) of `account`: it acts as that account.
    pub fn add_api_key(&self, key: &str, secret: &str, account: &str) {
        assert!(rules::is_sid(key, "SK"), "{key} is not an API key SID");
        self.with(|s| s.api_keys.push((key.into(), secret.into(), account.into())));
    }

    /// Adds a customer profile of `account` shaped like Twilio's fetch example.
    pub fn add_profile(&self, sid: &str, account: &str, status: &str) {
        self.add_profile_with(sid, account, status, rules::TEST_POLICY, "friendly_name");
    }

    pub fn add_profile_with(&self, sid: &str, account: &str, status: &str, policy: &str, name: &str) {
        assert!(rules::is_sid(sid, "BU") && rules::is_sid(account, "AC"));
        assert!(rules::STATUSES.contains(&status), "{status} is not a status");
        self.with(|s| {
            let mut profile = s.profile_json(sid, account, status, policy);
            profile["friendly_name"] = json!(name);
            s.profiles.insert(sid.into(), profile);
        });
    }

    /// Adds a trust product (`kinds::TRUST_PRODUCT`) or regulatory bundle
    /// (`kinds::REGULATORY_BUNDLE`) of `account`, shaped like Twilio's fetch example.
    pub fn add_bundle(&self, kind: &str, sid: &str, account: &str, status: &str, name: &str) {
        assert!(rules::is_sid(sid, "BU") && rules::is_sid(account, "AC"));
        assert!(
            [kinds::TRUST_PRODUCT, kinds::REGULATORY_BUNDLE].contains(&kind),
            "{kind}"
        );
        assert!(
            kinds::is_status_of(kind, status),
            "{status} is not a {kind} status"
        );
        self.with(|s| {
            let mut bundle = s.bundle_json(kind, sid, account, status, rules::TEST_POLICY);
            bundle["friendly_name"] = json!(name);
            s.profiles.insert(sid.into(), bundle);
            s.kinds.insert(sid.into(), kind.into());
        });
    }

    /// Twilio's reviewers (or Twilio's own processing) move a profile: what no client can do.
    pub fn set_status(&self, sid: &str, status: &str) {
        self.with(|s| {
            assert!(
                kinds::is_status_of(s.kind_of(sid), status),
                "{status} is not a status"
            );
            s.profiles.get_mut(sid).unwrap()["status"] = json!(status)
        });
    }

    /// Twilio's review sets until when an approval holds (`valid_until`, ISO 8601 as Twilio
    /// writes it); `None` clears it.
    pub fn set_valid_until(&self, sid: &str, until: Option<chrono::DateTime<chrono::Utc>>) {
        self.with(|s| {
            let bundle = s.profiles.get_mut(sid).unwrap();
            assert!(
                bundle.get("valid_until").is_some(),
                "Twilio's {sid} has no valid_until"
            );
            bundle["valid_until"] =
                until.map_or(Value::Null, |t| json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()));
        });
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

    /// List pages point `next_page_url` at `origin` (same path and query) from now on: a
    /// Trust Hub answer that would lead credentials elsewhere.
    pub fn send_next_pages_to(&self, origin: &str) {
        self.with(|s| s.next_page_origin = Some(origin.to_owned()));
    }

    /// Every customer profile the fake holds, of every account.
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

/// The basic-auth username and password of a request.
pub fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
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
    let creds = basic_auth(&headers);
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
        let account = creds.as_ref().and_then(|(user, pass)| s.authenticate(user, pass));
        let is_form = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        match (account, &fault) {
            (None, _) => error(401, 20003, "Authenticate"),
            _ if method == Method::POST && !is_form && !body.is_empty() => {
                error(415, 20415, "Unsupported Media Type")
            }
            (_, Some(Fault::Status(status))) => error(*status, 20500, "Internal Server Error"),
            (_, Some(Fault::TooManyRequests { retry_after_secs })) => {
                let mut r = error(429, 20429, "Too Many Requests");
                r.headers_mut()
                    .insert("retry-after", retry_after_secs.to_string().parse().unwrap());
                r
            }
            (_, Some(Fault::RedirectTo(location))) => {
                (StatusCode::TEMPORARY_REDIRECT, [("location", location.clone())]).into_response()
            }
            (Some(account), _) => {
                let query = uri.query().unwrap_or_default();
                s.route(&account, &method, uri.path(), query, &form)
            }
        }
    };
    if let Some(Fault::SlowAnswer(delay)) = &fault {
        tokio::time::sleep(*delay).await;
    }
    state.lock().unwrap().requests.push(Seen {
        method: method.to_string(),
        path: uri.path().into(),
        query: uri.query().unwrap_or_default().into(),
        form,
        username: creds.map(|c| c.0),
        status: response.status().as_u16(),
    });
    response
}
