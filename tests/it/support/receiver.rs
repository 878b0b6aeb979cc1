//! A webhook receiver on loopback: records every request and answers from a script
//! (status and optional `Retry-After`), 200 once the script is used up.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Hit {
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Default)]
struct State_ {
    hits: Vec<Hit>,
    script: VecDeque<(u16, Option<u64>)>,
    /// A `Location` for the next answer.
    location: Option<String>,
    /// How long each answer waits after its request has been read.
    delay: std::time::Duration,
}

pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<State_>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn hit(State(state): State<Arc<Mutex<State_>>>, headers: HeaderMap, body: Bytes) -> Response {
    let delay = {
        let mut s = state.lock().unwrap();
        s.hits.push(Hit { headers, body });
        s.delay
    };
    tokio::time::sleep(delay).await;
    let mut s = state.lock().unwrap();
    let (status, retry_after) = s.script.pop_front().unwrap_or((200, None));
    let mut response = StatusCode::from_u16(status).unwrap().into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
    }
    if let Some(location) = s.location.take() {
        response
            .headers_mut()
            .insert("location", location.parse().unwrap());
    }
    response
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_from(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    /// On a listener the test bound earlier (and kept, so no other process can take its port).
    pub fn start_from(listener: tokio::net::TcpListener) -> Self {
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State_::default()));
        let app = axum::Router::new().fallback(hit).with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, state, task }
    }

    /// The next requests get these answers: (status, Retry-After seconds).
    pub fn script(&self, answers: &[(u16, Option<u64>)]) {
        self.state.lock().unwrap().script.extend(answers.iter().copied());
    }

    /// Every answer from now on waits this long after its request arrived (a slow subscriber).
    pub fn answer_after(&self, delay: std::time::Duration) {
        self.state.lock().unwrap().delay = delay;
    }

    /// The next answer carries `Location: url`.
    pub fn redirect_next_to(&self, url: &str) {
        self.state.lock().unwrap().location = Some(url.to_owned());
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state.lock().unwrap().hits.clone()
    }
}
