//! SMTP refusals, of the data or of a command: a 4xx is retried, a 5xx buries the delivery
//! at once with the SMTP code.

use super::email_config;
use crate::notify::{app, delivery_in};
use crate::support::smtp::SmtpServer;
use crate::support::{bundle, callback, Backend, TOKEN};

async fn smtp_refusals_transient_and_permanent(backend: Backend) {
    let smtp = SmtpServer::start().await;
    smtp.reply_to_next_data(&["451 4.3.0 mailbox busy, try later"]);
    let app = app(backend, None, email_config(&smtp)).await;
    assert_eq!(
        app.post_signed(&callback(&bundle(8), "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    let delivered = delivery_in(&app, "delivered").await;
    assert_eq!(delivered["attempts"], 2, "4xx is retried");
    assert_eq!(smtp.messages().len(), 1);
    smtp.reply_to_next_data(&["550 5.1.1 no such user"]);
    assert_eq!(
        app.post_signed(&callback(&bundle(9), "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    let dead = delivery_in(&app, "dead").await;
    assert_eq!(
        (dead["attempts"].as_i64(), dead["last_status_code"].as_i64()),
        (Some(1), Some(550)),
        "5xx is not"
    );
    assert!(dead["last_error"].as_str().unwrap().contains("no such user"));
}

/// Refusals of MAIL or RCPT, before any data: the retry starts a new transaction, and a
/// permanent refusal costs one attempt.
async fn refusals_of_mail_and_rcpt(backend: Backend) {
    let smtp = SmtpServer::start().await;
    smtp.fail_next("RCPT", "451 4.2.1 mailbox temporarily unavailable");
    let app = app(backend, None, email_config(&smtp)).await;
    assert_eq!(
        app.post_signed(&callback(&bundle(10), "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    let delivered = delivery_in(&app, "delivered").await;
    assert_eq!(
        (delivered["channel"].as_str(), delivered["attempts"].as_i64()),
        (Some("email"), Some(2)),
        "4xx is retried: {delivered}"
    );
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to, ["all@example.com"]);
    let sessions = smtp.sessions();
    let refused = &sessions[0];
    assert!(
        refused.iter().any(|(verb, _)| verb == "RCPT") && !refused.iter().any(|(verb, _)| verb == "DATA"),
        "the first attempt stopped at RCPT: {sessions:?}"
    );
    smtp.fail_next("MAIL", "550 5.7.1 sender address rejected");
    assert_eq!(
        app.post_signed(&callback(&bundle(11), "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    let dead = delivery_in(&app, "dead").await;
    assert_eq!(
        (dead["attempts"].as_i64(), dead["last_status_code"].as_i64()),
        (Some(1), Some(550)),
        "5xx is not retried: {dead}"
    );
    assert!(
        dead["last_error"]
            .as_str()
            .unwrap()
            .contains("sender address rejected"),
        "{dead}"
    );
    assert_eq!(smtp.messages().len(), 1, "nothing more was accepted");
}

both_backends!(smtp_refusals_transient_and_permanent, refusals_of_mail_and_rcpt);

/// A refusal that quotes the recipient is logged with the recipient masked, as every other
/// log line masks it (the binary's own log, read as an operator would).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_quoting_the_recipient_is_logged_masked() {
    let db = crate::support::TestDb::new(Backend::Sqlite).await;
    let smtp = SmtpServer::start().await;
    smtp.fail_next("RCPT", "550 5.1.1 <all@example.com>: recipient address rejected");
    let mut env = crate::support::process::serve_env(&db.url);
    env.extend(email_config(&smtp));
    env.push(("WORKER_POLL_MS", "50".to_owned()));
    let serve = crate::support::process::ServeProcess::start(&env);
    let client = reqwest::Client::new();
    assert_eq!(
        serve
            .post_signed(&client, &callback(&bundle(12), "in-review"))
            .await,
        204
    );
    let line = tokio::task::spawn_blocking(move || {
        let line = serve.wait_for_log("alert email refused");
        (line, serve)
    })
    .await
    .unwrap();
    assert!(line.0.contains("a**@example.com"), "{}", line.0);
    assert!(
        !line.0.contains("all@example.com"),
        "the full address is logged: {}",
        line.0
    );
}
