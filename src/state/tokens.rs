//! The API tokens (`API_TOKENS`), compared in constant time as SHA-256 digests.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The accepted tokens, kept only as digests. A configured `sha256:<hex>` entry is a digest
/// already, so the token itself need not be in the configuration.
#[derive(Clone, Default)]
pub struct ApiTokens(Vec<[u8; 32]>);

/// The shortest plain token accepted: shorter ones can be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// Words that mark a token copied from an example rather than made (compared lower-case,
/// without `-` and `_`).
const PLACEHOLDERS: &[&str] = &["changeme", "replaceme", "yourtoken", "placeholder"];

/// Why a plain token cannot be used, if it cannot (the message never shows a real token).
fn weak(token: &str) -> Option<String> {
    let folded: String = token
        .chars()
        .filter(|c| !matches!(c, '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect();
    if PLACEHOLDERS.iter().any(|word| folded.contains(word)) {
        return Some(format!(
            "API_TOKENS: {token:?} is a placeholder: replace it with a long random token \
             (for example `openssl rand -hex 24`)"
        ));
    }
    (token.chars().count() < MIN_TOKEN_LEN).then(|| {
        format!(
            "API_TOKENS: a token shorter than {MIN_TOKEN_LEN} characters can be guessed: use a \
             long random one (for example `openssl rand -hex 24`)"
        )
    })
}

impl ApiTokens {
    /// The configured tokens; refuses a malformed `sha256:` entry, a placeholder and a plain
    /// token shorter than `MIN_TOKEN_LEN`.
    pub fn new(tokens: &[SecretString]) -> Result<Self, String> {
        tokens
            .iter()
            .map(|token| {
                let token = token.expose_secret();
                if let Some(why) = token
                    .strip_prefix("sha256:")
                    .is_none()
                    .then(|| weak(token))
                    .flatten()
                {
                    return Err(why);
                }
                match token.strip_prefix("sha256:") {
                    Some(digest) => hex::decode(digest)
                        .ok()
                        .and_then(|d| <[u8; 32]>::try_from(d).ok())
                        .ok_or_else(|| {
                            "API_TOKENS: a sha256: entry must be 64 hexadecimal digits".to_owned()
                        }),
                    None => Ok(Sha256::digest(token.as_bytes()).into()),
                }
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The accepted tokens' digests (the dashboard derives its session keys from them).
    pub(crate) fn digests(&self) -> &[[u8; 32]] {
        &self.0
    }

    /// Checks every token without stopping early, so timing tells nothing.
    pub fn accepts(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.0
            .iter()
            .fold(false, |found, known| found | bool::from(known.ct_eq(&digest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_hashed_tokens() {
        let hashed = format!("sha256:{}", hex::encode(Sha256::digest(b"hashed-one")));
        let tokens = ApiTokens::new(&["plain-token-0123456789".into(), hashed.into()]).unwrap();
        assert!(tokens.accepts("plain-token-0123456789"));
        assert!(tokens.accepts("hashed-one"));
        assert!(!tokens.accepts("plain-token-012345678"));
        assert!(!tokens.accepts(""));
        assert!(!ApiTokens::default().accepts(""));
        assert!(ApiTokens::new(&["sha256:zz".into()]).is_err());
    }

    /// Placeholders and short plain tokens are refused at start-up, naming API_TOKENS; a
    /// `sha256:` digest is not judged (the token behind it is not known).
    #[test]
    fn placeholders_and_short_tokens_are_refused() {
        for weak in [
            "change-me",
            "CHANGE-ME",
            "please-change-me-now-0123",
            "REPLACE_ME_WITH_A_TOKEN",
            "short-token-012",
        ] {
            let err = ApiTokens::new(&[weak.into()])
                .err()
                .unwrap_or_else(|| panic!("{weak} accepted"));
            assert!(err.starts_with("API_TOKENS: "), "{err}");
        }
        let short = ApiTokens::new(&["a-secret-of-15c".into()]).err().unwrap();
        assert!(
            !short.contains("a-secret-of-15c"),
            "a real token is never shown: {short}"
        );
        assert!(
            ApiTokens::new(&["0123456789abcdef".into()]).is_ok(),
            "16 characters"
        );
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(b"x")));
        assert!(ApiTokens::new(&[digest.into()]).is_ok());
    }
}
