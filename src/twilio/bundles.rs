//! Bundles of every kind, each on its own API: customer profiles and trust products on Trust
//! Hub v1, regulatory bundles on numbers v2. The three answer the same shapes, so one client
//! serves them, choosing the path (and base URL) by kind.

use super::client::{Credentials, TwilioClient, TwilioError};
use super::models::{CustomerProfile, Evaluation};
use crate::domain::BundleKind;

/// The APIs bundles live on.
#[derive(Debug, Clone)]
pub struct BundleApi {
    /// `TRUSTHUB_API_URL`: customer profiles and trust products.
    pub trusthub: TwilioClient,
    /// `TWILIO_NUMBERS_API_URL`: regulatory bundles.
    pub numbers: TwilioClient,
}

impl BundleApi {
    pub fn from_config(config: &crate::config::Config) -> Result<Self, TwilioError> {
        let timeout = std::time::Duration::from_secs(config.twilio_timeout_secs);
        Ok(Self {
            trusthub: TwilioClient::new(&config.trusthub_api_url, timeout)?,
            numbers: TwilioClient::new(&config.twilio_numbers_api_url, timeout)?,
        })
    }

    /// The client and collection path of a kind.
    fn api(&self, kind: BundleKind) -> (&TwilioClient, &'static str) {
        match kind {
            BundleKind::CustomerProfile => (&self.trusthub, "/v1/CustomerProfiles"),
            BundleKind::TrustProduct => (&self.trusthub, "/v1/TrustProducts"),
            BundleKind::RegulatoryBundle => (&self.numbers, "/v2/RegulatoryCompliance/Bundles"),
        }
    }

    pub async fn fetch(
        &self,
        creds: &Credentials,
        kind: BundleKind,
        sid: &str,
    ) -> Result<CustomerProfile, TwilioError> {
        let (client, path) = self.api(kind);
        client.get(creds, &format!("{path}/{sid}")).await
    }

    /// A bundle of unknown kind: asked for as each kind in turn, a 404 meaning "not this
    /// kind" (Twilio answers 404 as well for another account's bundle, so `creds` must be
    /// the bundle's account's). `None` when no kind has it.
    pub async fn discover(
        &self,
        creds: &Credentials,
        sid: &str,
    ) -> Result<Option<(BundleKind, CustomerProfile)>, TwilioError> {
        for kind in BundleKind::ALL {
            match self.fetch(creds, kind, sid).await {
                Ok(bundle) => return Ok(Some((kind, bundle))),
                Err(error) if error.status() == Some(404) => continue,
                Err(error) => return Err(error),
            }
        }
        Ok(None)
    }

    /// Updates a bundle's properties (`StatusCallback`, `Status`, …).
    pub async fn update(
        &self,
        creds: &Credentials,
        kind: BundleKind,
        sid: &str,
        form: &[(&str, &str)],
    ) -> Result<CustomerProfile, TwilioError> {
        let (client, path) = self.api(kind);
        client.post(creds, &format!("{path}/{sid}"), form).await
    }

    /// Updates a bundle of unknown kind: the update itself asks each kind's API in turn (a
    /// 404 changed nothing). `None` when no kind has it.
    pub async fn update_any(
        &self,
        creds: &Credentials,
        sid: &str,
        form: &[(&str, &str)],
    ) -> Result<Option<(BundleKind, CustomerProfile)>, TwilioError> {
        for kind in BundleKind::ALL {
            match self.update(creds, kind, sid, form).await {
                Ok(bundle) => return Ok(Some((kind, bundle))),
                Err(error) if error.status() == Some(404) => continue,
                Err(error) => return Err(error),
            }
        }
        Ok(None)
    }

    /// Every bundle of a kind in the account `creds` act as.
    pub async fn list(
        &self,
        creds: &Credentials,
        kind: BundleKind,
    ) -> Result<Vec<CustomerProfile>, TwilioError> {
        let (client, path) = self.api(kind);
        client.list(creds, &format!("{path}?PageSize=100")).await
    }

    /// A fresh evaluation of the bundle as it is now. Trust Hub evaluates against a policy
    /// (`PolicySid`, required); numbers v2 against the bundle's own regulation (no field).
    pub async fn evaluate(
        &self,
        creds: &Credentials,
        kind: BundleKind,
        bundle: &CustomerProfile,
    ) -> Result<Evaluation, TwilioError> {
        let (client, path) = self.api(kind);
        let path = format!("{path}/{}/Evaluations", bundle.sid);
        if kind == BundleKind::RegulatoryBundle {
            return client.post(creds, &path, &[]).await;
        }
        let policy = bundle.policy_sid.as_deref().ok_or_else(|| {
            TwilioError::Decode(format!(
                "{} {} has no policy_sid to evaluate against",
                kind, bundle.sid
            ))
        })?;
        client.post(creds, &path, &[("PolicySid", policy)]).await
    }
}
