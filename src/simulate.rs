//! `simulate`: one status callback, or one Event Streams event, signed exactly as Twilio signs
//! it, to test a deployment.

use crate::twilio::signature;
use secrecy::ExposeSecret as _;
use sha2::Digest as _;

/// What the receiver answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Posts `AccountSid`, `BundleSid`, `Status` (and `FailureReason`, `FriendlyName`) to `url`, signed with the
/// account's current auth token over `url` itself, with a fresh idempotency token.
pub async fn send(
    url: &str,
    account: &crate::config::Account,
    profile_sid: &str,
    status: &str,
    failure_reason: Option<&str>,
    friendly_name: Option<&str>,
) -> Result<Answer, String> {
    let mut params = vec![
        ("AccountSid".to_owned(), account.sid.to_string()),
        ("BundleSid".to_owned(), profile_sid.to_owned()),
        ("Status".to_owned(), status.to_owned()),
    ];
    if let Some(name) = friendly_name {
        params.push(("FriendlyName".to_owned(), name.to_owned()));
    }
    if let Some(reason) = failure_reason {
        params.push(("FailureReason".to_owned(), reason.to_owned()));
    }
    let token = account.tokens.first().ok_or("the account has no auth token")?;
    let data = signature::signing_string(url, &params);
    let signed = signature::compute(
        token.expose_secret().as_bytes(),
        signature::Algorithm::HmacSha1,
        &data,
    );
    let idempotency = format!("simulate-{:016x}", rand::random::<u64>());
    let request = client()?
        .post(url)
        .header("X-Twilio-Signature", signed)
        .header("I-Twilio-Idempotency-Token", idempotency)
        .form(&params);
    answer(url, request).await
}

fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("TwilioProxy/1.1 (trusthub-hooks simulate)")
        .build()
        .map_err(|e| e.to_string())
}

async fn answer(url: &str, request: reqwest::RequestBuilder) -> Result<Answer, String> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Ok(Answer { status, body })
}

/// What `simulate event` reports.
#[derive(Debug, Clone)]
pub struct SimulatedEvent<'a> {
    /// The CloudEvents type, e.g. `com.twilio.messaging.compliance.brand-registration.brand-failure`.
    pub event_type: &'a str,
    /// A brand (`BN…`), campaign (`QE…`/`CM…`) or toll-free verification (`HH…`).
    pub sid: &'a str,
    /// Twilio's status word; the type's last part when not given.
    pub status: Option<&'a str>,
    /// A campaign's brand.
    pub brand: Option<&'a str>,
}

/// The CloudEvent Event Streams would send for `what`, in the fields Twilio's event pages
/// show, with a fresh id.
pub fn event(account: &str, what: &SimulatedEvent<'_>) -> Result<serde_json::Value, String> {
    let status = what
        .status
        .unwrap_or_else(|| what.event_type.rsplit('.').next().unwrap_or(what.event_type));
    let now = chrono::Utc::now();
    let mut data = serde_json::json!({"accountsid": account, "timestamp": now.timestamp_millis()});
    let (sid_field, status_field) = match &what.sid.get(..2) {
        Some("BN") => ("brandsid", "brandstatus"),
        Some("QE" | "CM") => ("campaignsid", "campaignregistrationstatus"),
        Some("HH") => ("tollfreeverificationsid", "verificationstatus"),
        _ => {
            return Err(format!(
                "{:?}: a brand (BN…), campaign (QE…) or toll-free verification (HH…) SID",
                what.sid
            ))
        }
    };
    data[sid_field] = what.sid.into();
    data[status_field] = status.into();
    if let Some(brand) = what.brand {
        data["brandsid"] = brand.into();
    }
    Ok(serde_json::json!({
        "specversion": "1.0",
        "type": what.event_type,
        "source": "trusthub-hooks simulate",
        "id": format!("NO{:032x}", rand::random::<u128>()),
        "time": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "datacontenttype": "application/json",
        "data": data,
    }))
}

/// Posts `events` (a JSON array) to an Event Streams sink at `url` as Twilio does: `url` gains
/// `bodySHA256`, and the signature is over that URL with the account's current auth token.
pub async fn send_events(
    url: &str,
    account: &crate::config::Account,
    events: &serde_json::Value,
) -> Result<Answer, String> {
    let body = events.to_string();
    let hash = hex::encode(sha2::Sha256::digest(body.as_bytes()));
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{separator}bodySHA256={hash}");
    let token = account.tokens.first().ok_or("the account has no auth token")?;
    let signed = signature::compute(
        token.expose_secret().as_bytes(),
        signature::Algorithm::HmacSha1,
        &signature::signing_string(&url, &[]),
    );
    let request = client()?
        .post(&url)
        .header("X-Twilio-Signature", signed)
        .header("Content-Type", "application/json")
        .body(body);
    answer(&url, request).await
}
