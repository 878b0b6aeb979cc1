//! The real `trusthub-hooks serve` binary as a child process: started, killed, restarted.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};
use trusthub_hooks::config::ENV_VARS;

/// The binary with none of the caller's configuration leaking in.
pub fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trusthub-hooks"));
    for name in ENV_VARS.iter().chain(&["TRUSTHUB_HOOKS_CONFIG"]) {
        command.env_remove(name);
    }
    command
}

/// Runs the binary with `env` and `args` as a user would (off the runtime's threads, so that
/// fakes served by the test keep answering): the exit code and everything printed.
pub async fn run_cli(env: &[(&'static str, String)], args: &[&str]) -> (i32, String) {
    let env = env.to_vec();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let output = bin().envs(env).args(&args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code().unwrap_or(-1), text)
    })
    .await
    .unwrap()
}

pub struct ServeProcess {
    child: Child,
    pub addr: String,
    log: Receiver<String>,
}

/// The environment every child `serve` of these tests starts from: the shared test
/// account, `PUBLIC_URL` and API token, on `database_url`.
pub fn serve_env(database_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database_url.to_owned()),
        ("PUBLIC_URL", super::PUBLIC_URL.to_owned()),
        ("TWILIO_ACCOUNT_SID", super::ACCOUNT.to_owned()),
        ("TWILIO_AUTH_TOKEN", super::TOKEN.to_owned()),
        ("API_TOKENS", super::API_TOKEN.to_owned()),
        // As in `base_env`: discovery is turned on by the tests that give it a Twilio to ask.
        ("SUBACCOUNT_DISCOVERY", "false".to_owned()),
    ]
}

impl ServeProcess {
    /// Posts a status callback signed as Twilio signs it for `PUBLIC_URL`; returns the status.
    pub async fn post_signed(&self, client: &reqwest::Client, params: &[(&str, &str)]) -> u16 {
        let url = format!("{}/twilio/status-callback", super::PUBLIC_URL);
        client
            .post(self.url("/th/twilio/status-callback"))
            .header("X-Twilio-Signature", super::sign(&url, params, super::TOKEN))
            .form(params)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// GETs a path with the test API token; `None` while the server cannot be reached (a
    /// restart), and a panic on a 5xx: a failure, not something to wait out.
    pub async fn api_json(&self, client: &reqwest::Client, path: &str) -> Option<serde_json::Value> {
        let response = client
            .get(self.url(path))
            .bearer_auth(super::API_TOKEN)
            .send()
            .await
            .ok()?;
        let status = response.status();
        let body = response.text().await.ok()?;
        assert!(
            !status.is_server_error(),
            "GET {path}: the server failed: {status} {body}"
        );
        serde_json::from_str(&body).ok()
    }

    /// Starts `serve` on port 0 with `env` and waits (with a deadline) for its address.
    pub fn start(env: &[(&str, String)]) -> Self {
        let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        super::numbers_follow_trusthub(&mut env);
        let mut child = bin()
            .envs(env)
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .arg("serve")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read the log on a thread, so that waiting for the address has a deadline.
        let stderr = child.stderr.take().unwrap();
        let (lines, log) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = log.recv_timeout(left).unwrap_or_else(|e| {
                let _ = child.kill();
                panic!("serve did not report its address: {e}")
            });
            // Text logs say addr=…; JSON logs "addr":"…".
            if let Some(rest) = line.split("addr=").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            if let Some(rest) = line.split("\"addr\":\"").nth(1) {
                break rest.split('"').next().unwrap().to_owned();
            }
        };
        Self { child, addr, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Whether the process has exited (crashed, say).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// A memory figure from /proc in KiB: `VmRSS` (now) or `VmHWM` (peak).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{}/status", self.child.id()))
    }

    /// SIGKILL: no cleanup of any kind.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit code (within a deadline).
    pub fn terminate(self) -> Option<i32> {
        self.send_term();
        self.wait_exit()
    }

    /// Asks for a graceful shutdown (SIGTERM) without waiting for it.
    pub fn send_term(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// The exit code, once the process has exited (within a deadline).
    pub fn wait_exit(mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("serve did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (with a deadline) for a log line containing `needle`.
    pub fn wait_for_log(&self, needle: &str) -> String {
        self.log_until(needle).pop().expect("the matching line")
    }

    /// Every log line from here up to and including the first containing `needle` (waited
    /// for with a deadline).
    pub fn log_until(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .log
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no log line with {needle:?}: {e}"));
            let found = line.contains(needle);
            lines.push(line);
            if found {
                return lines;
            }
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
