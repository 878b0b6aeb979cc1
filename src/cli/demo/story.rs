//! The demo's story: four customers' bundles moving through review, told to the running
//! service exactly as Twilio tells it (signed status callbacks, a signed Event Streams event),
//! with the sandbox answering the confirmations and evaluations those trigger.

use super::sandbox::{Bundle, Sandbox};
use crate::config::Account;
use crate::domain::AccountSid;
use crate::simulate::{self, SimulatedEvent};
use anyhow::Context as _;
use secrecy::SecretString;
use std::time::Duration;

pub struct Story {
    /// The service's public URL (the story signs for it and posts to it).
    pub base: String,
    pub sandbox: Sandbox,
    pub api_token: String,
    /// The demo's webhook subscriber.
    pub subscriber: String,
}

const ACME: &str = "BU00000000000000000000000000ac0e01";
const GLOBEX: &str = "BU0000000000000000000000000910be02";
const ACME_VOICE: &str = "BU00000000000000000000000000ac0e03";
const INITECH: &str = "BU000000000000000000000000001e7e04";
const GLOBEX_BRAND: &str = "BN0000000000000000000000000910be05";

impl Story {
    fn account(&self) -> anyhow::Result<Account> {
        Ok(Account {
            sid: AccountSid::parse(&self.sandbox.account).map_err(anyhow::Error::msg)?,
            tokens: vec![SecretString::from(self.sandbox.token.clone())],
        })
    }

    /// One status callback, as Twilio sends it; the bundle's status in the sandbox first
    /// (Twilio's API says the same as its callbacks, and decisions are confirmed with it).
    async fn report(&self, sid: &str, status: &str, reason: Option<&str>) -> anyhow::Result<()> {
        self.sandbox.set_status(sid, status);
        let name = self.sandbox.bundles.lock().expect("never poisoned")[sid]
            .name
            .clone();
        let url = format!("{}/twilio/status-callback", self.base);
        let answer = simulate::send(&url, &self.account()?, sid, status, reason, Some(&name))
            .await
            .map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            answer.status < 300,
            "{url} answered {} {}",
            answer.status,
            answer.body
        );
        println!("  Twilio -> {name}: {status}");
        tokio::time::sleep(Duration::from_millis(400)).await;
        Ok(())
    }

    fn add(&self, sid: &str, kind: &'static str, name: &str, incomplete: bool) {
        let bundle = Bundle {
            kind,
            name: name.to_owned(),
            status: "draft".to_owned(),
            incomplete,
        };
        self.sandbox
            .bundles
            .lock()
            .expect("never poisoned")
            .insert(sid.to_owned(), bundle);
    }

    pub async fn play(&self) -> anyhow::Result<()> {
        // A subscriber, through the API as anyone would add one.
        let created = reqwest::Client::new()
            .post(format!("{}/v1/webhooks", self.base))
            .bearer_auth(&self.api_token)
            .json(&serde_json::json!({"url": self.subscriber, "description": "demo subscriber"}))
            .send()
            .await
            .context("creating the demo's webhook subscription")?;
        anyhow::ensure!(
            created.status().is_success(),
            "creating the subscription: {}",
            created.status()
        );

        self.add(ACME, "customer_profile", "Acme Bakery", false);
        self.add(GLOBEX, "customer_profile", "Globex Plumbing", true);
        self.add(ACME_VOICE, "trust_product", "Acme Bakery SHAKEN/STIR", false);
        self.add(INITECH, "regulatory_bundle", "Initech Germany numbers", false);
        self.sandbox.brands.lock().expect("never poisoned").insert(
            GLOBEX_BRAND.to_owned(),
            (GLOBEX.to_owned(), ACME_VOICE.to_owned()),
        );

        // Acme: reviewed and approved.
        for status in ["pending-review", "in-review", "twilio-approved"] {
            self.report(ACME, status, None).await?;
        }
        // Globex: rejected (Trust Hub's evaluation says why), fixed, resubmitted, approved.
        for status in ["pending-review", "in-review"] {
            self.report(GLOBEX, status, None).await?;
        }
        self.report(
            GLOBEX,
            "twilio-rejected",
            Some("Business information is incomplete"),
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        println!("  (Globex adds its business information and resubmits)");
        self.sandbox.complete(GLOBEX);
        for status in ["pending-review", "in-review", "twilio-approved"] {
            self.report(GLOBEX, status, None).await?;
        }
        // A trust product still in review, and a regulatory bundle approved.
        for status in ["pending-review", "in-review"] {
            self.report(ACME_VOICE, status, None).await?;
        }
        for status in ["pending-review", "twilio-approved"] {
            self.report(INITECH, status, None).await?;
        }
        // Event Streams: Globex's A2P brand refused.
        let event = simulate::event(
            &self.sandbox.account,
            &SimulatedEvent {
                event_type: "com.twilio.messaging.compliance.brand-registration.brand-failure",
                sid: GLOBEX_BRAND,
                status: Some("registration_failed"),
                brand: None,
            },
        )
        .map_err(anyhow::Error::msg)?;
        let mut event = event;
        event["data"]["brandregistrationerrors"] = serde_json::json!([{
            "registrationerrorcode": 21736,
            "registrationerrordescription": "The Brand contact email is invalid.",
            "registrationerrorfields": ["brand_contact_email"]
        }]);
        let url = format!("{}/twilio/events", self.base);
        let answer = simulate::send_events(&url, &self.account()?, &serde_json::json!([event]))
            .await
            .map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            answer.status < 300,
            "{url} answered {} {}",
            answer.status,
            answer.body
        );
        println!("  Event Streams -> Globex Plumbing's A2P brand: registration_failed");
        Ok(())
    }
}
