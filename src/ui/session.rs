//! Dashboard sessions without server-side state: a cookie carrying which API token signed in
//! (a prefix of its digest), an expiry and a nonce, signed with HMAC-SHA256 under a key
//! derived from the server's session secret and that token's digest. The secret is random,
//! made on the first start and kept in the database, so every replica (and every restart)
//! shares it, and reading the configuration (even the tokens themselves) is not enough to
//! sign a session; removing a token from `API_TOKENS` still ends the sessions it opened.

use crate::state::{ApiTokens, AppState};
use crate::store::{Store, StoreError};
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

/// The session cookie's name over plain http (loopback, or `ALLOW_INSECURE_PUBLIC_URL`).
pub const COOKIE: &str = "th_session";
/// Its name under an https `PUBLIC_URL`: browsers accept a `__Host-` cookie only when it is
/// `Secure`, for `Path=/` and without `Domain`, so a sibling subdomain or a plain-http page
/// cannot plant one (a session fixation) that this service would then read.
pub const HOST_COOKIE: &str = "__Host-th_session";
/// How long a sign-in lasts: a working day, after which the token is asked for again.
pub const LIFETIME: chrono::Duration = chrono::Duration::hours(8);
const VERSION: &str = "v1";
/// The session secret's name among the server's secrets in the database.
pub const SECRET_NAME: &str = "ui-session";

/// The server's session secret (32 random bytes, shared through the database).
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// The database's session secret, made now if it has none yet.
    pub async fn load(store: &dyn Store) -> Result<Self, StoreError> {
        let candidate: [u8; 32] = rand::random();
        let stored = store.server_secret(SECRET_NAME, &candidate).await?;
        <[u8; 32]>::try_from(stored)
            .map(Self)
            .map_err(|_| StoreError::Corrupt(format!("server secret {SECRET_NAME:?} is not 32 bytes")))
    }

    /// A key of these bytes (tests sign cookies with the stored secret).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The signing key of sessions opened with the token of this digest.
    fn for_token(&self, digest: &[u8; 32]) -> [u8; 32] {
        mac(&self.0, &[b"trusthub-hooks/ui-session/v1\0", digest])
            .finalize()
            .into_bytes()
            .into()
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([REDACTED])")
    }
}

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

/// Names a token in the cookie without revealing enough of its digest to matter.
fn token_id(digest: &[u8; 32]) -> String {
    hex::encode(&digest[..6])
}

/// The digest `API_TOKENS` keeps of a presented token.
pub fn digest_of(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A cookie value for the token of `digest`, valid until `expires_at`.
pub fn issue(key: &SessionKey, digest: &[u8; 32], expires_at: DateTime<Utc>) -> String {
    let nonce = hex::encode(rand::random::<[u8; 12]>());
    let payload = format!(
        "{VERSION}.{}.{}.{nonce}",
        token_id(digest),
        expires_at.timestamp()
    );
    let tag = mac(&key.for_token(digest), &[payload.as_bytes()])
        .finalize()
        .into_bytes();
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// The session a cookie value proves: intact, signed with `key`, unexpired at `now`, and for a
/// token that is still configured.
pub fn verify(key: &SessionKey, tokens: &ApiTokens, value: &str, now: DateTime<Utc>) -> Option<Session> {
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
    // signed with a far expiry, by whoever once held the secret, is not honoured for long.
    if expires_at <= now || expires_at > now + LIFETIME + chrono::Duration::minutes(5) {
        return None;
    }
    // Digest prefixes may collide: try each token they name; verify_slice is constant-time.
    let key = tokens
        .digests()
        .iter()
        .filter(|digest| token_id(digest) == id)
        .map(|digest| key.for_token(digest))
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

/// The session cookie's name: `__Host-` prefixed when cookies are `Secure`.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        HOST_COOKIE
    } else {
        COOKIE
    }
}

/// The session cookie's value in a request, if any (only under the name `secure` gives it:
/// under https a plain `th_session` may have been planted by another host).
pub fn cookie(headers: &HeaderMap, secure: bool) -> Option<&str> {
    let name = cookie_name(secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value)
}

/// `Set-Cookie` for a new session (or, with `None`, one that ends it): never readable by
/// scripts, never sent from another site; when `PUBLIC_URL` is https only over TLS and as a
/// `__Host-` cookie (which must be for `Path=/`), otherwise only for `/ui`.
pub fn set_cookie(value: Option<&str>, secure: bool) -> HeaderValue {
    let max_age = value.map_or(0, |_| LIFETIME.num_seconds());
    let (path, flag) = if secure { ("/", "; Secure") } else { ("/ui", "") };
    let cookie = format!(
        "{}={}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{flag}",
        cookie_name(secure),
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
    let key = request
        .extensions()
        .get::<SessionKey>()
        .expect("ui::router adds the session key");
    let session = cookie(request.headers(), secure(&state))
        .and_then(|v| verify(key, state.api_tokens(), v, Utc::now()));
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

    fn key() -> SessionKey {
        SessionKey::from_bytes([7; 32])
    }

    fn tokens(list: &[&str]) -> ApiTokens {
        let list: Vec<SecretString> = list.iter().map(|t| (*t).into()).collect();
        ApiTokens::new(&list).unwrap()
    }

    #[test]
    fn a_session_lives_until_it_expires_or_its_token_goes() {
        let now = Utc::now();
        let value = issue(&key(), &digest_of(ONE), now + LIFETIME);
        let both = tokens(&[ONE, TWO]);
        let session = verify(&key(), &both, &value, now).expect("valid");
        assert_eq!(session.token_id, hex::encode(&digest_of(ONE)[..6]));
        assert_eq!(session.csrf_token().len(), 64);
        assert!(verify(&key(), &both, &value, now + LIFETIME).is_none(), "expired");
        assert!(
            verify(&key(), &tokens(&[TWO]), &value, now).is_none(),
            "token removed"
        );
        let hashed = format!("sha256:{}", hex::encode(digest_of(ONE)));
        assert!(
            verify(&key(), &tokens(&[&hashed]), &value, now).is_some(),
            "same token, as a digest"
        );
    }

    /// A correctly signed cookie whose expiry lies beyond a session's lifetime (ten years,
    /// say) is refused; one issued now is accepted.
    #[test]
    fn expiries_past_a_sessions_lifetime_are_refused() {
        let now = Utc::now();
        let known = tokens(&[ONE]);
        let far = issue(&key(), &digest_of(ONE), now + chrono::Duration::days(3650));
        assert!(verify(&key(), &known, &far, now).is_none());
        let fresh = issue(&key(), &digest_of(ONE), now + LIFETIME);
        assert!(verify(&key(), &known, &fresh, now).is_some());
    }

    /// A session is only as good as the server secret it was signed with: another server's
    /// (or the token's digest, as sessions were signed before) opens nothing.
    #[test]
    fn only_the_server_secret_signs_sessions() {
        let now = Utc::now();
        let known = tokens(&[ONE]);
        let other = issue(&SessionKey::from_bytes([8; 32]), &digest_of(ONE), now + LIFETIME);
        assert!(verify(&key(), &known, &other, now).is_none());
        let from_digest = issue(
            &SessionKey::from_bytes(digest_of(ONE)),
            &digest_of(ONE),
            now + LIFETIME,
        );
        assert!(verify(&key(), &known, &from_digest, now).is_none());
        assert!(format!("{:?}", key()).contains("REDACTED"));
    }

    #[test]
    fn tampering_is_refused() {
        let now = Utc::now();
        let known = tokens(&[ONE]);
        let value = issue(&key(), &digest_of(ONE), now + LIFETIME);
        let later = (now + LIFETIME * 10).timestamp().to_string();
        let parts: Vec<&str> = value.split('.').collect();
        let extended = format!("{}.{}.{later}.{}.{}", parts[0], parts[1], parts[3], parts[4]);
        assert!(verify(&key(), &known, &extended, now).is_none());
        let mut flipped = value.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert!(verify(&key(), &known, std::str::from_utf8(&flipped).unwrap(), now).is_none());
        for garbage in ["", ".", "v1....", "v2.a.b.c.d", &format!("{value}.x")] {
            assert!(verify(&key(), &known, garbage, now).is_none(), "{garbage:?}");
        }
        // Two sessions of one token have different CSRF tokens.
        let other = issue(&key(), &digest_of(ONE), now + LIFETIME);
        let (a, b) = (
            verify(&key(), &known, &value, now).unwrap(),
            verify(&key(), &known, &other, now).unwrap(),
        );
        assert_ne!(a.csrf_token(), b.csrf_token());
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; th_session=v1.x; __Host-th_session=v1.y; b=2"),
        );
        assert_eq!(cookie(&headers, false), Some("v1.x"));
        assert_eq!(cookie(&headers, true), Some("v1.y"));
        headers.insert(header::COOKIE, HeaderValue::from_static("th_session=v1.x"));
        assert_eq!(
            cookie(&headers, true),
            None,
            "a plain name under https is not read"
        );
        let set = set_cookie(Some("v"), true);
        let text = set.to_str().unwrap();
        assert!(text.starts_with("__Host-th_session=v; Path=/;"), "{text}");
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict") && text.ends_with("; Secure"));
        assert!(!text.contains("Domain"), "{text}");
        let plain = set_cookie(None, false);
        let plain = plain.to_str().unwrap();
        assert!(
            plain.starts_with("th_session=; Path=/ui;") && !plain.contains("Secure"),
            "{plain}"
        );
    }
}
