//! Twilio: request signatures (and, later, the Trust Hub client).

pub mod signature;
pub mod verifier;

pub use verifier::{Rejection, SignedRequest, Verdict, Verified, Verifier};
