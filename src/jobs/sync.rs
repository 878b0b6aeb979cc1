//! The `sync` job: `serve`'s periodic reconciliation (`SYNC_INTERVAL_SECS`), or one profile's
//! asked for from the dashboard.

use crate::domain::{Decision, ProfileSid};
use crate::queue::{Job, JobError};
use crate::store::NewJob;
use crate::submit::Submitter;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `sync` job.
pub struct SyncJob(pub Submitter);

/// The payload of the `sync` job: one profile, or (none named) every profile.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncPayload {
    /// The interval the periodic job belongs to (what makes its key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_sid: Option<String>,
}

fn new_job(payload: &SyncPayload, dedupe_key: String, now: DateTime<Utc>) -> NewJob {
    NewJob {
        kind: SyncJob::KIND,
        payload: serde_json::to_value(payload).expect("plain structs serialize"),
        dedupe_key: Some(dedupe_key),
        run_at: now,
    }
}

/// The `sync` job of the interval containing `now`: replicas enqueue the same key, so one runs.
pub fn periodic(interval_secs: u64, now: DateTime<Utc>) -> NewJob {
    let bucket = now.timestamp().max(0) as u64 / interval_secs.max(1);
    let payload = SyncPayload {
        bucket: Some(bucket),
        profile_sid: None,
    };
    new_job(
        &payload,
        format!("{}:{interval_secs}:{bucket}", SyncJob::KIND),
        now,
    )
}

/// A `sync` of one profile (asked for from the dashboard); `now` keeps each request distinct.
pub fn one_profile(profile_sid: &ProfileSid, now: DateTime<Utc>) -> NewJob {
    let payload = SyncPayload {
        bucket: None,
        profile_sid: Some(profile_sid.to_string()),
    };
    let key = format!("{}:{profile_sid}:{}", SyncJob::KIND, now.timestamp_micros());
    new_job(&payload, key, now)
}

#[async_trait]
impl Job for SyncJob {
    const KIND: &'static str = "sync";
    type Payload = SyncPayload;

    async fn run(&self, payload: SyncPayload, _attempt: u32) -> Result<Vec<NewJob>, JobError> {
        // The periodic job names no profile (all of them); the dashboard's names one.
        let sids = match payload.profile_sid.as_deref() {
            Some(raw) => vec![ProfileSid::parse(raw)
                .map_err(|e| JobError::Permanent(format!("unreadable job payload: {e}")))?],
            None => Vec::new(),
        };
        let synced = self.0.sync(&sids).await.map_err(|e| JobError::Retry {
            reason: e.to_string(),
            after: None,
        })?;
        let recorded = synced.iter().filter(|s| s.decision == Decision::Advance).count();
        tracing::info!(checked = synced.len(), recorded, "periodic sync");
        Ok(Vec::new())
    }

    fn max_attempts(&self) -> u32 {
        // The next interval tries again.
        3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_jobs_share_a_key_within_an_interval_and_profile_jobs_never() {
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        let (a, b, c) = (
            periodic(60, at(120)),
            periodic(60, at(179)),
            periodic(60, at(180)),
        );
        assert_eq!(a.dedupe_key.as_deref(), Some("sync:60:2"));
        assert_eq!(a.dedupe_key, b.dedupe_key);
        assert_ne!(b.dedupe_key, c.dedupe_key);
        assert_eq!(a.payload, serde_json::json!({ "bucket": 2 }));
        let sid = ProfileSid::parse(&format!("BU{}", "a".repeat(32))).unwrap();
        let one = one_profile(&sid, at(5));
        assert_eq!(one.payload, serde_json::json!({ "profile_sid": sid.to_string() }));
        assert_ne!(one.dedupe_key, one_profile(&sid, at(6)).dedupe_key);
    }
}
