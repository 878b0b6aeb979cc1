//! How the transport protects alerts and the SMTP password: STARTTLS before AUTH on
//! `smtp://`, TLS from the first byte on `smtps://`, the server's certificate verified (a
//! private CA trusted through `SMTP_CA_FILE`, never by skipping the check), and no password
//! to a server that offers AUTH without TLS.

use crate::notify::{app, deliveries, delivery_in};
use crate::support::smtp::SmtpServer;
use crate::support::{bundle, callback, wait_for, Backend, TestApp, TOKEN};

const USER: &str = "alerts";
/// Percent-encoded in the URL: it must reach the server decoded.
const PASSWORD: &str = "s3cret p@ss";
const PASSWORD_IN_URL: &str = "s3cret%20p%40ss";

/// An app sending alerts to ops@ and oncall@ through `smtp_url`, trusting `ca_file`.
async fn alerting(backend: Backend, smtp_url: String, ca_file: Option<&SmtpServer>) -> TestApp {
    let mut extra = vec![
        ("SMTP_URL", smtp_url),
        ("ALERT_EMAIL_FROM", "alerts@example.com".to_owned()),
        ("ALERT_EMAIL_TO", "ops@example.com, oncall@example.com".to_owned()),
        ("DELIVERY_MAX_ATTEMPTS", "1".to_owned()),
    ];
    if let Some(smtp) = ca_file {
        extra.push(("SMTP_CA_FILE", smtp.certificate_file().display().to_string()));
    }
    let app = app(backend, None, extra).await;
    assert_eq!(
        app.post_signed(&callback(&bundle(12), "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    app
}

/// Waits for both alert emails and checks what every one of them shows.
async fn both_alerts(smtp: &SmtpServer, user: Option<&str>) {
    let messages = wait_for(20, "two alert emails", || async {
        let messages = smtp.messages();
        (messages.len() == 2).then_some(messages)
    })
    .await;
    let mut to: Vec<String> = messages.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, ["oncall@example.com", "ops@example.com"]);
    for message in &messages {
        assert_eq!(message.from, "alerts@example.com");
        assert!(message.tls, "the message came over TLS");
        assert_eq!(message.user.as_deref(), user);
    }
}

/// `smtp://` with credentials: EHLO and STARTTLS are all that cross in the clear; after TLS,
/// EHLO again, then AUTH (the password decoded), then the mail, one per recipient.
async fn starttls_comes_before_credentials(backend: Backend) {
    let smtp = SmtpServer::setup()
        .starttls()
        .require_auth(USER, PASSWORD)
        .start()
        .await;
    let app = alerting(backend, smtp.url_with(USER, PASSWORD_IN_URL), Some(&smtp)).await;
    both_alerts(&smtp, Some(USER)).await;
    assert_eq!(
        smtp.credentials(),
        vec![(USER.to_owned(), PASSWORD.to_owned()); 2]
    );
    let sessions = smtp.sessions();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    for session in &sessions {
        let clear: Vec<&str> = session
            .iter()
            .filter(|(_, tls)| !tls)
            .map(|(v, _)| v.as_str())
            .collect();
        assert_eq!(clear, ["EHLO", "STARTTLS"], "{session:?}");
        let secured: Vec<&str> = session
            .iter()
            .filter(|(_, tls)| *tls)
            .map(|(v, _)| v.as_str())
            .collect();
        assert_eq!(secured[..4], ["EHLO", "AUTH", "MAIL", "RCPT"], "{session:?}");
    }
    let delivered = wait_for(20, "two delivered emails", || async {
        let delivered = deliveries(&app, "?status=delivered").await;
        (delivered.len() == 2).then_some(delivered)
    })
    .await;
    assert!(delivered.iter().all(|d| d["attempts"] == 1), "{delivered:?}");
}

/// `smtps://`: TLS from the first byte, with and without credentials.
async fn smtps_with_and_without_credentials(backend: Backend) {
    for user in [Some(USER), None] {
        let setup = SmtpServer::setup().implicit_tls();
        let smtp = match user {
            Some(user) => setup.require_auth(user, PASSWORD),
            None => setup,
        }
        .start()
        .await;
        let url = match user {
            Some(user) => smtp.url_with(user, PASSWORD_IN_URL),
            None => smtp.url(),
        };
        assert!(url.starts_with("smtps://"));
        let _app = alerting(backend, url, Some(&smtp)).await;
        both_alerts(&smtp, user).await;
        let commands = smtp.commands();
        assert!(commands.iter().all(|c| c.tls), "{commands:?}");
        assert!(!commands.iter().any(|c| c.verb == "STARTTLS"), "{commands:?}");
        let expected: Vec<(String, String)> = user
            .map(|user| vec![(user.to_owned(), PASSWORD.to_owned()); 2])
            .unwrap_or_default();
        assert_eq!(smtp.credentials(), expected);
    }
}

/// Without `SMTP_CA_FILE`, a certificate that no known root vouches for is refused, over
/// STARTTLS (with credentials or without: no fallback to the clear) and over `smtps://`: the
/// delivery fails naming the certificate, and neither password nor mail is sent.
async fn untrusted_certificates_are_refused(backend: Backend) {
    let (starttls, implicit) = (SmtpServer::setup().starttls(), SmtpServer::setup().implicit_tls());
    let cases = [(starttls.clone(), true), (starttls, false), (implicit, true)];
    for (setup, with_credentials) in cases {
        let smtp = setup.start().await;
        let url = match with_credentials {
            true => smtp.url_with(USER, PASSWORD_IN_URL),
            false => smtp.url(),
        };
        let app = alerting(backend, url.clone(), None).await;
        // Both recipients' deliveries: the server's record is then complete.
        let dead = wait_for(20, "two dead emails", || async {
            let dead = deliveries(&app, "?status=dead").await;
            (dead.len() == 2).then(|| dead[0].clone())
        })
        .await;
        let error = dead["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("certificate"), "{url}: {dead}");
        let sessions = smtp.sessions();
        let expected: Vec<(String, bool)> = match url.starts_with("smtps://") {
            true => Vec::new(),
            false => vec![("EHLO".into(), false), ("STARTTLS".into(), false)],
        };
        assert_eq!(sessions.len(), 2, "{url}: {sessions:?}");
        assert!(sessions.iter().all(|s| *s == expected), "{url}: {sessions:?}");
        assert!(
            smtp.credentials().is_empty() && smtp.messages().is_empty(),
            "{url}"
        );
    }
}

/// With credentials in `smtp://`, TLS is required before them: a server that offers AUTH
/// without STARTTLS (a stripped STARTTLS, say) never receives the password, and the email
/// fails, saying why. (Without credentials, `smtp://` still sends in the clear when the
/// server offers no TLS: the other email tests.)
async fn smtp_credentials_never_go_in_the_clear(backend: Backend) {
    let smtp = SmtpServer::start_offering_auth_in_clear().await;
    let url = format!("smtp://alerts:hunter2-password@127.0.0.1:{}", smtp.port);
    let extra = vec![
        ("SMTP_URL", url),
        ("ALERT_EMAIL_FROM", "alerts@example.com".to_owned()),
        ("ALERT_EMAIL_TO", "ops@example.com".to_owned()),
        ("DELIVERY_MAX_ATTEMPTS", "1".to_owned()),
    ];
    let app = app(backend, None, extra).await;
    assert_eq!(
        app.post_signed(&callback(&bundle(5), "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    let dead = delivery_in(&app, "dead").await;
    assert_eq!(dead["channel"], "email");
    let error = dead["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(error.contains("tls"), "{dead}");
    assert!(smtp.verbs().iter().any(|v| v == "EHLO"), "it did connect");
    assert!(!smtp.verbs().iter().any(|v| v == "AUTH"), "{:?}", smtp.verbs());
    assert!(smtp.messages().is_empty());
}

both_backends!(
    starttls_comes_before_credentials,
    smtps_with_and_without_credentials,
    untrusted_certificates_are_refused,
    smtp_credentials_never_go_in_the_clear,
);
