//! `simulate`: one status callback signed exactly as Twilio signs it, to test a deployment.

use crate::twilio::signature;
use secrecy::ExposeSecret as _;

/// What the receiver answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Posts `AccountSid`, `BundleSid`, `Status` (and `FailureReason`) to `url`, signed with the
/// account's current auth token over `url` itself, with a fresh idempotency token.
pub async fn send(
    url: &str,
    account: &crate::config::Account,
    profile_sid: &str,
    status: &str,
    failure_reason: Option<&str>,
) -> Result<Answer, String> {
    let mut params = vec![
        ("AccountSid".to_owned(), account.sid.to_string()),
        ("BundleSid".to_owned(), profile_sid.to_owned()),
        ("Status".to_owned(), status.to_owned()),
    ];
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
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .post(url)
        .header("X-Twilio-Signature", signed)
        .header("I-Twilio-Idempotency-Token", idempotency)
        .header("User-Agent", "TwilioProxy/1.1 (trusthub-hooks simulate)")
        .form(&params)
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Ok(Answer { status, body })
}
