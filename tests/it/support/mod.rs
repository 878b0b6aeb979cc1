//! Starts the real service on port 0 against a real database: a temporary SQLite file, or a
//! fresh PostgreSQL database per test (dropped afterwards). The PostgreSQL variants are
//! `#[ignore]`d (run them with `--ignored` or `--include-ignored`), and fail when PostgreSQL
//! is unreachable.

use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use trusthub_hooks::app::Application;
use trusthub_hooks::config::{Config, SqliteSynchronous};
use trusthub_hooks::store::{self, DynStore};

pub const TOKEN: &str = "12345678901234567890123456789012";
pub const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const API_TOKEN: &str = "test-api-token-0123456789";
pub const PUBLIC_URL: &str = "https://hooks.example.com/th";
pub mod fake_trusthub;
pub mod process;
pub mod proxy;
pub mod receiver;
pub mod smtp;
pub mod twilio_sign;

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend: `both_backends!(name)` for `async fn name(Backend)`.
/// The PostgreSQL variant is ignored unless asked for (`--ignored`, `--include-ignored`).
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    )*};
}

fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    /// Panics when PostgreSQL is asked for and unreachable: a test that needs it fails
    /// rather than passing without having run.
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                Self {
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                use sqlx::Connection as _;
                let mut admin = sqlx::PgConnection::connect(PG_ADMIN_URL)
                    .await
                    .unwrap_or_else(|error| {
                        panic!(
                            "this test needs PostgreSQL at {PG_ADMIN_URL} (user postgres, trust \
                             auth), which is unreachable: {error}. Start it, or run without \
                             --ignored/--include-ignored to leave the PostgreSQL tests out."
                        )
                    });
                let name = unique("th_test");
                sqlx::query(&format!("create database {name}"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
                Self {
                    url,
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }
}

impl TestDb {
    /// A count read straight from the database (what no API shows), on either backend.
    pub async fn count(&self, sql: &str) -> i64 {
        use sqlx::Connection as _;
        if self.url.starts_with("postgres") {
            let mut db = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut db).await.unwrap()
        } else {
            let mut db = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut db).await.unwrap()
        }
    }

    /// Runs one statement straight on the database (a test playing another process).
    pub async fn execute(&self, sql: &str) {
        use sqlx::Connection as _;
        if self.url.starts_with("postgres") {
            let mut db = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&mut db).await.unwrap();
        } else {
            let mut db = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&mut db).await.unwrap();
        }
    }

    /// The same database, not dropped with this handle: for a second app on it, while the
    /// owner lives.
    pub fn shared(&self) -> Self {
        Self {
            url: self.url.clone(),
            _dir: None,
            pg_name: None,
        }
    }

    /// The store on this database, opened as the service opens it, and migrated. Migrating
    /// again is a no-op (replicas start together and each migrates): done here too, so every
    /// test that opens a store checks it.
    pub async fn store(&self) -> DynStore {
        let store = store::connect(&self.url, SqliteSynchronous::Normal)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else { return };
        // Drop runs outside any runtime guarantee: use a private one on its own thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                use sqlx::Connection as _;
                if let Ok(mut admin) = sqlx::PgConnection::connect(PG_ADMIN_URL).await {
                    let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

/// The environment a test app runs with; tests add to it.
pub fn base_env(db: &TestDb) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", db.url.clone()),
        ("LISTEN_ADDR", "127.0.0.1:0".into()),
        ("PUBLIC_URL", PUBLIC_URL.into()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT.into()),
        ("TWILIO_AUTH_TOKEN", TOKEN.into()),
        ("API_TOKENS", API_TOKEN.into()),
        // No Twilio to ask about accounts that are not configured: the subaccount tests
        // (`subaccounts.rs`) turn discovery on, with the fake's Accounts API.
        ("SUBACCOUNT_DISCOVERY", "false".into()),
    ]
}

/// The service, running in this process until dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    pub db: TestDb,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, None, |_| {}).await
    }

    /// Starts with the base environment changed by `tweak`, and an optional TOML file.
    pub async fn spawn_with(
        backend: Backend,
        toml: Option<&str>,
        tweak: impl FnOnce(&mut Vec<(&'static str, String)>),
    ) -> Self {
        Self::spawn_on(TestDb::new(backend).await, toml, tweak).await
    }

    /// Starts on `db` (`TestDb::shared` for a second app on one database).
    pub async fn spawn_on(
        db: TestDb,
        toml: Option<&str>,
        tweak: impl FnOnce(&mut Vec<(&'static str, String)>),
    ) -> Self {
        let mut env = base_env(&db);
        tweak(&mut env);
        numbers_follow_trusthub(&mut env);
        let file = toml.map(|text| {
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), text).unwrap();
            file
        });
        let config = Config::load_from(file.as_ref().map(|f| f.path()), env).unwrap();
        let app = Application::build(&config).await.unwrap();
        let addr = app.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self {
            addr,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Posts a form callback signed with `token` for the URL under `PUBLIC_URL`.
    pub async fn post_signed(&self, params: &[(&str, &str)], token: &str) -> reqwest::Response {
        let path = "/th/twilio/status-callback";
        let signature = sign(&format!("{PUBLIC_URL}/twilio/status-callback"), params, token);
        self.post_form(path, params, Some(&signature), &[]).await
    }

    /// Posts a form body with an optional signature and extra headers.
    pub async fn post_form(
        &self,
        path: &str,
        params: &[(&str, &str)],
        signature: Option<&str>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let body = serde_urlencoded::to_string(params).unwrap();
        let mut request = self
            .client
            .post(self.url(path))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("X-Twilio-Signature", signature);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// GET under `/v1` with the test API token; returns status and JSON. Panics on a 5xx.
    pub async fn api_get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        // A 5xx is the failure it is, not an empty answer to wait on.
        assert!(status < 500, "GET {path}: the server failed: {status} {body}");
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A Twilio signature (HMAC-SHA1), computed by the tests' own signer
/// ([`twilio_sign`], checked against twilio-python), not by the code under test.
pub fn sign(url: &str, params: &[(&str, &str)], token: &str) -> String {
    twilio_sign::form(url, params, token)
}

/// The value of one series (name and labels exactly as rendered) in a Prometheus text
/// exposition; 0 when absent, as an unregistered counter is.
pub fn metric(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

/// A customer profile SID numbered `n`.
/// The fake Trust Hub serves the numbers v2, 2010-04-01 and Messaging APIs too: a test that
/// points `TRUSTHUB_API_URL` somewhere points the others there as well (unless it set them),
/// so no test calls Twilio itself.
pub fn numbers_follow_trusthub<K: AsRef<str> + From<&'static str>>(env: &mut Vec<(K, String)>) {
    let get = |env: &Vec<(K, String)>, name: &str| {
        env.iter()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v.clone())
    };
    let Some(trusthub) = get(env, "TRUSTHUB_API_URL") else {
        return;
    };
    for name in [
        "TWILIO_NUMBERS_API_URL",
        "TWILIO_API_URL",
        "TWILIO_MESSAGING_API_URL",
    ] {
        if get(env, name).is_none() {
            env.push((name.into(), trusthub.clone()));
        }
    }
}

pub fn bundle(n: u32) -> String {
    format!("BU{n:032x}")
}

/// The fields of a status callback.
pub fn callback<'a>(sid: &'a str, status: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("AccountSid", ACCOUNT), ("BundleSid", sid), ("Status", status)]
}

/// The vectors computed by twilio-python (tests/vectors/generate.py).
pub fn vectors() -> Value {
    serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/twilio_python.json"
    )))
    .unwrap()
}

/// Polls `check` until it yields `Some`, failing after `secs` seconds.
pub async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Environment for fast job retries in tests.
pub fn fast_jobs(env: &mut Vec<(&'static str, String)>) {
    env.push(("WORKER_POLL_MS", "20".into()));
    env.push(("JOB_RETRY_BASE_MS", "20".into()));
    env.push(("JOB_RETRY_MAX_MS", "200".into()));
}
