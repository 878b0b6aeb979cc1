//! The Messaging API's compliance resources (`../shared/twilio/messaging_v1_compliance.json`):
//! what a brand, campaign or toll-free verification is linked to, when its events do not say.

use super::client::{Credentials, TwilioClient, TwilioError};
use crate::domain::compliance::{ComplianceKind, Links};
use serde::Deserialize;

/// `messaging.v1.brand_registrations`, `messaging.v1.service.us_app_to_person` and
/// `messaging.v1.tollfree_verification`: the fields that link them (others ignored).
#[derive(Debug, Clone, Default, Deserialize)]
struct Linked {
    customer_profile_bundle_sid: Option<String>,
    a2p_profile_bundle_sid: Option<String>,
    brand_registration_sid: Option<String>,
    messaging_service_sid: Option<String>,
    customer_profile_sid: Option<String>,
    trust_product_sid: Option<String>,
    tollfree_phone_number_sid: Option<String>,
}

/// `TWILIO_MESSAGING_API_URL`.
#[derive(Debug, Clone)]
pub struct MessagingApi {
    pub client: TwilioClient,
}

impl MessagingApi {
    pub fn from_config(config: &crate::config::Config) -> Result<Self, TwilioError> {
        let timeout = std::time::Duration::from_secs(config.twilio_timeout_secs);
        Ok(Self {
            client: TwilioClient::new(&config.twilio_messaging_api_url, timeout)?,
        })
    }

    /// What the object is linked to. A campaign lives under its messaging service, so it can
    /// be fetched only when `known` names that service; `Ok(None)` when it cannot be asked.
    pub async fn links(
        &self,
        creds: &Credentials,
        kind: ComplianceKind,
        sid: &str,
        known: &Links,
    ) -> Result<Option<Links>, TwilioError> {
        let path = match kind {
            ComplianceKind::Brand => format!("/v1/a2p/BrandRegistrations/{sid}"),
            ComplianceKind::TollfreeVerification => format!("/v1/Tollfree/Verifications/{sid}"),
            ComplianceKind::Campaign => match &known.messaging_service_sid {
                Some(service) => format!("/v1/Services/{service}/Compliance/Usa2p/{sid}"),
                None => return Ok(None),
            },
        };
        let found: Linked = self.client.get(creds, &path).await?;
        Ok(Some(Links {
            customer_profile_bundle_sid: found.customer_profile_bundle_sid,
            a2p_profile_bundle_sid: found.a2p_profile_bundle_sid,
            brand_sid: found.brand_registration_sid,
            messaging_service_sid: found.messaging_service_sid,
            customer_profile_sid: found.customer_profile_sid,
            trust_product_sid: found.trust_product_sid,
            phone_number_sid: found.tollfree_phone_number_sid,
        }))
    }
}
