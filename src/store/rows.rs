//! Row decoding, once for both backends: each mapper reads its columns through [`Columns`],
//! which each backend implements for its row type. What truly differs is there and only
//! there: SQLite keeps times as unix microseconds and JSON as text, PostgreSQL as
//! `timestamptz` and `jsonb`.

use super::{Delivery, EvaluationRecord, JobInfo, Profile, StoreError, Transition, TransitionRow, Webhook};
use crate::domain::{BundleKind, ProfileStatus, Source};
use chrono::{DateTime, Utc};
use sqlx::{Decode, Postgres, Sqlite, Type};

/// A column type both backends decode alike.
pub(crate) trait Plain:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl<T> Plain for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// How a backend's row gives a column.
pub(crate) trait Columns {
    fn get<T: Plain>(&self, column: &str) -> Result<T, StoreError>;
    fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError>;
    fn opt_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    fn json(&self, column: &str) -> Result<serde_json::Value, StoreError>;
}

impl Columns for sqlx::sqlite::SqliteRow {
    fn get<T: Plain>(&self, column: &str) -> Result<T, StoreError> {
        Ok(sqlx::Row::try_get(self, column)?)
    }

    fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
        from_micros(self.get(column)?)
    }

    fn opt_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.get::<Option<i64>>(column)?.map(from_micros).transpose()
    }

    fn json(&self, column: &str) -> Result<serde_json::Value, StoreError> {
        super::json_value(&self.get::<String>(column)?)
    }
}

impl Columns for sqlx::postgres::PgRow {
    fn get<T: Plain>(&self, column: &str) -> Result<T, StoreError> {
        Ok(sqlx::Row::try_get(self, column)?)
    }

    fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
        Ok(sqlx::Row::try_get(self, column)?)
    }

    fn opt_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::Row::try_get(self, column)?)
    }

    fn json(&self, column: &str) -> Result<serde_json::Value, StoreError> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
}

/// A time SQLite kept as unix microseconds.
pub(crate) fn from_micros(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| StoreError::Corrupt(format!("time {micros}")))
}

pub(crate) fn profile(row: &impl Columns) -> Result<Profile, StoreError> {
    Ok(Profile {
        sid: row.get("sid")?,
        account_sid: row.get("account_sid")?,
        status: ProfileStatus::from_wire(&row.get::<String>("status")?),
        status_known: row.get("status_known")?,
        friendly_name: row.get("friendly_name")?,
        kind: row
            .get::<Option<String>>("kind")?
            .as_deref()
            .and_then(BundleKind::parse),
        valid_until: row.opt_time("valid_until")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

pub(crate) fn transition(row: &impl Columns) -> Result<Transition, StoreError> {
    let from: Option<String> = row.get("from_status")?;
    Ok(Transition {
        from: from.as_deref().map(ProfileStatus::from_wire),
        to: ProfileStatus::from_wire(&row.get::<String>("to_status")?),
        at: row.time("at")?,
        source: Source::parse(&row.get::<String>("source")?),
        failure_reason: row.get("failure_reason")?,
        applied: row.get("applied")?,
    })
}

pub(crate) fn transition_row(row: &impl Columns) -> Result<TransitionRow, StoreError> {
    Ok(TransitionRow {
        id: row.get("id")?,
        profile_sid: row.get("profile_sid")?,
        transition: transition(row)?,
    })
}

pub(crate) fn webhook(row: &impl Columns) -> Result<Webhook, StoreError> {
    Ok(Webhook {
        id: row.get("id")?,
        url: row.get("url")?,
        events: serde_json::from_value(row.json("events")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        description: row.get("description")?,
        secret: row.get("secret")?,
        enabled: row.get("enabled")?,
        disabled_reason: row.get("disabled_reason")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

pub(crate) fn delivery(row: &impl Columns) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: row.get("id")?,
        channel: row.get("channel")?,
        webhook_id: row.get("webhook_id")?,
        recipient: row.get("recipient")?,
        event_id: row.get("event_id")?,
        event_type: row.get("event_type")?,
        transition_id: row.get("transition_id")?,
        profile_sid: row.get("profile_sid")?,
        payload: row.json("payload")?,
        status: row.get("status")?,
        attempts: row.get::<i32>("attempts")? as u32,
        last_status_code: row.get("last_status_code")?,
        last_error: row.get("last_error")?,
        last_latency_ms: row.get("last_latency_ms")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
        delivered_at: row.opt_time("delivered_at")?,
    })
}

pub(crate) fn job_info(row: &impl Columns) -> Result<JobInfo, StoreError> {
    Ok(JobInfo {
        id: row.get("id")?,
        kind: row.get("kind")?,
        state: row.get("state")?,
        attempts: row.get::<i32>("attempts")? as u32,
        run_at: row.time("run_at")?,
        last_error: row.get("last_error")?,
        payload: row.json("payload")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

pub(crate) fn evaluation(row: &impl Columns) -> Result<EvaluationRecord, StoreError> {
    Ok(EvaluationRecord {
        sid: row.get("sid")?,
        profile_sid: row.get("profile_sid")?,
        account_sid: row.get("account_sid")?,
        policy_sid: row.get("policy_sid")?,
        status: row.get("status")?,
        results: row.json("results")?,
        profile_errors: row.json("profile_errors")?,
        date_created: row.get("date_created")?,
        fetched_at: row.time("fetched_at")?,
        transition_id: row.get("transition_id")?,
    })
}

pub(crate) fn compliance_object(row: &impl Columns) -> Result<super::ComplianceObject, StoreError> {
    let kind: String = row.get("kind")?;
    Ok(super::ComplianceObject {
        sid: row.get("sid")?,
        kind: crate::domain::compliance::ComplianceKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("compliance kind {kind:?}")))?,
        account_sid: row.get("account_sid")?,
        status: row.get("status")?,
        errors: row.json("errors")?,
        links: serde_json::from_value(row.json("links")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

pub(crate) fn compliance_transition(row: &impl Columns) -> Result<super::ComplianceTransition, StoreError> {
    Ok(super::ComplianceTransition {
        id: row.get("id")?,
        from: row.get("from_status")?,
        to: row.get("to_status")?,
        at: row.time("at")?,
        errors: row.json("errors")?,
        event_id: row.get("event_id")?,
        applied: row.get("applied")?,
    })
}
