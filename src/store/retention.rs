//! Retention (`RETENTION_DAYS`): what a sweep may delete, a batch at a time, and the row
//! counts `/metrics` shows. The sweep's loop is the `retention` job's (`crate::jobs`).
//!
//! A batch is the next [`SWEEP_BATCH`] rows of one table by id, so that each statement is
//! short (the SQLite writer serves callbacks between two of them) and never reads a kept row
//! twice. Ids grow with time, so a table is swept once a batch holds no row created before
//! the cutoff: a row the clocks of two replicas put out of order waits for the next sweep.

use super::{DeliveryStatus, JobState, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Rows a sweep statement looks at.
pub const SWEEP_BATCH: u32 = 500;

/// The tables a sweep deletes from, in the order it sweeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweptTable {
    /// Done jobs (queued, running and dead ones stay: dead ones wait to be revived).
    Jobs,
    /// Delivered, dead and cancelled deliveries, with their attempts (pending and failed ones
    /// are still to be sent).
    Deliveries,
    /// Callbacks that made no transition. One that did is kept with its transition: it is
    /// that history's evidence (Twilio's fields as received), which retention never deletes;
    /// the redelivery check reads the callback of a profile's latest transition; and on
    /// SQLite the transition's foreign key refuses its deletion. So the table keeps about one
    /// row per transition, and what grows without bound (redeliveries, repeats, unusable
    /// reports) goes.
    Callbacks,
}

impl SweptTable {
    pub const ALL: [SweptTable; 3] = [Self::Jobs, Self::Deliveries, Self::Callbacks];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jobs => "jobs",
            Self::Deliveries => "deliveries",
            Self::Callbacks => "callbacks",
        }
    }
}

/// What one batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweptBatch {
    /// Rows deleted (a delivery's attempts not counted).
    pub deleted: u64,
    /// The last id looked at, when rows created before the cutoff may follow it; `None` when
    /// the table is swept.
    pub next: Option<i64>,
}

/// The next batch, from the batch's last id and its oldest creation time (none: no rows).
pub fn next_batch(last: Option<i64>, oldest: Option<DateTime<Utc>>, cutoff: DateTime<Utc>) -> Option<i64> {
    match (last, oldest) {
        (Some(last), Some(oldest)) if oldest < cutoff => Some(last),
        _ => None,
    }
}

/// The tables whose rows `/metrics` counts, in the order shown.
pub const COUNTED_TABLES: [&str; 10] = [
    "profiles",
    "callbacks",
    "transitions",
    "evaluations",
    "jobs",
    "pending_notifications",
    "webhooks",
    "deliveries",
    "delivery_attempts",
    "creations",
];

/// Deleting what retention lets go, and counting what is kept.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Looks at the rows of `table` after id `after` (at most [`SWEEP_BATCH`]) and deletes,
    /// in one short transaction, those retention lets go that are older than `cutoff`.
    async fn sweep_batch(
        &self,
        table: SweptTable,
        after: i64,
        cutoff: DateTime<Utc>,
    ) -> Result<SweptBatch, StoreError>;

    /// Rows of each of [`COUNTED_TABLES`], in that order.
    async fn row_counts(&self) -> Result<Vec<(&'static str, i64)>, StoreError>;
}

/// What each table's delete adds to `id > $1 and id <= $2` (the batch) and its `$3` (the
/// cutoff), the same on both backends.
pub(crate) fn deletable(table: SweptTable) -> String {
    match table {
        SweptTable::Jobs => format!("state = '{}' and updated_at < $3", JobState::Done.as_str()),
        SweptTable::Deliveries => {
            let finished = [
                DeliveryStatus::Delivered,
                DeliveryStatus::Dead,
                DeliveryStatus::Cancelled,
            ]
            .map(|status| format!("'{}'", status.as_str()))
            .join(", ");
            format!("status in ({finished}) and updated_at < $3")
        }
        // Through transitions_by_profile: a transition names its callback's profile.
        SweptTable::Callbacks => "received_at < $3 and not exists (select 1 from transitions t \
             where t.profile_sid = callbacks.profile_sid and t.callback_id = callbacks.id)"
            .to_owned(),
    }
}

/// The column that says when a row of `table` was created.
pub(crate) fn created_column(table: SweptTable) -> &'static str {
    match table {
        SweptTable::Callbacks => "received_at",
        SweptTable::Jobs | SweptTable::Deliveries => "created_at",
    }
}

/// The batch's bounds: its last id and its oldest creation time (`$1` after, `$2` limit).
pub(crate) fn bounds_query(table: SweptTable) -> String {
    format!(
        "select max(id), min(created) from (select id, {} as created from {} where id > $1 order by id limit $2) as batch",
        created_column(table),
        table.as_str()
    )
}

/// `select (select count(*) from t1), …`: every count in one statement, one snapshot.
pub(crate) fn count_query() -> String {
    let counts: Vec<String> = COUNTED_TABLES
        .iter()
        .map(|table| format!("(select count(*) from {table})"))
        .collect();
    format!("select {}", counts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_swept_once_a_batch_holds_nothing_older_than_the_cutoff() {
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        assert_eq!(next_batch(Some(7), Some(at(5)), at(10)), Some(7));
        assert_eq!(next_batch(Some(7), Some(at(10)), at(10)), None);
        assert_eq!(next_batch(None, None, at(10)), None);
    }
}
