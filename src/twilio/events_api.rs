//! Twilio's Events API (`../shared/twilio/events_v1_sinks.json`): the webhook sink that posts
//! Event Streams to this service, and the subscription to the compliance event types.

use super::client::{Credentials, TwilioClient, TwilioError};
use serde::Deserialize;
use serde_json::json;

/// The A2P 10DLC and toll-free compliance event types subscribed to, from Twilio's event-type
/// pages (`/docs/events/event-types/a2p/brand-registration`, `…/campaign-registration`,
/// `…/toll-free/verification`); each at its latest schema version (none given).
pub const COMPLIANCE_EVENT_TYPES: &[&str] = &[
    "com.twilio.messaging.compliance.brand-registration.brand-registered",
    "com.twilio.messaging.compliance.brand-registration.brand-unverified",
    "com.twilio.messaging.compliance.brand-registration.brand-failure",
    "com.twilio.messaging.compliance.campaign-registration.campaign-submitted",
    "com.twilio.messaging.compliance.campaign-registration.campaign-approved",
    "com.twilio.messaging.compliance.campaign-registration.campaign-failure",
    "com.twilio.messaging.compliance.campaign-registration.campaign-deleted",
    "com.twilio.messaging.compliance.toll-free-verification.edit",
    "com.twilio.messaging.compliance.toll-free-verification.twilio-approved",
    "com.twilio.messaging.compliance.toll-free-verification.twilio-rejected",
];

/// `events.v1.sink`, what setup reads of it.
#[derive(Debug, Clone, Deserialize)]
pub struct Sink {
    pub sid: String,
    pub sink_type: Option<String>,
    pub status: Option<String>,
    #[serde(default)]
    pub sink_configuration: serde_json::Value,
}

impl Sink {
    pub fn destination(&self) -> Option<&str> {
        self.sink_configuration["destination"].as_str()
    }
}

/// `events.v1.subscription`.
#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    pub sid: String,
    pub sink_sid: Option<String>,
}

/// `events.v1.subscription.subscribed_event`.
#[derive(Debug, Clone, Deserialize)]
struct SubscribedEvent {
    #[serde(rename = "type")]
    kind: String,
}

/// `TWILIO_EVENTS_API_URL`.
#[derive(Debug, Clone)]
pub struct EventsApi {
    pub client: TwilioClient,
}

impl EventsApi {
    pub fn from_config(config: &crate::config::Config) -> Result<Self, TwilioError> {
        let timeout = std::time::Duration::from_secs(config.twilio_timeout_secs);
        Ok(Self {
            client: TwilioClient::new(&config.twilio_events_api_url, timeout)?,
        })
    }

    /// The account's webhook sinks posting to `destination`.
    pub async fn sinks_to(&self, creds: &Credentials, destination: &str) -> Result<Vec<Sink>, TwilioError> {
        let all: Vec<Sink> = self.client.list(creds, "/v1/Sinks?PageSize=100").await?;
        Ok(all
            .into_iter()
            .filter(|s| s.sink_type.as_deref() == Some("webhook") && s.destination() == Some(destination))
            .collect())
    }

    pub async fn create_sink(&self, creds: &Credentials, destination: &str) -> Result<Sink, TwilioError> {
        let configuration =
            json!({"destination": destination, "method": "POST", "batch_events": false}).to_string();
        let form = [
            ("Description", "trusthub-hooks compliance events"),
            ("SinkType", "webhook"),
            ("SinkConfiguration", configuration.as_str()),
        ];
        self.client.post(creds, "/v1/Sinks", &form).await
    }

    pub async fn subscriptions_of(
        &self,
        creds: &Credentials,
        sink: &str,
    ) -> Result<Vec<Subscription>, TwilioError> {
        self.client
            .list(creds, &format!("/v1/Subscriptions?SinkSid={sink}&PageSize=100"))
            .await
    }

    pub async fn create_subscription(
        &self,
        creds: &Credentials,
        sink: &str,
        types: &[&str],
    ) -> Result<Subscription, TwilioError> {
        let types: Vec<String> = types.iter().map(|t| json!({"type": t}).to_string()).collect();
        let mut form = vec![
            ("Description", "trusthub-hooks compliance events"),
            ("SinkSid", sink),
        ];
        form.extend(types.iter().map(|t| ("Types", t.as_str())));
        self.client.post(creds, "/v1/Subscriptions", &form).await
    }

    pub async fn subscribed_types(
        &self,
        creds: &Credentials,
        subscription: &str,
    ) -> Result<Vec<String>, TwilioError> {
        let events: Vec<SubscribedEvent> = self
            .client
            .list(
                creds,
                &format!("/v1/Subscriptions/{subscription}/SubscribedEvents?PageSize=100"),
            )
            .await?;
        Ok(events.into_iter().map(|e| e.kind).collect())
    }

    pub async fn subscribe(
        &self,
        creds: &Credentials,
        subscription: &str,
        kind: &str,
    ) -> Result<(), TwilioError> {
        let path = format!("/v1/Subscriptions/{subscription}/SubscribedEvents");
        let _: serde_json::Value = self.client.post(creds, &path, &[("Type", kind)]).await?;
        Ok(())
    }
}
