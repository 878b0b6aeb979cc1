//! `events setup` and `events status`: the Event Streams webhook sink pointing at
//! `PUBLIC_URL` + `/twilio/events` and its subscription to the compliance event types, in the
//! main account, every configured account and (with discovery) every subaccount.

use crate::config::Config;
use crate::twilio::events_api::{EventsApi, COMPLIANCE_EVENT_TYPES};
use crate::twilio::{CredentialBook, Credentials, TwilioError};
use std::process::ExitCode;

/// The accounts to act for: `--account`, or all.
async fn accounts(config: &Config, only: Option<&str>) -> anyhow::Result<Vec<Credentials>> {
    let book = CredentialBook::from_config(config);
    match only {
        Some(account) => {
            let sid =
                crate::domain::AccountSid::parse(account).map_err(|e| anyhow::anyhow!("--account: {e}"))?;
            let creds = book.resolve(Some(sid.as_str())).await?.ok_or_else(|| {
                anyhow::anyhow!("--account {sid}: not configured, nor a subaccount of the main account")
            })?;
            Ok(vec![creds])
        }
        None => Ok(book.every_account().await?),
    }
}

fn destination(config: &Config) -> anyhow::Result<String> {
    Ok(config.public_url()?.route_url("/twilio/events", None))
}

/// One account set up: what was created, reused or added.
async fn set_up(api: &EventsApi, creds: &Credentials, destination: &str) -> Result<String, TwilioError> {
    let mut done = Vec::new();
    let sink = match api.sinks_to(creds, destination).await?.into_iter().next() {
        Some(sink) => {
            done.push(format!("sink {} reused", sink.sid));
            sink
        }
        None => {
            let sink = api.create_sink(creds, destination).await?;
            done.push(format!("sink {} created", sink.sid));
            sink
        }
    };
    match api.subscriptions_of(creds, &sink.sid).await?.into_iter().next() {
        None => {
            let subscription = api
                .create_subscription(creds, &sink.sid, COMPLIANCE_EVENT_TYPES)
                .await?;
            done.push(format!(
                "subscription {} created ({} types)",
                subscription.sid,
                COMPLIANCE_EVENT_TYPES.len()
            ));
        }
        Some(subscription) => {
            let have = api.subscribed_types(creds, &subscription.sid).await?;
            let missing: Vec<&str> = COMPLIANCE_EVENT_TYPES
                .iter()
                .copied()
                .filter(|t| !have.iter().any(|h| h == t))
                .collect();
            for kind in &missing {
                api.subscribe(creds, &subscription.sid, kind).await?;
            }
            done.push(format!(
                "subscription {} reused, {} types added",
                subscription.sid,
                missing.len()
            ));
        }
    }
    Ok(done.join(", "))
}

pub async fn setup(config: &Config, only: Option<&str>) -> anyhow::Result<ExitCode> {
    let destination = destination(config)?;
    let api = EventsApi::from_config(config)?;
    let mut failed = 0;
    for creds in accounts(config, only).await? {
        match set_up(&api, &creds, &destination).await {
            Ok(done) => println!("{}: {done}", creds.username),
            Err(error) => {
                failed += 1;
                println!("{}: FAILED: {error}", creds.username);
            }
        }
    }
    println!("Event Streams post to {destination}");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn status(config: &Config, only: Option<&str>) -> anyhow::Result<ExitCode> {
    let destination = destination(config)?;
    let api = EventsApi::from_config(config)?;
    let mut incomplete = 0;
    for creds in accounts(config, only).await? {
        let account = creds.username.clone();
        let shown: Result<String, TwilioError> = async {
            let Some(sink) = api.sinks_to(&creds, &destination).await?.into_iter().next() else {
                return Ok("no sink to this service (run events setup)".to_owned());
            };
            let status = sink.status.clone().unwrap_or_default();
            let Some(subscription) = api.subscriptions_of(&creds, &sink.sid).await?.into_iter().next() else {
                return Ok(format!(
                    "sink {} ({status}), no subscription (run events setup)",
                    sink.sid
                ));
            };
            let have = api.subscribed_types(&creds, &subscription.sid).await?;
            let missing: Vec<&&str> = COMPLIANCE_EVENT_TYPES
                .iter()
                .filter(|t| !have.iter().any(|h| h == **t))
                .collect();
            Ok(format!(
                "sink {} ({status}), subscription {}: {} of {} types{}",
                sink.sid,
                subscription.sid,
                COMPLIANCE_EVENT_TYPES.len() - missing.len(),
                COMPLIANCE_EVENT_TYPES.len(),
                if missing.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", missing {}",
                        missing
                            .iter()
                            .map(|t| t.rsplit('.').next().unwrap_or(t))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ))
        }
        .await;
        match shown {
            Ok(text) => {
                if !text.contains(&format!(
                    "{} of {} types",
                    COMPLIANCE_EVENT_TYPES.len(),
                    COMPLIANCE_EVENT_TYPES.len()
                )) {
                    incomplete += 1;
                }
                println!("{account}: {text}");
            }
            Err(error) => {
                incomplete += 1;
                println!("{account}: FAILED: {error}");
            }
        }
    }
    Ok(if incomplete == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
