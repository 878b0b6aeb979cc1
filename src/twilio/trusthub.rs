//! The Trust Hub v1 calls this service makes.

use super::client::{Credentials, TwilioClient, TwilioError};
use super::models::{CustomerProfile, Evaluation};

impl TwilioClient {
    pub async fn fetch_customer_profile(
        &self,
        creds: &Credentials,
        sid: &str,
    ) -> Result<CustomerProfile, TwilioError> {
        self.get(creds, &format!("/v1/CustomerProfiles/{sid}")).await
    }

    pub async fn update_customer_profile(
        &self,
        creds: &Credentials,
        sid: &str,
        form: &[(&str, &str)],
    ) -> Result<CustomerProfile, TwilioError> {
        self.post(creds, &format!("/v1/CustomerProfiles/{sid}"), form)
            .await
    }

    pub async fn list_customer_profiles(
        &self,
        creds: &Credentials,
    ) -> Result<Vec<CustomerProfile>, TwilioError> {
        self.list(creds, "/v1/CustomerProfiles?PageSize=100").await
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

    pub async fn create_evaluation(
        &self,
        creds: &Credentials,
        sid: &str,
        policy_sid: &str,
    ) -> Result<Evaluation, TwilioError> {
        self.post(
            creds,
            &format!("/v1/CustomerProfiles/{sid}/Evaluations"),
            &[("PolicySid", policy_sid)],
        )
        .await
    }
}
