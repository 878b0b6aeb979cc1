//! A configuration file holding secrets must be readable by its owner only.

use super::{invalid, ConfigError};
use std::path::Path;

/// Keys whose values are secrets, wherever they appear (top level, `[[accounts]]`,
/// `[[shared_keys]]`, inline tables and arrays of them).
const SECRET_KEYS: &[&str] = &[
    "twilio_auth_token",
    "twilio_api_secret",
    "api_tokens",
    "smtp_url",
    "auth_token",
    "previous_auth_tokens",
    "secret",
];

/// Whether `value` holds anything: an empty string or list keeps no secret.
fn non_empty(value: &toml::Value) -> bool {
    match value {
        toml::Value::String(text) => !text.trim().is_empty(),
        toml::Value::Array(items) => items.iter().any(non_empty),
        toml::Value::Table(table) => table.values().any(non_empty),
        _ => true,
    }
}

/// Whether a `database_url` carries a password.
fn has_password(value: &toml::Value) -> bool {
    value
        .as_str()
        .and_then(|text| url::Url::parse(text).ok())
        .is_some_and(|url| url.password().is_some())
}

/// Whether any secret is set anywhere in the parsed file.
fn holds_secret(value: &toml::Value) -> bool {
    match value {
        toml::Value::Table(table) => table.iter().any(|(key, value)| {
            (SECRET_KEYS.contains(&key.as_str()) && non_empty(value))
                || (key == "database_url" && has_password(value))
                || holds_secret(value)
        }),
        toml::Value::Array(items) => items.iter().any(holds_secret),
        _ => false,
    }
}

/// Refuses a configuration file that its group or other users can read while it holds
/// secrets. Decided on the parsed file, so an inline table (`accounts = [{ auth_token = … }]`)
/// counts as much as a `[[accounts]]` section; a file that does not parse is left to the
/// loader, which reports where.
pub(super) fn refuse_exposed_secrets(file: &Path) -> Result<(), ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let unreadable =
            |e: std::io::Error| invalid("TRUSTHUB_HOOKS_CONFIG", format!("{}: {e}", file.display()));
        let mode = std::fs::metadata(file).map_err(unreadable)?.permissions().mode();
        if mode & 0o044 == 0 {
            return Ok(());
        }
        let text = std::fs::read_to_string(file).map_err(unreadable)?;
        let parsed = text.parse::<toml::Table>().map(toml::Value::Table);
        if parsed.is_ok_and(|value| holds_secret(&value)) {
            let who = if mode & 0o004 != 0 {
                "every user"
            } else {
                "its group"
            };
            return Err(invalid(
                "TRUSTHUB_HOOKS_CONFIG",
                format!(
                    "{path} holds secrets and is readable by {who} (mode {:o}); make it readable by \
                     its owner only: chmod 600 {path}",
                    mode & 0o777,
                    path = file.display(),
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::holds_secret;

    fn secret_in(text: &str) -> bool {
        holds_secret(&toml::Value::Table(text.parse().unwrap()))
    }

    #[test]
    fn secrets_are_found_wherever_the_file_puts_them() {
        for text in [
            "api_tokens = [\"s3cret-s3cret-s3cret\"]",
            "accounts = [{ account_sid = \"AC1\", auth_token = \"t\" }]",
            "[[accounts]]\naccount_sid = \"AC1\"\nauth_token = \"t\"",
            "shared_keys = [ { sid = \"SK1\", secret = \"k\" } ]",
            "database_url = \"postgres://app:pw@db/hooks\"",
            "[nested.deeper]\nsecret = \"k\"",
        ] {
            assert!(secret_in(text), "{text}");
        }
        for text in [
            "# auth_token = \"t\"\nlisten_addr = \"127.0.0.1:9\"",
            "api_tokens = []",
            "database_url = \"postgres://app@db/hooks\"",
            "public_url = \"https://secret.example.com\"",
        ] {
            assert!(!secret_in(text), "{text}");
        }
    }
}
