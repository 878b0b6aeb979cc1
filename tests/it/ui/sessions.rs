//! Dashboard sessions are signed with a random secret the service keeps in its database: a
//! reader of the configuration (a token's `sha256:` digest) cannot mint one, every instance
//! on one database accepts the others' sessions, and the cookie is `__Host-` under https.

use super::client::{get, login, session_cookie, set_cookie_header, sign_in, value_of};
use crate::support::{Backend, TestApp, TestDb, API_TOKEN};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use sqlx::Connection as _;
use trusthub_hooks::ui::session::{self, SessionKey};

type HmacSha256 = Hmac<Sha256>;

/// The session secret the service stored in `db`.
pub async fn stored_key(backend: Backend, db: &TestDb) -> SessionKey {
    let query = "select value from server_secrets where name = 'ui-session'";
    let bytes: Vec<u8> = match backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(query).fetch_one(&mut c).await.unwrap()
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(query).fetch_one(&mut c).await.unwrap()
        }
    };
    SessionKey::from_bytes(bytes.try_into().expect("32 bytes"))
}

/// A cookie signed as sessions were before the server secret: with a key derived from the
/// token's SHA-256 digest alone, which a `sha256:` entry in `API_TOKENS` reveals.
fn minted_from_digest(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut key = HmacSha256::new_from_slice(&digest).unwrap();
    key.update(b"trusthub-hooks/ui-session/v1");
    let key = key.finalize().into_bytes();
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).timestamp();
    let payload = format!(
        "v1.{}.{expires}.{}",
        hex::encode(&digest[..6]),
        hex::encode([9u8; 12])
    );
    let mut tag = HmacSha256::new_from_slice(&key).unwrap();
    tag.update(payload.as_bytes());
    format!(
        "{payload}.{}",
        URL_SAFE_NO_PAD.encode(tag.finalize().into_bytes())
    )
}

/// Knowing the token's digest (or the token) mints nothing; a cookie signed with the stored
/// secret, the same way, opens the dashboard.
async fn a_cookie_minted_from_the_token_digest_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let forged = format!("{}={}", session::HOST_COOKIE, minted_from_digest(API_TOKEN));
    let response = get(&app, Some(&forged), "/ui").await;
    assert_eq!(response.status(), 303, "a session minted from the token's digest");
    let key = stored_key(backend, &app.db).await;
    let digest = session::digest_of(API_TOKEN);
    let signed = session::issue(&key, &digest, chrono::Utc::now() + chrono::Duration::hours(1));
    let genuine = format!("{}={signed}", session::HOST_COOKIE);
    assert_eq!(get(&app, Some(&genuine), "/ui").await.status(), 200);
}

/// Instances on one database share the secret: on PostgreSQL two started together (each
/// offering its own secret) accept each other's sessions; on SQLite, which one process
/// serves, the next start does. An instance on another database refuses them.
async fn instances_on_one_database_accept_each_others_sessions(backend: Backend) {
    let db = TestDb::new(backend).await;
    let elsewhere = TestApp::spawn(backend).await;
    match backend {
        Backend::Postgres => {
            let (a, b) = tokio::join!(
                TestApp::spawn_on(db.shared(), None, |_| {}),
                TestApp::spawn_on(db.shared(), None, |_| {}),
            );
            let (from_a, from_b) = (login(&a).await, login(&b).await);
            assert_eq!(get(&b, Some(&from_a), "/ui").await.status(), 200);
            assert_eq!(get(&a, Some(&from_b), "/ui").await.status(), 200);
            assert_eq!(get(&elsewhere, Some(&from_a), "/ui").await.status(), 303);
        }
        Backend::Sqlite => {
            let first = TestApp::spawn_on(db.shared(), None, |_| {}).await;
            let cookie = login(&first).await;
            first.stop().await;
            let next = TestApp::spawn_on(db.shared(), None, |_| {}).await;
            assert_eq!(get(&next, Some(&cookie), "/ui").await.status(), 200);
            assert_eq!(get(&elsewhere, Some(&cookie), "/ui").await.status(), 303);
        }
    }
}

/// Under an https `PUBLIC_URL` the cookie is `__Host-`: `Secure`, `Path=/`, no `Domain`, and
/// a plain `th_session` (which another host could have planted) is not read. Over loopback
/// http it is a plain `th_session` for `/ui`, and signing in works.
async fn the_cookie_is_host_only_under_https(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let right = sign_in(&app, API_TOKEN).await;
    let header = set_cookie_header(&right);
    assert!(header.starts_with("__Host-th_session="), "{header}");
    let parts: Vec<&str> = header.split("; ").collect();
    for flag in ["Secure", "Path=/", "HttpOnly", "SameSite=Strict"] {
        assert!(parts.contains(&flag), "{flag} missing from {header}");
    }
    assert!(!header.to_ascii_lowercase().contains("domain="), "{header}");
    let cookie = session_cookie(&right).unwrap();
    assert_eq!(get(&app, Some(&cookie), "/ui").await.status(), 200);
    let planted = format!("{}={}", session::COOKIE, value_of(&cookie));
    assert_eq!(get(&app, Some(&planted), "/ui").await.status(), 303);

    let loopback = TestApp::spawn_with(backend, None, |env| {
        env.retain(|(k, _)| *k != "PUBLIC_URL");
        env.push(("PUBLIC_URL", "http://127.0.0.1:8080/th".into()));
    })
    .await;
    let right = sign_in(&loopback, API_TOKEN).await;
    let header = set_cookie_header(&right);
    assert!(
        header.starts_with("th_session=") && header.contains("; Path=/ui;"),
        "{header}"
    );
    assert!(!header.contains("Secure"), "{header}");
    let cookie = session_cookie(&right).unwrap();
    assert_eq!(get(&loopback, Some(&cookie), "/ui").await.status(), 200);
}

both_backends!(
    a_cookie_minted_from_the_token_digest_is_refused,
    instances_on_one_database_accept_each_others_sessions,
    the_cookie_is_host_only_under_https,
);
