//! Alert emails through a real SMTP server on loopback that is as strict as a real one
//! (`support::smtp`): what the alerts say (`alerts.rs`), how the transport protects them and
//! the password (`tls.rs`), how SMTP refusals are retried or buried (`refusals.rs`), and that
//! the server refuses what a real one refuses (`server.rs`), so that passing against it means
//! something.

mod alerts;
mod refusals;
mod server;
mod tls;

use crate::support::smtp::SmtpServer;

fn email_config(smtp: &SmtpServer) -> Vec<(&'static str, String)> {
    vec![
        ("SMTP_URL", smtp.url()),
        ("ALERT_EMAIL_FROM", "Trust Hub Alerts <alerts@example.com>".into()),
        ("ALERT_EMAIL_TO", "all@example.com".into()),
    ]
}
