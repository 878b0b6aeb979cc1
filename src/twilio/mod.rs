//! Twilio: request signatures, and the REST client for Trust Hub.

pub mod bundles;
pub mod client;
pub mod events_api;
pub mod messaging;
pub mod models;
mod origin;
pub mod signature;
pub mod subaccounts;
mod trusthub;
pub mod verifier;

pub use bundles::BundleApi;
pub use client::{CredentialBook, Credentials, RetryPolicy, TwilioClient, TwilioError};
pub use messaging::MessagingApi;
pub use verifier::{Rejection, SignedRequest, Verdict, Verified, Verifier};
