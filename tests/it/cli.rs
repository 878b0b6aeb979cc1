//! The binary itself: `verify` exit codes and explanations, `migrate`, `serve` and SIGTERM.

use crate::support;
use crate::support::process::{bin, ServeProcess};
use std::process::Command;

fn run(command: &mut Command) -> (i32, String) {
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

fn vector(name: &str) -> serde_json::Value {
    support::vectors()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
        .clone()
}

fn verify_args(case: &serde_json::Value) -> Vec<String> {
    let mut args = vec![
        "verify".to_owned(),
        "--url".to_owned(),
        case["received_url"].as_str().unwrap().to_owned(),
        "--signature".to_owned(),
        case["signature"].as_str().unwrap().to_owned(),
    ];
    for pair in case["params"].as_array().unwrap() {
        args.push("--param".to_owned());
        args.push(format!(
            "{}={}",
            pair[0].as_str().unwrap(),
            pair[1].as_str().unwrap()
        ));
    }
    args
}

#[test]
fn verify_valid_exits_0_and_names_the_match() {
    let case = vector("twilio signed :443, received without port");
    let (code, out) = run(bin()
        .args(verify_args(&case))
        .env("TWILIO_ACCOUNT_SID", support::ACCOUNT)
        .env("TWILIO_AUTH_TOKEN", support::TOKEN));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("match    https://hooks.example.com:443/twilio/status-callback"),
        "{out}"
    );
    assert!(out.contains("valid: signed by account"), "{out}");
    assert!(
        !out.contains(support::TOKEN),
        "the token must not be printed: {out}"
    );
}

#[test]
fn verify_invalid_exits_1_and_lists_every_candidate() {
    let case = vector("query re-encoded does not match");
    let (code, out) = run(bin().args(verify_args(&case)).args(["--token", support::TOKEN]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no match https://hooks.example.com/twilio/status-callback?To=+15551234567 with the --token given"), "{out}");
    assert!(
        out.contains("no match https://hooks.example.com:443/twilio/status-callback?To=+15551234567"),
        "{out}"
    );
    assert!(
        out.contains("invalid: the signature matches no URL variant"),
        "{out}"
    );
    assert!(out.contains("hint:"), "{out}");
}

#[test]
fn verify_json_body_and_shared_key() {
    let case = vector("shared key json body");
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.json");
    std::fs::write(&body, case["body"].as_str().unwrap()).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[shared_keys]]\nkey = \"k1\"\nsecret = \"{}\"\n",
            case["verify_token"].as_str().unwrap()
        ),
    )
    .unwrap();
    // Holding a secret, it must be readable by its owner only.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, out) = run(bin()
        .args([
            "verify",
            "--url",
            case["received_url"].as_str().unwrap(),
            "--signature",
            case["signature"].as_str().unwrap(),
        ])
        .arg("--body-file")
        .arg(&body)
        .args(["--signature-settings", "key=k1,algorithm=HMAC_SHA256", "--config"])
        .arg(&config));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("shared key k1 (HMAC_SHA256)"), "{out}");
}

#[test]
fn verify_usage_errors_exit_2() {
    let (code, out) = run(bin().args(["verify", "--url", "https://x/cb"]));
    assert_eq!(code, 2, "missing --signature: {out}");
    let (code, out) = run(bin().args([
        "verify",
        "--url",
        "https://x/cb",
        "--signature",
        "s",
        "--param",
        "novalue",
    ]));
    assert_eq!(code, 2, "{out}");
    let (code, out) = run(bin().args(["verify", "--url", "https://x/cb", "--signature", "s"]));
    assert_eq!(code, 2, "no token configured: {out}");
    assert!(out.contains("--token"), "{out}");
}

#[test]
fn every_command_has_help() {
    for command in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["verify", "--help"],
    ] {
        let (code, out) = run(bin().args(command));
        assert_eq!(code, 0, "{command:?}: {out}");
        assert!(out.contains("Usage"), "{out}");
    }
}

#[test]
fn migrate_creates_the_sqlite_file_and_reports_bad_urls() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh.db");
    let (code, out) = run(bin()
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .arg("migrate"));
    assert_eq!(code, 0, "{out}");
    assert!(db.exists());
    let (code, out) = run(bin().env("DATABASE_URL", "mysql://nope").arg("migrate"));
    assert_ne!(code, 0);
    assert!(out.contains("DATABASE_URL"), "{out}");
}

#[test]
fn serve_refuses_without_public_url_then_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("serve.db").display());
    let (code, out) = run(bin().env("DATABASE_URL", &db).arg("serve"));
    assert_ne!(code, 0);
    assert!(out.contains("PUBLIC_URL"), "{out}");

    let serve = ServeProcess::start(&[
        ("DATABASE_URL", db),
        ("PUBLIC_URL", support::PUBLIC_URL.into()),
        ("TWILIO_ACCOUNT_SID", support::ACCOUNT.into()),
        ("TWILIO_AUTH_TOKEN", support::TOKEN.into()),
    ]);
    assert!(
        std::net::TcpStream::connect(&serve.addr).is_ok(),
        "not listening on {}",
        serve.addr
    );
    assert_eq!(serve.terminate(), Some(0));
}

/// LOG_FORMAT=json: one JSON object per line, with the request id on request spans.
#[test]
fn json_logs_carry_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let serve = ServeProcess::start(&[
        (
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("json.db").display()),
        ),
        ("PUBLIC_URL", support::PUBLIC_URL.into()),
        ("TWILIO_ACCOUNT_SID", support::ACCOUNT.into()),
        ("TWILIO_AUTH_TOKEN", support::TOKEN.into()),
        ("LOG_FORMAT", "json".into()),
    ]);
    // A forged callback is logged (at warn) inside its request span.
    let body = "AccountSid=ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&BundleSid=BU00000000000000000000000000000001&Status=draft";
    let mut stream = std::net::TcpStream::connect(&serve.addr).unwrap();
    use std::io::Write as _;
    write!(
        stream,
        "POST /twilio/status-callback HTTP/1.1\r\nHost: x\r\nX-Request-Id: req-42\r\nX-Twilio-Signature: forged\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let line = serve.wait_for_log("refused a status callback");
    let event: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
    assert_eq!(event["level"], "WARN");
    assert_eq!(event["span"]["request_id"], "req-42", "{line}");
    assert!(!line.contains(support::TOKEN), "no secret in logs");
    assert_eq!(serve.terminate(), Some(0));
}

/// `serve` refuses, naming the variable, what would start an unsafe service: an empty auth
/// token (it would accept callbacks signed with an empty key), a placeholder API token, a
/// short one.
#[test]
fn serve_refuses_blank_secrets_and_placeholder_api_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("serve.db").display());
    let start = |token: &str, api_tokens: &str| {
        run(bin()
            .env("DATABASE_URL", &db)
            .env("PUBLIC_URL", support::PUBLIC_URL)
            .env("TWILIO_ACCOUNT_SID", support::ACCOUNT)
            .env("TWILIO_AUTH_TOKEN", token)
            .env("API_TOKENS", api_tokens)
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .arg("serve"))
    };
    let (code, out) = start("   ", support::API_TOKEN);
    assert_ne!(code, 0);
    assert!(out.contains("TWILIO_AUTH_TOKEN: is empty"), "{out}");
    for weak in ["change-me", "CHANGE-ME", "short-token"] {
        let (code, out) = start(support::TOKEN, weak);
        assert_ne!(code, 0, "{weak}");
        assert!(out.contains("API_TOKENS: "), "{weak}: {out}");
    }
}

/// `serve` refuses a plain-http PUBLIC_URL beyond this machine (callbacks could be read and
/// replayed on the way), naming the variable and the way out; loopback http starts.
#[test]
fn serve_refuses_plain_http_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("serve.db").display());
    let (code, out) = run(bin()
        .env("DATABASE_URL", &db)
        .env("PUBLIC_URL", "http://hooks.example.com")
        .env("TWILIO_ACCOUNT_SID", support::ACCOUNT)
        .env("TWILIO_AUTH_TOKEN", support::TOKEN)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .arg("serve"));
    assert_ne!(code, 0);
    assert!(
        out.contains("PUBLIC_URL: ") && out.contains("ALLOW_INSECURE_PUBLIC_URL"),
        "{out}"
    );
    let serve = ServeProcess::start(&[
        ("DATABASE_URL", db),
        ("PUBLIC_URL", "http://127.0.0.1:8080".into()),
        ("TWILIO_ACCOUNT_SID", support::ACCOUNT.into()),
        ("TWILIO_AUTH_TOKEN", support::TOKEN.into()),
    ]);
    assert_eq!(serve.terminate(), Some(0));
}
