//! Configuration layering, validation and secrecy.
use super::*;
use std::io::Write as _;

const AC1: &str = "AC11111111111111111111111111111111";
const AC2: &str = "AC22222222222222222222222222222222";

fn env(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

#[test]
fn defaults_need_nothing() {
    let config = Config::load_from(None, env(&[])).unwrap();
    assert_eq!(&*config.database_url, "sqlite://trusthub-hooks.db");
    assert_eq!(config.listen_addr().unwrap().to_string(), "127.0.0.1:8080");
    assert!(config.api_tokens.is_empty());
    assert!(!config.webhook_allow_private);
    assert!(config.public_url().is_err());
}

#[test]
fn the_numbers_api_is_twilios_unless_set() {
    let config = Config::load_from(None, env(&[])).unwrap();
    assert_eq!(config.twilio_numbers_api_url, "https://numbers.twilio.com");
    let set = env(&[("TWILIO_NUMBERS_API_URL", "http://127.0.0.1:9999")]);
    let config = Config::load_from(None, set).unwrap();
    assert_eq!(config.twilio_numbers_api_url, "http://127.0.0.1:9999");
}

#[test]
fn environment_overrides_file() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        file,
        r#"
listen_addr = "0.0.0.0:9000"
api_tokens = ["from-file"]
webhook_allow_private = true
[[accounts]]
account_sid = "{AC2}"
auth_token = "tok2"
previous_auth_tokens = ["tok2-old"]
[[accounts]]
account_sid = "{AC1}"
auth_token = "tok1"
previous_auth_tokens = ["tok1-old"]
[[shared_keys]]
key = "webhooks_sharedkey_1"
secret = "s1"
accounts = ["{AC1}"]
"#
    )
    .unwrap();
    let config = Config::load_from(
        Some(file.path()),
        env(&[
            ("API_TOKENS", "123456, abc ,"),
            ("TWILIO_ACCOUNT_SID", AC1),
            ("TWILIO_AUTH_TOKEN", "tok1"),
            ("LISTEN_ADDR", "127.0.0.1:9001"),
        ]),
    )
    .unwrap();
    assert_eq!(config.listen_addr, "127.0.0.1:9001");
    let tokens: Vec<_> = config
        .api_tokens
        .iter()
        .map(|t| t.expose_secret().to_owned())
        .collect();
    assert_eq!(tokens, ["123456", "abc"]);
    assert!(config.webhook_allow_private);
    let accounts = config.accounts();
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0].sid.as_str(), AC1);
    let ac1: Vec<_> = accounts[0]
        .tokens
        .iter()
        .map(|t| t.expose_secret().to_owned())
        .collect();
    assert_eq!(ac1, ["tok1", "tok1-old"]);
    assert_eq!(config.shared_keys[0].key, "webhooks_sharedkey_1");
}

#[test]
fn the_shipped_example_loads() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/config.example.toml");
    // Installed as the README says: readable by its owner only.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::copy(&shipped, file.path()).unwrap();
    set_mode(file.path(), 0o600);
    let config = Config::load_from(Some(file.path()), env(&[])).unwrap();
    assert_eq!(config.accounts()[0].tokens.len(), 2);
    assert!(config.public_url().is_ok());
}

#[test]
fn secrets_stay_out_of_debug() {
    let config = Config::load_from(
        None,
        env(&[
            ("TWILIO_ACCOUNT_SID", AC1),
            ("TWILIO_AUTH_TOKEN", "hunter2-token"),
            ("API_TOKENS", "api-secret"),
        ]),
    )
    .unwrap();
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("hunter2-token") && !debug.contains("api-secret"),
        "{debug}"
    );
}

#[test]
fn errors_name_the_variable() {
    let err = Config::load_from(None, env(&[("LISTEN_ADDR", "nowhere")])).unwrap_err();
    assert!(err.to_string().starts_with("LISTEN_ADDR"), "{err}");
    let err = Config::load_from(None, env(&[("TWILIO_ACCOUNT_SID", "AC1")])).unwrap_err();
    assert!(err.to_string().starts_with("TWILIO_ACCOUNT_SID"), "{err}");
    let err = Config::load_from(None, env(&[("TWILIO_ACCOUNT_SID", AC1)])).unwrap_err();
    assert!(err.to_string().starts_with("TWILIO_AUTH_TOKEN"), "{err}");
    let err = Config::load_from(None, env(&[("PUBLIC_URL", "ftp://x")])).unwrap_err();
    assert!(err.to_string().starts_with("PUBLIC_URL"), "{err}");
    let err = Config::load_from(None, env(&[("WORKER_CONCURRENCY", "many")])).unwrap_err();
    assert!(err.to_string().contains("many"), "{err}");
    let ok = Config::load_from(None, env(&[("WORKER_CONCURRENCY", " 9 ")])).unwrap();
    assert_eq!(ok.worker_concurrency, 9);
    let err = Config::load_from(None, env(&[("WEBHOOK_ALLOW_PRIVATE", "maybe")])).unwrap_err();
    assert!(err.to_string().contains("not a boolean"), "{err}");
}

#[test]
fn public_url_refuses_what_would_never_match_a_signature() {
    for raw in [
        "https://h.example.com/th\n",
        " https://h.example.com",
        "https://h.example.com/a b",
        "https:h.example.com/th",
        "https://h.example.com\\th",
        "HTTPS://h.example.com\t",
    ] {
        assert!(PublicUrl::parse(raw).is_err(), "{raw:?} accepted");
    }
    assert!(PublicUrl::parse("https://h.example.com:8443/th").is_ok());
}

#[test]
fn signed_url_uses_public_url_and_raw_query() {
    let public = PublicUrl::parse("https://Hooks.example.com/th/").unwrap();
    assert_eq!(public.prefix(), "/th");
    assert_eq!(
        public.signed_url("/th/twilio/status-callback", Some("a=%2B1&b")),
        "https://Hooks.example.com/th/twilio/status-callback?a=%2B1&b"
    );
    // A proxy that strips the prefix.
    assert_eq!(
        public.signed_url("/twilio/status-callback", None),
        "https://Hooks.example.com/th/twilio/status-callback"
    );
    // "/thx" is not under the prefix "/th".
    assert_eq!(
        public.signed_url("/thx/cb", Some("")),
        "https://Hooks.example.com/th/thx/cb?"
    );
    let bare = PublicUrl::parse("http://127.0.0.1:8080").unwrap();
    assert_eq!(bare.prefix(), "");
    assert_eq!(
        bare.signed_url("/twilio/status-callback", None),
        "http://127.0.0.1:8080/twilio/status-callback"
    );
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn world_readable_files_with_secrets_are_refused() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "api_tokens = [\"s3cret\"]\n").unwrap();
    set_mode(file.path(), 0o644);
    let err = Config::load_from(Some(file.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("chmod 600") && err.starts_with("TRUSTHUB_HOOKS_CONFIG"),
        "{err}"
    );
    assert!(!err.contains("s3cret"));
    set_mode(file.path(), 0o600);
    assert!(Config::load_from(Some(file.path()), env(&[])).is_ok());
    // Readable by all but without secrets: fine.
    std::fs::write(
        file.path(),
        "# api_tokens = [\"x\"]\nlisten_addr = \"127.0.0.1:9\"\n",
    )
    .unwrap();
    set_mode(file.path(), 0o644);
    assert!(Config::load_from(Some(file.path()), env(&[])).is_ok());
}

/// A file its group can read is refused too, and so is a secret in an inline table, which a
/// line-by-line reading of keys missed; the message names the file and the fix.
#[test]
fn group_readable_files_and_inline_secrets_are_refused() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().display().to_string();
    let inline = format!("accounts = [{{ account_sid = \"{AC1}\", auth_token = \"inline-token\" }}]\n");
    for (text, mode) in [
        ("api_tokens = [\"s3cret-s3cret-s3cret\"]\n", 0o640),
        (inline.as_str(), 0o644),
        (inline.as_str(), 0o640),
    ] {
        std::fs::write(file.path(), text).unwrap();
        set_mode(file.path(), mode);
        let err = Config::load_from(Some(file.path()), env(&[]))
            .err()
            .unwrap_or_else(|| panic!("mode {mode:o} accepted: {text}"))
            .to_string();
        assert!(
            err.starts_with("TRUSTHUB_HOOKS_CONFIG") && err.contains(&format!("chmod 600 {path}")),
            "{err}"
        );
        assert!(!err.contains("inline-token") && !err.contains("s3cret"), "{err}");
        set_mode(file.path(), 0o600);
        Config::load_from(Some(file.path()), env(&[])).unwrap();
    }
}

/// A shared key must say which accounts it signs for when several are served, may name only
/// served accounts, and one of Twilio's algorithms; each refusal names the setting.
#[test]
fn shared_keys_are_bound_to_served_accounts() {
    let accounts = format!(
        "[[accounts]]\naccount_sid = \"{AC1}\"\nauth_token = \"t1\"\n\
         [[accounts]]\naccount_sid = \"{AC2}\"\nauth_token = \"t2\"\n"
    );
    let key = "[[shared_keys]]\nkey = \"k\"\nsecret = \"s\"\n";
    let load = |text: String| {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        set_mode(file.path(), 0o600);
        Config::load_from(Some(file.path()), env(&[])).map_err(|e| e.to_string())
    };
    for (text, setting) in [
        (format!("{accounts}{key}"), "shared_keys.accounts"),
        (
            format!("{accounts}{key}accounts = [\"AC{}\"]\n", "e".repeat(32)),
            "shared_keys.accounts",
        ),
        (
            format!("{accounts}{key}accounts = [\"nope\"]\n"),
            "shared_keys.accounts",
        ),
        (
            format!("{accounts}{key}accounts = [\"{AC1}\"]\nalgorithm = \"HMAC_MD5\"\n"),
            "algorithm",
        ),
    ] {
        let err = load(text.clone()).expect_err(&text);
        assert!(err.contains(setting), "{text}: {err}");
    }
    let bound = load(format!(
        "{accounts}{key}accounts = [\"{AC2}\"]\nalgorithm = \"HMAC_SHA1\"\n"
    ))
    .unwrap();
    assert_eq!(bound.shared_keys[0].algorithm, SharedKeyAlgorithm::HmacSha1);
    let single = load(format!(
        "[[accounts]]\naccount_sid = \"{AC1}\"\nauth_token = \"t1\"\n{key}"
    ))
    .unwrap();
    assert_eq!(
        single.shared_keys[0].algorithm,
        SharedKeyAlgorithm::HmacSha256,
        "the default"
    );
}

/// An empty signing secret would verify callbacks signed with an empty key: refused at
/// start-up, naming where it came from, whether from the environment or the file.
#[test]
fn blank_signing_secrets_are_refused() {
    for blank in ["", "  "] {
        let err = Config::load_from(
            None,
            env(&[("TWILIO_ACCOUNT_SID", AC1), ("TWILIO_AUTH_TOKEN", blank)]),
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("TWILIO_AUTH_TOKEN: is empty"),
            "{err}"
        );
    }
    for (toml, variable) in [
        (
            format!("[[accounts]]\naccount_sid = \"{AC2}\"\nauth_token = \"\"\n"),
            "accounts.auth_token",
        ),
        (
            "[[shared_keys]]\nkey = \"k\"\nsecret = \"\"\n".to_owned(),
            "shared_keys.secret",
        ),
    ] {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(toml.as_bytes()).unwrap();
        set_mode(file.path(), 0o600);
        let err = Config::load_from(Some(file.path()), env(&[])).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!("{variable}: is empty")),
            "{err}"
        );
    }
    // A blank entry in a list of previous tokens is dropped, never used as a key.
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let toml = format!(
        "[[accounts]]\naccount_sid = \"{AC2}\"\nauth_token = \"t\"\nprevious_auth_tokens = [\" \"]\n"
    );
    file.write_all(toml.as_bytes()).unwrap();
    set_mode(file.path(), 0o600);
    let config = Config::load_from(Some(file.path()), env(&[])).unwrap();
    let tokens: Vec<String> = config.accounts()[0]
        .tokens
        .iter()
        .map(|t| t.expose_secret().to_owned())
        .collect();
    assert_eq!(tokens, ["t"]);
    let ok = Config::load_from(
        None,
        env(&[("TWILIO_ACCOUNT_SID", AC1), ("TWILIO_AUTH_TOKEN", "t")]),
    );
    assert!(ok.is_ok());
}

/// A password in DATABASE_URL shows neither in the configuration's `Debug` output nor in the
/// error a wrong scheme gives.
#[test]
fn the_database_password_stays_out_of_debug_and_errors() {
    let url = "postgres://trusthub:s3cret-pw@db.internal:5432/trusthub";
    let config = Config::load_from(None, env(&[("DATABASE_URL", url)])).unwrap();
    assert_eq!(&*config.database_url, url, "the store still gets it whole");
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("s3cret-pw") && debug.contains("trusthub:***@db.internal"),
        "{debug}"
    );
    assert_eq!(
        redact_password("sqlite://trusthub-hooks.db"),
        "sqlite://trusthub-hooks.db"
    );
    assert!(!redact_password("mysql://u:s3cret-pw@h/db").contains("s3cret-pw"));
}

/// A plain-http PUBLIC_URL is refused beyond loopback unless explicitly allowed.
#[test]
fn plain_http_public_urls_need_loopback_or_an_explicit_allowance() {
    let public = |url: &str, allow: &str| {
        Config::load_from(
            None,
            env(&[("PUBLIC_URL", url), ("ALLOW_INSECURE_PUBLIC_URL", allow)]),
        )
        .unwrap()
        .public_url()
    };
    for local in [
        "http://127.0.0.1:8080",
        "http://127.0.0.2/th",
        "http://[::1]:8080",
        "http://LOCALHOST:8080",
        "https://hooks.example.com",
    ] {
        assert!(public(local, "false").is_ok(), "{local}");
    }
    for remote in [
        "http://hooks.example.com",
        "http://10.0.0.5:8080/th",
        "http://localhost.example.com",
    ] {
        let err = public(remote, "false").unwrap_err().to_string();
        assert!(
            err.starts_with("PUBLIC_URL: ") && err.contains("ALLOW_INSECURE_PUBLIC_URL"),
            "{err}"
        );
        assert!(public(remote, "true").is_ok(), "{remote} allowed explicitly");
    }
}

#[test]
fn retention_keeps_90_days_unless_told_and_refuses_a_mistaken_unit() {
    assert_eq!(Config::load_from(None, env(&[])).unwrap().retention_days, 90);
    let off = Config::load_from(None, env(&[("RETENTION_DAYS", "0")])).unwrap();
    assert_eq!(off.retention_days, 0);
    let long = Config::load_from(None, env(&[("RETENTION_DAYS", "2160")])).unwrap();
    assert_eq!(long.retention_days, 2160);
    let err = Config::load_from(None, env(&[("RETENTION_DAYS", "7776000")])).unwrap_err();
    assert!(err.to_string().starts_with("RETENTION_DAYS:"), "{err}");
    assert!(Config::load_from(None, env(&[("RETENTION_DAYS", "-1")])).is_err());
}
