//! The API tokens (`API_TOKENS`), compared in constant time as SHA-256 digests.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The accepted tokens, kept only as digests. A configured `sha256:<hex>` entry is a digest
/// already, so the token itself need not be in the configuration.
#[derive(Clone, Default)]
pub struct ApiTokens(Vec<[u8; 32]>);

impl ApiTokens {
    pub fn new(tokens: &[SecretString]) -> Result<Self, String> {
        tokens
            .iter()
            .map(|token| {
                let token = token.expose_secret();
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
        let tokens = ApiTokens::new(&["plain".into(), hashed.into()]).unwrap();
        assert!(tokens.accepts("plain"));
        assert!(tokens.accepts("hashed-one"));
        assert!(!tokens.accepts("plai"));
        assert!(!tokens.accepts(""));
        assert!(!ApiTokens::default().accepts(""));
        assert!(ApiTokens::new(&["sha256:zz".into()]).is_err());
    }
}
