//! PostgreSQL over TLS: `serve` honours `sslmode` in `DATABASE_URL` (security review: sqlx
//! was built without TLS, so `sslmode=require` failed at start-up and nothing was
//! encrypted). The local server has TLS on with Debian's self-signed certificate.

use crate::support::process::{bin, serve_env, ServeProcess};
use crate::support::{bundle, callback, Backend, TestDb};

/// Whether every connection this database has open is encrypted, and how many there are.
async fn tls_connections(db: &TestDb, name: &str) -> (i64, i64) {
    let all = db
        .count(&format!(
            "select count(*) from pg_stat_activity where datname = '{name}' and pid <> pg_backend_pid()"
        ))
        .await;
    let encrypted = db
        .count(&format!(
            "select count(*) from pg_stat_activity a join pg_stat_ssl s on s.pid = a.pid \
             where a.datname = '{name}' and s.ssl and a.pid <> pg_backend_pid()"
        ))
        .await;
    (all, encrypted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432 with TLS on"]
async fn sslmode_is_honoured() {
    let db = TestDb::new(Backend::Postgres).await;
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    assert!(
        db.count("select count(*) from pg_settings where name = 'ssl' and setting = 'on'")
            .await
            == 1,
        "this test needs a PostgreSQL server with ssl = on"
    );

    // require: every connection the service holds is encrypted, and it works.
    let serve = ServeProcess::start(&serve_env(&format!("{}?sslmode=require", db.url)));
    let http = reqwest::Client::new();
    let sid = bundle(1);
    assert_eq!(serve.post_signed(&http, &callback(&sid, "in-review")).await, 204);
    let profile = serve
        .api_json(&http, &format!("/v1/profiles/{sid}"))
        .await
        .unwrap();
    assert_eq!(profile["status"], "in-review", "{profile}");
    let (all, encrypted) = tls_connections(&db, &name).await;
    assert!(all >= 1, "the service holds no connection");
    assert_eq!(
        encrypted,
        all,
        "sslmode=require, yet {} of {all} connections are plain",
        all - encrypted
    );
    assert_eq!(serve.terminate(), Some(0));

    // verify-full: the server's self-signed certificate is not trusted, so start-up fails
    // with the reason rather than falling back to plain text.
    let output = bin()
        .envs(serve_env(&format!("{}?sslmode=verify-full", db.url)))
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .arg("serve")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.to_lowercase().contains("certificate") || text.contains("UnknownIssuer"),
        "the refusal does not say why: {text}"
    );

    // disable: plain text, as asked.
    let serve = ServeProcess::start(&serve_env(&format!("{}?sslmode=disable", db.url)));
    assert_eq!(
        serve.post_signed(&http, &callback(&sid, "twilio-approved")).await,
        204
    );
    let (all, encrypted) = tls_connections(&db, &name).await;
    assert!(all >= 1);
    assert_eq!(
        encrypted, 0,
        "sslmode=disable, yet {encrypted} connections are encrypted"
    );
    assert_eq!(serve.terminate(), Some(0));
}
