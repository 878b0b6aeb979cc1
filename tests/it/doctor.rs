//! `trusthub-hooks doctor` as an operator runs it, against the fake Twilio and a real SMTP
//! server: all ok (exit 0), then a wrong token, an unreachable SMTP server and a bundle whose
//! StatusCallback is not `PUBLIC_URL`, each named with what to fix (exit 1).

use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::process::{run_cli as run, serve_env, ServeProcess};
use crate::support::smtp::SmtpServer;
use crate::support::{bundle, callback, Backend, TestDb, ACCOUNT, TOKEN};

async fn doctor_names_what_to_fix(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let (good, stray) = (bundle(0xc1), bundle(0xc2));
    fake.add_profile(&good, ACCOUNT, "in-review");
    fake.add_profile(&stray, ACCOUNT, "in-review");
    let smtp = SmtpServer::start().await;
    let mut env = serve_env(&db.url);
    env.extend([
        ("TRUSTHUB_API_URL", fake.base.clone()),
        ("TWILIO_NUMBERS_API_URL", fake.base.clone()),
        ("TWILIO_API_URL", fake.base.clone()),
        ("SMTP_URL", smtp.url()),
        ("ALERT_EMAIL_FROM", "alerts@example.com".to_owned()),
        ("ALERT_EMAIL_TO", "ops@example.com".to_owned()),
    ]);
    // Before anything ran: the database does not exist yet (SQLite), and doctor creates nothing.
    if backend == Backend::Sqlite {
        let (code, out) = run(&env, &["doctor"]).await;
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("FIX   DATABASE_URL") && out.contains("no such file yet"),
            "{out}"
        );
        let file = db.url.trim_start_matches("sqlite://").to_owned();
        assert!(
            !std::path::Path::new(&file).exists(),
            "doctor created the database"
        );
    }
    // The service has seen the bundle; its StatusCallback points here.
    let serve = ServeProcess::start(&env);
    let http = reqwest::Client::new();
    assert_eq!(serve.post_signed(&http, &callback(&good, "in-review")).await, 204);
    assert_eq!(serve.terminate(), Some(0));
    let (code, out) = run(&env, &["set-callback", &good]).await;
    assert_eq!(code, 0, "{out}");

    let (code, out) = run(&env, &["doctor"]).await;
    assert_eq!(code, 0, "{out}");
    for line in [
        "ok    DATABASE_URL",
        "ok    TWILIO_AUTH_TOKEN: Twilio accepts the credentials",
        "ok    StatusCallback: 1 known bundles checked",
        "ok    SMTP_URL",
        "everything checked is ok",
    ] {
        assert!(out.contains(line), "{line:?} missing: {out}");
    }

    // A wrong token.
    let mut wrong = env.clone();
    wrong.retain(|(k, _)| *k != "TWILIO_AUTH_TOKEN");
    wrong.push(("TWILIO_AUTH_TOKEN", "not-the-token-0123456789".to_owned()));
    let (code, out) = run(&wrong, &["doctor"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FIX   TWILIO_AUTH_TOKEN: Twilio refused the credentials"),
        "{out}"
    );

    // An SMTP server that is not there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut no_smtp = env.clone();
    no_smtp.retain(|(k, _)| *k != "SMTP_URL");
    no_smtp.push(("SMTP_URL", format!("smtp://127.0.0.1:{port}")));
    let (code, out) = run(&no_smtp, &["doctor"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FIX   SMTP_URL: 127.0.0.1"), "{out}");

    // A bundle whose StatusCallback is somewhere else.
    let serve = ServeProcess::start(&env);
    assert_eq!(
        serve.post_signed(&http, &callback(&stray, "in-review")).await,
        204
    );
    assert_eq!(serve.terminate(), Some(0));
    let (code, out) = run(&env, &["doctor"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("FIX   StatusCallback of {stray}"))
            && out.contains(&format!("set-callback {stray}")),
        "{out}"
    );
    assert!(!out.contains(&format!("StatusCallback of {good}")), "{out}");
}

both_backends!(doctor_names_what_to_fix);
