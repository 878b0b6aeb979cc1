//! Sending one signed webhook: no redirects, a per-request timeout, public addresses only.

use super::signing;
use super::ssrf::{self, GuardedResolver};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Sent {
    pub status: Option<u16>,
    pub latency: Duration,
    pub error: Option<String>,
    pub retry_after: Option<Duration>,
    /// The URL was refused before any connection (a non-public address).
    pub refused: bool,
}

/// A URL as logs and recorded errors show it: scheme, host, port and path. Never the query,
/// which often carries the subscriber's token, nor credentials.
pub fn loggable(url: &url::Url) -> String {
    format!(
        "{}://{}",
        url.scheme(),
        &url[url::Position::BeforeHost..url::Position::AfterPath]
    )
}

#[derive(Debug, Clone)]
pub struct WebhookSender {
    http: reqwest::Client,
    allow_private: bool,
}

impl WebhookSender {
    pub fn new(timeout: Duration, allow_private: bool) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            // Never through HTTP_PROXY and friends: a proxy resolves the host itself, past the
            // address filter below.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .user_agent(concat!("trusthub-hooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, allow_private })
    }

    #[tracing::instrument(name = "webhook", skip_all, fields(url, webhook_id = id))]
    pub async fn send(&self, url: &str, secret: &str, id: &str, body: &[u8]) -> Sent {
        let started = Instant::now();
        let refuse = |error: String| Sent {
            status: None,
            latency: started.elapsed(),
            error: Some(error),
            retry_after: None,
            refused: true,
        };
        let parsed = match url::Url::parse(url) {
            Ok(parsed) => parsed,
            Err(e) => return refuse(format!("invalid URL: {e}")),
        };
        let shown = loggable(&parsed);
        tracing::Span::current().record("url", shown.as_str());
        if let Err(reason) = ssrf::check_url(&parsed, self.allow_private) {
            return refuse(reason);
        }
        let timestamp = chrono::Utc::now().timestamp();
        let signature = match signing::sign(secret, id, timestamp, body) {
            Ok(signature) => signature,
            Err(e) => return refuse(e),
        };
        let result = self
            .http
            .post(parsed)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_vec())
            .send()
            .await;
        match result {
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(crate::twilio::client::parse_retry_after);
                Sent {
                    status: Some(status.as_u16()),
                    latency: started.elapsed(),
                    error: (!status.is_success()).then(|| format!("answered {status}")),
                    retry_after,
                    refused: false,
                }
            }
            Err(error) => {
                // reqwest's message names the whole URL, query and all: name `shown` instead.
                let timed_out = error.is_timeout();
                let error = error.without_url();
                // The guarded resolver's refusal surfaces as a connect error; say which.
                let text = std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source())
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(": ");
                let refused = text.contains("non-public");
                let text = format!("{shown}: {text}");
                Sent {
                    status: None,
                    latency: started.elapsed(),
                    error: Some(if timed_out {
                        format!("timed out: {text}")
                    } else {
                        text
                    }),
                    retry_after: None,
                    refused,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loggable_urls_keep_no_query_or_credentials() {
        let url = url::Url::parse("https://u:p@hooks.example.net:8443/a/b?token=t#f").unwrap();
        assert_eq!(super::loggable(&url), "https://hooks.example.net:8443/a/b");
    }
}
