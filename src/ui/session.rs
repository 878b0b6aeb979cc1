//! Dashboard sessions without server-side state: a cookie carrying which API token signed in
//! (a prefix of its digest), an expiry and a nonce, signed with HMAC-SHA256 under a key
//! derived from that token's digest. Every replica derives the same key from the same
//! `API_TOKENS`, and removing a token from `API_TOKENS` ends the sessions it opened.

use crate::state::{ApiTokens, AppState};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The session cookie's name.
pub const COOKIE: &str = "th_session";
/// How long a sign-in lasts: a working day, after which the token is asked for again.
pub const LIFETIME: chrono::Duration = chrono::Duration::hours(8);
const VERSION: &str = "v1";

/// A signed-in viewer.
#[derive(Clone)]
pub struct Session {
    /// Which API token signed in: the first bytes of its SHA-256 digest, in hex.
    pub token_id: String,
    pub expires_at: DateTime<Utc>,
    /// The CSRF token of this session (an HMAC of the cookie), for every form.
    csrf: String,
}

impl Session {
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

impl std::fmt::Debug for Session {
    /// Without the CSRF token, which is a secret of the viewer's.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("token_id", &self.token_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// The signing key of sessions opened with the token of this digest.
fn key(digest: &[u8; 32]) -> [u8; 32] {
    mac(digest, &[b"trusthub-hooks/ui-session/v1"])
        .finalize()
        .into_bytes()
        .into()
}

/// Names a token in the cookie without revealing enough of its digest to matter.
fn token_id(digest: &[u8; 32]) -> String {
    hex::encode(&digest[..6])
}

/// The digest `API_TOKENS` keeps of a presented token.
pub fn digest_of(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A cookie value for the token of `digest`, valid until `expires_at`.
pub fn issue(digest: &[u8; 32], expires_at: DateTime<Utc>) -> String {
    let nonce = hex::encode(rand::random::<[u8; 12]>());
    let payload = format!(
        "{VERSION}.{}.{}.{nonce}",
        token_id(digest),
        expires_at.timestamp()
    );
    let tag = mac(&key(digest), &[payload.as_bytes()]).finalize().into_bytes();
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// The session a cookie value proves: intact, unexpired at `now`, and signed for a token that
/// is still configured.
pub fn verify(tokens: &ApiTokens, value: &str, now: DateTime<Utc>) -> Option<Session> {
    let (payload, tag) = value.rsplit_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    let mut parts = payload.split('.');
    let (Some(VERSION), Some(id), Some(expires), Some(_nonce), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let expires_at = DateTime::from_timestamp(expires.parse().ok()?, 0)?;
    // Never longer than a session lives (with a little room for replicas' clocks): a cookie
    // signed with a far expiry, by whoever holds a token's digest, is not honoured.
    if expires_at <= now || expires_at > now + LIFETIME + chrono::Duration::minutes(5) {
        return None;
    }
    // Digest prefixes may collide: try each token they name; verify_slice is constant-time.
    let key = tokens
        .digests()
        .iter()
        .filter(|digest| token_id(digest) == id)
        .map(key)
        .find(|key| mac(key, &[payload.as_bytes()]).verify_slice(&tag).is_ok())?;
    let csrf = mac(&key, &[b"csrf\0", payload.as_bytes()])
        .finalize()
        .into_bytes();
    Some(Session {
        token_id: id.to_owned(),
        expires_at,
        csrf: hex::encode(csrf),
    })
}

/// The session cookie's value in a request, if any.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// `Set-Cookie` for a new session (or, with `None`, one that ends it): only for `/ui`, never
/// readable by scripts, never sent from another site, and only over TLS when `PUBLIC_URL` is
/// https.
pub fn set_cookie(value: Option<&str>, secure: bool) -> HeaderValue {
    let max_age = value.map_or(0, |_| LIFETIME.num_seconds());
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={}; Path=/ui; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}",
        value.unwrap_or_default()
    );
    HeaderValue::from_str(&cookie).expect("the cookie is plain ASCII")
}

/// Whether cookies must be `Secure`: the service is reached over https.
pub fn secure(state: &AppState) -> bool {
    state.public_url().is_https()
}

/// Lets a request with a valid session through (with its [`Session`]), and sends any other
/// to the sign-in page.
pub async fn require(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let session = cookie(request.headers()).and_then(|v| verify(state.api_tokens(), v, Utc::now()));
    match session {
        Some(session) => {
            request.extensions_mut().insert(session);
            next.run(request).await
        }
        None => {
            // Back to the page asked for after signing in; a form's target cannot be gone back to.
            // The original URI: under `nest`, the request's own has lost the `/ui` prefix.
            let original = request.extensions().get::<OriginalUri>().map(|uri| &uri.0);
            let back = match (request.method(), original.and_then(|uri| uri.path_and_query())) {
                (&axum::http::Method::GET, Some(path)) => path.as_str(),
                _ => "/ui",
            };
            let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            Redirect::to(&format!("/ui/login?next={back}")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    const ONE: &str = "token-one-0123456789";
    const TWO: &str = "token-two-0123456789";

    fn tokens(list: &[&str]) -> ApiTokens {
        let list: Vec<SecretString> = list.iter().map(|t| (*t).into()).collect();
        ApiTokens::new(&list).unwrap()
    }

    #[test]
    fn a_session_lives_until_it_expires_or_its_token_goes() {
        let now = Utc::now();
        let value = issue(&digest_of(ONE), now + LIFETIME);
        let both = tokens(&[ONE, TWO]);
        let session = verify(&both, &value, now).expect("valid");
        assert_eq!(session.token_id, hex::encode(&digest_of(ONE)[..6]));
        assert_eq!(session.csrf_token().len(), 64);
        assert!(verify(&both, &value, now + LIFETIME).is_none(), "expired");
        assert!(verify(&tokens(&[TWO]), &value, now).is_none(), "token removed");
        let hashed = format!("sha256:{}", hex::encode(digest_of(ONE)));
        assert!(
            verify(&tokens(&[&hashed]), &value, now).is_some(),
            "same token, as a digest"
        );
    }

    /// A correctly signed cookie whose expiry lies beyond a session's lifetime (ten years,
    /// say) is refused; one issued now is accepted.
    #[test]
    fn expiries_past_a_sessions_lifetime_are_refused() {
        let now = Utc::now();
        let known = tokens(&[ONE]);
        let far = issue(&digest_of(ONE), now + chrono::Duration::days(3650));
        assert!(verify(&known, &far, now).is_none());
        let fresh = issue(&digest_of(ONE), now + LIFETIME);
        assert!(verify(&known, &fresh, now).is_some());
    }

    #[test]
    fn tampering_is_refused() {
        let now = Utc::now();
        let known = tokens(&[ONE]);
        let value = issue(&digest_of(ONE), now + LIFETIME);
        let later = (now + LIFETIME * 10).timestamp().to_string();
        let parts: Vec<&str> = value.split('.').collect();
        let extended = format!("{}.{}.{later}.{}.{}", parts[0], parts[1], parts[3], parts[4]);
        assert!(verify(&known, &extended, now).is_none());
        let mut flipped = value.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert!(verify(&known, std::str::from_utf8(&flipped).unwrap(), now).is_none());
        for garbage in ["", ".", "v1....", "v2.a.b.c.d", &format!("{value}.x")] {
            assert!(verify(&known, garbage, now).is_none(), "{garbage:?}");
        }
        // Two sessions of one token have different CSRF tokens.
        let other = issue(&digest_of(ONE), now + LIFETIME);
        let (a, b) = (
            verify(&known, &value, now).unwrap(),
            verify(&known, &other, now).unwrap(),
        );
        assert_ne!(a.csrf_token(), b.csrf_token());
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; th_session=v1.x; b=2"),
        );
        assert_eq!(cookie(&headers), Some("v1.x"));
        let set = set_cookie(Some("v"), true);
        let text = set.to_str().unwrap();
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict") && text.ends_with("; Secure"));
        assert!(!set_cookie(None, false).to_str().unwrap().contains("Secure"));
    }
}
