//! Alert emails over SMTP (lettre): plain or STARTTLS (`smtp://`) or TLS (`smtps://`),
//! multipart text and HTML, recipients masked in logs.

use super::event::{ComplianceChanged, Event, EventData, Expiring, StatusChanged};
use crate::config::{invalid, ConfigError};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::Path;
use std::time::Duration;

pub use crate::config::DEFAULT_SUBJECT;

/// A rendered alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Why a message was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct MailError {
    /// A 5xx reply: sending again cannot help.
    pub permanent: bool,
    pub code: Option<u16>,
    pub message: String,
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// `ops@example.com` → `o**@example.com`, for logs.
pub fn mask(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}**@{domain}")
        }
        None => "***".to_owned(),
    }
}

impl Mailer {
    /// The transport of `SMTP_URL`: `smtp://[user:pass@]host[:port]` (STARTTLS when the server
    /// offers it) or `smtps://…` (TLS from the start), trusting the web PKI roots and those of
    /// `ca_file` (`SMTP_CA_FILE`).
    pub fn new(
        smtp_url: &str,
        ca_file: Option<&Path>,
        from: &str,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        let url = url::Url::parse(smtp_url).map_err(|e| invalid("SMTP_URL", format!("not a URL: {e}")))?;
        let host = url
            .host_str()
            .ok_or_else(|| invalid("SMTP_URL", "no host"))?
            .to_owned();
        let tls = tls_parameters(&host, ca_file)?;
        // Credentials go only over TLS: opportunistic STARTTLS would send them in the clear to
        // a server whose STARTTLS a man in the middle stripped.
        let credentials = !url.username().is_empty();
        let (tls, default_port) = match url.scheme() {
            "smtp" if credentials => (Tls::Required(tls), 25),
            "smtp" => (Tls::Opportunistic(tls), 25),
            "smtps" => (Tls::Wrapper(tls), 465),
            other => {
                return Err(invalid(
                    "SMTP_URL",
                    format!("scheme {other:?} is neither smtp nor smtps"),
                ))
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(url.port().unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(timeout));
        if !url.username().is_empty() {
            let decode = |s: &str| percent_decode(s);
            builder = builder.credentials(Credentials::new(
                decode(url.username()),
                decode(url.password().unwrap_or_default()),
            ));
        }
        let from: Mailbox = from
            .parse()
            .map_err(|e| invalid("ALERT_EMAIL_FROM", format!("{e}")))?;
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    /// Connects, greets and (when configured) starts TLS and authenticates, sending nothing:
    /// what `doctor` checks.
    pub async fn check(&self) -> Result<(), String> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("the server did not answer NOOP".into()),
            Err(error) => Err(error.to_string()),
        }
    }

    #[tracing::instrument(name = "smtp", skip_all, fields(to = %mask(to)))]
    pub async fn send(&self, to: &str, email: &Rendered) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|e| MailError {
            permanent: true,
            code: None,
            message: format!("invalid recipient: {e}"),
        })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject)
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| MailError {
                permanent: true,
                code: None,
                message: format!("cannot build the message: {e}"),
            })?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| MailError {
                permanent: e.is_permanent(),
                code: e.status().and_then(|c| c.to_string().parse().ok()),
                message: e.to_string(),
            })
    }
}

/// TLS to `host`, its certificate always verified: against the web PKI roots and, for a relay
/// with a private CA, the certificates of `ca_file`.
fn tls_parameters(host: &str, ca_file: Option<&Path>) -> Result<TlsParameters, ConfigError> {
    let builder = TlsParameters::builder(host.to_owned());
    if let Some(path) = ca_file {
        let unusable = |why: String| invalid("SMTP_CA_FILE", format!("{}: {why}", path.display()));
        let pem = std::fs::read(path).map_err(|e| unusable(e.to_string()))?;
        // lettre reads a file without a certificate as an empty list, which would trust
        // nothing more while seeming configured.
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(unusable(
                "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
            ));
        }
        let roots = Certificate::from_pem(&pem).map_err(|e| unusable(e.to_string()))?;
        // A certificate that is not one (valid base64, wrong DER) is refused here, at start-up.
        return builder
            .add_root_certificate(roots)
            .build()
            .map_err(|e| unusable(e.to_string()));
    }
    builder.build().map_err(|e| invalid("SMTP_URL", e.to_string()))
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn display_name(friendly_name: Option<&str>, sid: &str) -> String {
    match friendly_name {
        Some(friendly) => format!("{friendly} ({sid})"),
        None => sid.to_owned(),
    }
}

/// Renders the alert for an event.
pub fn render(event: &Event, subject_template: &str) -> Rendered {
    match &event.data {
        EventData::StatusChanged(d) => render_status_changed(d, subject_template),
        EventData::Expiring(d) => render_expiring(d),
        EventData::Compliance(d) => render_compliance(d),
    }
}

/// One of Twilio's errors as events and the Messaging API give them: a code, a description,
/// a link and the fields to fix, under whichever names that object's API uses.
fn compliance_error(error: &serde_json::Value) -> (String, Vec<String>) {
    let field = |names: &[&str]| names.iter().find_map(|n| error.get(*n)).cloned();
    let code = field(&["registrationerrorcode", "error_code", "code", "errorcode"]);
    let description = field(&[
        "registrationerrordescription",
        "description",
        "reason",
        "message",
        "rejection_reason",
    ]);
    let url = field(&["registrationerrorurl", "url", "more_info"]);
    let fields = field(&["registrationerrorfields", "fields"])
        .and_then(|f| f.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|f| f.as_str().map_or_else(|| f.to_string(), str::to_owned))
        .collect();
    let plain =
        |v: Option<serde_json::Value>| v.map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
    let mut line = match (plain(code), plain(description)) {
        (Some(code), Some(text)) => format!("{text} (error {code})"),
        (Some(code), None) => format!("error {code}"),
        (None, Some(text)) => text,
        (None, None) => error.to_string(),
    };
    if let Some(url) = plain(url) {
        line.push_str(&format!(" {url}"));
    }
    (line, fields)
}

/// A brand's, campaign's or toll-free verification's status change, with each of Twilio's
/// errors and the fields to fix.
fn render_compliance(d: &ComplianceChanged) -> Rendered {
    let what = format!("{} {}", d.kind.title(), d.sid);
    let from = d.from.as_deref().unwrap_or("(new)");
    let subject = format!("[Twilio] {what} is now {}", d.to);
    let mut text = format!(
        "{what} changed status: {from} -> {} at {}.\n",
        d.to,
        d.at.to_rfc3339()
    );
    let mut html = format!(
        "<p>{} changed status: {} &rarr; <strong>{}</strong> at {}.</p>\n",
        escape(&what),
        escape(from),
        escape(&d.to),
        escape(&d.at.to_rfc3339())
    );
    let links = serde_json::to_value(&d.links).unwrap_or_default();
    if let Some(links) = links.as_object().filter(|l| !l.is_empty()) {
        let shown: Vec<String> = links
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
            .collect();
        text.push_str(&format!("Linked: {}\n", shown.join(", ")));
        html.push_str(&format!("<p>Linked: {}</p>\n", escape(&shown.join(", "))));
    }
    let errors: Vec<serde_json::Value> = match &d.errors {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    if !errors.is_empty() {
        text.push_str("\nWhat Twilio found:\n");
        html.push_str("<p>What Twilio found:</p>\n<ul>\n");
        for error in &errors {
            let (line, fields) = compliance_error(error);
            text.push_str(&format!("- {line}\n"));
            html.push_str(&format!("<li>{}", escape(&line)));
            if !fields.is_empty() {
                text.push_str(&format!("    fields to fix: {}\n", fields.join(", ")));
                html.push_str(&format!("<br>fields to fix: {}", escape(&fields.join(", "))));
            }
            html.push_str("</li>\n");
        }
        html.push_str("</ul>\n");
    }
    Rendered { subject, text, html }
}

/// An approval about to end: when, and what to do.
fn render_expiring(d: &Expiring) -> Rendered {
    let name = display_name(d.friendly_name.as_deref(), &d.sid);
    let kind = d.kind.map_or("Bundle", |k| k.title());
    let until = d.valid_until.to_rfc3339();
    let when = match d.days_left {
        days if days < 0 => "has ended".to_owned(),
        0 => "ends within a day".to_owned(),
        1 => "ends in 1 day".to_owned(),
        days => format!("ends in {days} days"),
    };
    let subject = format!("Trust Hub approval of {name} {when}");
    let advice = "Renew it in Twilio's console (or submit an updated bundle) before then, so \
                  that the numbers and senders relying on it keep working.";
    let text = format!(
        "{kind} {name} is {}; its approval {when}: valid until {until}.\n{advice}\n",
        d.status
    );
    let html = format!(
        "<p>{kind} <strong>{}</strong> is {}; its approval {when}: valid until <strong>{}</strong>.</p>\n<p>{advice}</p>\n",
        escape(&name),
        escape(&d.status),
        escape(&until)
    );
    Rendered { subject, text, html }
}

/// A status change: the profile, the new status and, on rejection, each failed requirement
/// with Twilio's reason and the invalid fields.
fn render_status_changed(d: &StatusChanged, subject_template: &str) -> Rendered {
    let name = display_name(d.friendly_name.as_deref(), &d.sid);
    let subject = subject_template
        .replace("{name}", &name)
        .replace("{sid}", &d.sid)
        .replace("{status}", &d.to)
        .replace("{from}", d.from.as_deref().unwrap_or("unknown"));
    let mut text = format!(
        "Customer profile {name} changed status: {} -> {} at {}.\n",
        d.from.as_deref().unwrap_or("(new)"),
        d.to,
        d.at.to_rfc3339()
    );
    let mut html = format!(
        "<p>Customer profile <strong>{}</strong> changed status: {} &rarr; <strong>{}</strong> at {}.</p>\n",
        escape(&name),
        escape(d.from.as_deref().unwrap_or("(new)")),
        escape(&d.to),
        escape(&d.at.to_rfc3339())
    );
    if let Some(reason) = &d.failure_reason {
        text.push_str(&format!("Twilio's reason: {reason}\n"));
        html.push_str(&format!("<p>Twilio's reason: {}</p>\n", escape(reason)));
    }
    if let Some(errors) = &d.errors {
        let codes: Vec<String> = errors
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e.get("code").map_or_else(|| e.to_string(), ToString::to_string))
            .collect();
        let shown = if codes.is_empty() {
            errors.to_string()
        } else {
            codes.join(", ")
        };
        text.push_str(&format!("Error codes on the bundle: {shown}\n"));
        html.push_str(&format!("<p>Error codes on the bundle: {}</p>\n", escape(&shown)));
    }
    if let Some(evaluation) = &d.evaluation {
        let parsed = crate::twilio::models::Evaluation {
            sid: evaluation.sid.clone(),
            account_sid: None,
            policy_sid: None,
            customer_profile_sid: None,
            status: evaluation.status.clone(),
            results: evaluation.results.clone(),
            date_created: None,
        };
        let failures = parsed.failures();
        text.push_str(&format!(
            "\nTrust Hub evaluation {} ({}):\n",
            evaluation.sid, evaluation.status
        ));
        html.push_str(&format!(
            "<p>Trust Hub evaluation {} ({}):</p>\n<ul>\n",
            escape(&evaluation.sid),
            escape(&evaluation.status)
        ));
        for failure in &failures {
            let reason = failure.reason.as_deref().unwrap_or("no reason given");
            let code = failure
                .error_code
                .map(|c| format!(" (error {c})"))
                .unwrap_or_default();
            text.push_str(&format!("- {}: {reason}{code}\n", failure.requirement));
            html.push_str(&format!(
                "<li><strong>{}</strong>: {}{}",
                escape(&failure.requirement),
                escape(reason),
                escape(&code)
            ));
            if !failure.invalid_fields.is_empty() {
                html.push_str("<ul>");
                for field in &failure.invalid_fields {
                    let why = field.reason.as_deref().unwrap_or("invalid");
                    text.push_str(&format!("    * {}: {why}\n", field.field));
                    html.push_str(&format!("<li>{}: {}</li>", escape(&field.field), escape(why)));
                }
                html.push_str("</ul>");
            }
            html.push_str("</li>\n");
        }
        if failures.is_empty() {
            text.push_str("- no failed requirement is listed\n");
            html.push_str("<li>no failed requirement is listed</li>\n");
        }
        html.push_str("</ul>\n");
    }
    if let Some(unavailable) = &d.evaluation_unavailable {
        text.push_str(&format!("\n{unavailable}\n"));
        html.push_str(&format!("<p>{}</p>\n", escape(unavailable)));
    }
    if d.confirmed == Some(false) {
        let note = "Unconfirmed: Trust Hub could not be reached to confirm this decision; check the console.";
        text.push_str(&format!("\n{note}\n"));
        html.push_str(&format!("<p><strong>{note}</strong></p>\n"));
    }
    Rendered { subject, text, html }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask("ops@example.com"), "o**@example.com");
        assert_eq!(mask("nobody"), "***");
    }

    fn mailer_trusting(pem: &[u8]) -> Result<Mailer, String> {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), pem).unwrap();
        let url = "smtps://relay.example.com";
        Mailer::new(url, Some(file.path()), "a@example.com", Duration::from_secs(1))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn smtp_ca_file_is_checked_at_start_up() {
        let missing = Path::new("/nonexistent/ca.pem");
        let error = Mailer::new("smtp://h", Some(missing), "a@example.com", Duration::from_secs(1))
            .err()
            .unwrap()
            .to_string();
        assert!(error.starts_with("SMTP_CA_FILE: /nonexistent/ca.pem"), "{error}");
        let error = mailer_trusting(b"not a certificate").err().unwrap();
        assert!(
            error.starts_with("SMTP_CA_FILE:") && error.contains("no PEM"),
            "{error}"
        );
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let error = mailer_trusting(garbage).err().unwrap();
        assert!(error.starts_with("SMTP_CA_FILE:"), "{error}");
        let real = rcgen::generate_simple_self_signed(vec!["relay.example.com".to_owned()]).unwrap();
        assert!(mailer_trusting(real.cert.pem().as_bytes()).is_ok());
    }

    #[test]
    fn decodes_credentials() {
        assert_eq!(percent_decode("p%40ss+w"), "p@ss+w");
    }
}
