//! Approvals that end (Trust Hub's `valid_until`): which need their alert, and that it went
//! out. The check itself is the `expiry` job's (`crate::jobs::expiry`).

use super::{Profile, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The statuses whose `valid_until` ends an approval (stored as these texts).
pub const APPROVED: [&str; 2] = ["twilio-approved", "provisionally-approved"];

#[async_trait]
pub trait ExpiryStore: Send + Sync {
    /// Approved bundles whose approval ends before `before` and whose alert for that date has
    /// not been queued, soonest first, at most `limit`.
    async fn expiring(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<Profile>, StoreError>;

    /// Records that the alert for the approval ending at `valid_until` is queued: that date is
    /// not alerted again, a later one (a renewal) is.
    async fn expiry_alerted(&self, sid: &str, valid_until: DateTime<Utc>) -> Result<(), StoreError>;
}
