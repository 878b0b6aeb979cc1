//! The Trust Hub v1 (and 2010-04-01 Addresses) calls of the `create` flow. Calls about an
//! existing bundle go through `super::bundles::BundleApi`, which picks its kind's API.

use super::client::{Credentials, TwilioClient, TwilioError};
use super::models::{Created, CustomerProfile, Evaluation};

impl TwilioClient {
    pub async fn create_customer_profile(
        &self,
        creds: &Credentials,
        form: &[(&str, &str)],
    ) -> Result<CustomerProfile, TwilioError> {
        self.post(creds, "/v1/CustomerProfiles", form).await
    }

    /// Every customer profile, or those with this friendly name and policy.
    pub async fn list_customer_profiles(
        &self,
        creds: &Credentials,
        filter: Option<(&str, &str)>,
    ) -> Result<Vec<CustomerProfile>, TwilioError> {
        let path = match filter {
            Some((name, policy)) => {
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("FriendlyName", name)
                    .append_pair("PolicySid", policy)
                    .append_pair("PageSize", "100")
                    .finish();
                format!("/v1/CustomerProfiles?{query}")
            }
            None => "/v1/CustomerProfiles?PageSize=100".to_owned(),
        };
        self.list(creds, &path).await
    }

    pub async fn list_evaluations(
        &self,
        creds: &Credentials,
        sid: &str,
    ) -> Result<Vec<Evaluation>, TwilioError> {
        self.list(
            creds,
            &format!("/v1/CustomerProfiles/{sid}/Evaluations?PageSize=100"),
        )
        .await
    }

    pub async fn fetch_policy(
        &self,
        creds: &Credentials,
        sid: &str,
    ) -> Result<serde_json::Value, TwilioError> {
        self.get(creds, &format!("/v1/Policies/{sid}")).await
    }

    /// An end user (`Attributes` as JSON, as Trust Hub expects).
    pub async fn create_end_user(
        &self,
        creds: &Credentials,
        friendly_name: &str,
        kind: &str,
        attributes: &serde_json::Value,
    ) -> Result<Created, TwilioError> {
        self.create_typed(creds, "/v1/EndUsers", friendly_name, kind, attributes)
            .await
    }

    pub async fn create_supporting_document(
        &self,
        creds: &Credentials,
        friendly_name: &str,
        kind: &str,
        attributes: &serde_json::Value,
    ) -> Result<Created, TwilioError> {
        self.create_typed(creds, "/v1/SupportingDocuments", friendly_name, kind, attributes)
            .await
    }

    /// A resource with a `Type` and JSON `Attributes` (end users, supporting documents).
    async fn create_typed(
        &self,
        creds: &Credentials,
        path: &str,
        friendly_name: &str,
        kind: &str,
        attributes: &serde_json::Value,
    ) -> Result<Created, TwilioError> {
        let attributes = attributes.to_string();
        let form = [
            ("FriendlyName", friendly_name),
            ("Type", kind),
            ("Attributes", attributes.as_str()),
        ];
        self.post(creds, path, &form).await
    }

    /// Assigns an end user, supporting document or customer profile to a profile.
    pub async fn assign_entity(
        &self,
        creds: &Credentials,
        profile: &str,
        object_sid: &str,
    ) -> Result<Created, TwilioError> {
        let path = format!("/v1/CustomerProfiles/{profile}/EntityAssignments");
        self.post(creds, &path, &[("ObjectSid", object_sid)]).await
    }

    /// What is assigned to a profile already: the object SIDs of its entity assignments and
    /// the channel endpoint SIDs of its channel endpoint assignments, each with its assignment.
    pub async fn assignments(
        &self,
        creds: &Credentials,
        profile: &str,
    ) -> Result<Vec<(String, String)>, TwilioError> {
        let base = format!("/v1/CustomerProfiles/{profile}");
        let entities: Vec<serde_json::Value> = self
            .list(creds, &format!("{base}/EntityAssignments?PageSize=100"))
            .await?;
        let endpoints: Vec<serde_json::Value> = self
            .list(creds, &format!("{base}/ChannelEndpointAssignments?PageSize=100"))
            .await?;
        let pair = |a: &serde_json::Value, field: &str| {
            Some((a[field].as_str()?.to_owned(), a["sid"].as_str()?.to_owned()))
        };
        Ok(entities
            .iter()
            .filter_map(|a| pair(a, "object_sid"))
            .chain(endpoints.iter().filter_map(|a| pair(a, "channel_endpoint_sid")))
            .collect())
    }

    pub async fn assign_phone_number(
        &self,
        creds: &Credentials,
        profile: &str,
        number_sid: &str,
    ) -> Result<Created, TwilioError> {
        let path = format!("/v1/CustomerProfiles/{profile}/ChannelEndpointAssignments");
        let form = [
            ("ChannelEndpointType", "phone-number"),
            ("ChannelEndpointSid", number_sid),
        ];
        self.post(creds, &path, &form).await
    }

    /// An address, on the 2010-04-01 API (this client's base must be `TWILIO_API_URL`).
    pub async fn create_address(
        &self,
        creds: &Credentials,
        account_sid: &str,
        form: &[(&str, &str)],
    ) -> Result<Created, TwilioError> {
        self.post(
            creds,
            &format!("/2010-04-01/Accounts/{account_sid}/Addresses.json"),
            form,
        )
        .await
    }
}
