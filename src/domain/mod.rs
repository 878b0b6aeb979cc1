//! The domain: SIDs, statuses and their state machine, what a callback reports.

pub mod callback;
pub mod compliance;
pub mod kind;
pub mod sid;
pub mod source;
pub mod status;

pub use callback::{ReportError, StatusReport};
pub use kind::BundleKind;
pub use sid::{AccountSid, ProfileSid, SidError};
pub use source::Source;
pub use status::{decide, Decision, ProfileStatus};
