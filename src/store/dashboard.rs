//! Read models for the dashboard: aggregates and searches the `/v1` API does not need.

use super::{Cursor, Delivery, Page, Profile, StoreError, TransitionRow, Webhook};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// How many profiles are in one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    /// Twilio's wire name, as stored.
    pub status: String,
    pub count: i64,
}

/// A webhook subscription and how its deliveries are faring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookHealth {
    pub webhook: Webhook,
    /// Deliveries whose last attempt failed and that will be retried.
    pub failing: i64,
    /// Deliveries whose retries are exhausted.
    pub dead: i64,
    /// When the latest of those changed.
    pub last_failure_at: Option<DateTime<Utc>>,
}

impl WebhookHealth {
    /// Disabled, or with deliveries not getting through.
    pub fn is_failing(&self) -> bool {
        !self.webhook.enabled || self.failing > 0 || self.dead > 0
    }
}

/// Filters, search and paging for the dashboard's profile list.
#[derive(Debug, Clone, Default)]
pub struct ProfileSearch {
    pub status: Option<String>,
    pub account_sid: Option<String>,
    pub kind: Option<crate::domain::BundleKind>,
    /// Matches any part of the SID or of the friendly name, ignoring ASCII case.
    pub text: Option<String>,
    pub limit: u32,
    pub after: Option<Cursor>,
}

impl ProfileSearch {
    /// The `LIKE` pattern for `text`, its wildcards escaped with `\`.
    pub fn pattern(&self) -> Option<String> {
        let text = self.text.as_deref()?.trim();
        if text.is_empty() {
            return None;
        }
        let escaped: String = text
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        Some(format!("%{escaped}%"))
    }
}

/// The queries behind the dashboard's pages.
#[async_trait]
pub trait DashboardStore: Send + Sync {
    /// How many profiles are in each status.
    async fn status_counts(&self) -> Result<Vec<StatusCount>, StoreError>;

    /// Profiles in one of `statuses`, the longest unchanged first.
    async fn waiting_longest(&self, statuses: &[&str], limit: u32) -> Result<Vec<Profile>, StoreError>;

    /// The latest applied rejections, newest first.
    async fn recent_rejections(&self, limit: u32) -> Result<Vec<TransitionRow>, StoreError>;

    /// Every subscription, oldest first, with its failing and dead deliveries counted.
    async fn webhook_health(&self) -> Result<Vec<WebhookHealth>, StoreError>;

    /// Deliveries of one channel that failed (retrying) or are dead, newest first.
    async fn failing_deliveries(
        &self,
        channel: super::Channel,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Profiles filtered and searched, most recently changed first, paged like `list_profiles`.
    async fn search_profiles(&self, search: &ProfileSearch) -> Result<Page<Profile>, StoreError>;

    /// The accounts that profiles belong to, sorted.
    async fn profile_accounts(&self) -> Result<Vec<String>, StoreError>;

    /// A profile's transitions with their ids (deliveries name them), oldest first.
    async fn transition_rows(&self, profile_sid: &str) -> Result<Vec<TransitionRow>, StoreError>;
}

/// Joins per-webhook failure counts (webhook id, delivery status, count, latest change) to
/// the subscriptions.
pub(crate) fn health(
    webhooks: Vec<Webhook>,
    counts: &[(String, String, i64, DateTime<Utc>)],
) -> Vec<WebhookHealth> {
    webhooks
        .into_iter()
        .map(|webhook| {
            let mut health = WebhookHealth {
                webhook,
                failing: 0,
                dead: 0,
                last_failure_at: None,
            };
            for (_, status, count, at) in counts.iter().filter(|(id, ..)| *id == health.webhook.id) {
                match super::DeliveryStatus::parse(status) {
                    Some(super::DeliveryStatus::Dead) => health.dead += count,
                    _ => health.failing += count,
                }
                health.last_failure_at = health.last_failure_at.max(Some(*at));
            }
            health
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_escape_wildcards() {
        let search = |text: &str| ProfileSearch {
            text: Some(text.into()),
            ..ProfileSearch::default()
        };
        assert_eq!(search("BU12").pattern().as_deref(), Some("%BU12%"));
        assert_eq!(
            search(" 50%_a\\b ").pattern().as_deref(),
            Some("%50\\%\\_a\\\\b%")
        );
        assert_eq!(search("  ").pattern(), None);
        assert_eq!(ProfileSearch::default().pattern(), None);
    }
}
