//! A configuration file holding secrets must not be readable by every user.

use super::{invalid, ConfigError};
use std::path::Path;

/// Keys whose values are secrets.
const SECRET_KEYS: &[&str] = &[
    "twilio_auth_token",
    "twilio_api_secret",
    "api_tokens",
    "smtp_url",
    "auth_token",
    "previous_auth_tokens",
    "secret",
];

/// Refuses a configuration file that other users can read while it holds secrets.
pub(super) fn refuse_exposed_secrets(file: &Path) -> Result<(), ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(file)
            .map_err(|e| invalid("TRUSTHUB_HOOKS_CONFIG", format!("{}: {e}", file.display())))?
            .permissions()
            .mode();
        if mode & 0o004 != 0 {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let holds_secrets = text.lines().any(|line| {
                let key = line.split('=').next().unwrap_or_default().trim();
                !line.trim_start().starts_with('#') && line.contains('=') && SECRET_KEYS.contains(&key)
            });
            if holds_secrets {
                return Err(invalid(
                    "TRUSTHUB_HOOKS_CONFIG",
                    format!(
                        "{} holds secrets and is readable by every user (mode {:o}); run chmod 600 on it",
                        file.display(),
                        mode & 0o777
                    ),
                ));
            }
        }
    }
    Ok(())
}
