//! What the fuzz targets share: how an input is cut into fields, and the secrets they verify with.
//!
//! Inputs are lines, so that the seeds in `corpus/` read as the requests they stand for; a
//! missing line is empty and the last field takes the rest of the input, newlines included.

use std::sync::OnceLock;
use trusthub_hooks::config::Config;
use trusthub_hooks::twilio::Verifier;

pub const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// The account's current and previous (rotated) tokens, as in the vectors.
pub const TOKENS: [&str; 2] = ["12345678901234567890123456789012", "previous-token"];
pub const SHARED_KEY: &str = "webhooks_sharedkey_test";
pub const SHARED_SECRET: &str = "sk_secret_for_tests_0123456789";
/// The `PUBLIC_URL` of the receiver the JSON and signature targets stand in for.
pub const PUBLIC_URL: &str = "https://hooks.example.com/th";

/// The first `N - 1` lines of `data` and then the rest; absent lines are empty.
pub fn fields<const N: usize>(data: &[u8]) -> [&[u8]; N] {
    let mut out = [&data[data.len()..]; N];
    let mut rest = data;
    for slot in out.iter_mut().take(N - 1) {
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            *slot = rest;
            rest = &rest[rest.len()..];
            break;
        };
        *slot = &rest[..end];
        rest = &rest[end + 1..];
    }
    out[N - 1] = rest;
    out
}

/// A field as text; headers and URLs reach the service as `&str`, never as invalid UTF-8.
pub fn text(field: &[u8]) -> Option<&str> {
    std::str::from_utf8(field).ok()
}

/// The verifier `serve` would build for one account with a rotated token and one shared key.
pub fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        // Through the real configuration path: shared keys and previous tokens come only from the
        // file, which must not be world-readable since it holds secrets.
        let path = std::env::temp_dir().join(format!("trusthub-hooks-fuzz-{}.toml", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .expect("write the fuzz configuration");
        write!(
            file,
            "[[accounts]]\naccount_sid = \"{ACCOUNT}\"\nauth_token = \"{}\"\nprevious_auth_tokens = [\"{}\"]\n\
             [[shared_keys]]\nkey = \"{SHARED_KEY}\"\nsecret = \"{SHARED_SECRET}\"\n",
            TOKENS[0], TOKENS[1]
        )
        .expect("write the fuzz configuration");
        drop(file);
        let config = Config::load_from(Some(&path), []);
        let _ = std::fs::remove_file(&path);
        Verifier::from_config(&config.expect("the fuzz configuration loads"))
    })
}

#[cfg(test)]
mod tests {
    use super::fields;

    #[test]
    fn lines_then_the_rest() {
        assert_eq!(fields::<3>(b"a\nb\nc\nd"), [&b"a"[..], b"b", b"c\nd"]);
        assert_eq!(fields::<3>(b"a"), [&b"a"[..], b"", b""]);
        assert_eq!(fields::<2>(b""), [&b""[..], b""]);
    }
}
