//! Brands, campaigns and toll-free verifications on PostgreSQL.

use super::jobs::insert as insert_job;
use super::PostgresStore;
use crate::domain::compliance::{ComplianceKind, Links, StreamEvent};
use crate::store::compliance::{notify_job, owners, page, plan, Plan};
use crate::store::rows::{compliance_object, compliance_transition};
use crate::store::{
    ComplianceDetail, ComplianceObject, ComplianceQuery, ComplianceStore, ComplianceTransition,
    EventRecorded, Page, StoreError,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, Row};

fn json(value: &impl serde::Serialize) -> Result<Value, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// One event, in the caller's transaction.
async fn record(
    tx: &mut PgConnection,
    event: &StreamEvent,
    account: Option<&str>,
    now: DateTime<Utc>,
) -> Result<EventRecorded, StoreError> {
    let object = event.report.as_ref().map(|r| r.sid.clone());
    let inserted = sqlx::query(
        "insert into stream_events (event_id, event_type, account_sid, object_sid, body, received_at)
         values ($1, $2, $3, $4, $5, $6) on conflict (event_id) do nothing",
    )
    .bind(&event.id)
    .bind(&event.event_type)
    .bind(account)
    .bind(&object)
    .bind(&event.body)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(EventRecorded::Duplicate);
    }
    let Some(report) = &event.report else {
        return Ok(EventRecorded::Stored);
    };
    // Reports of one object are applied one at a time, the first creating it.
    sqlx::query("select pg_advisory_xact_lock(hashtext($1))")
        .bind(&report.sid)
        .execute(&mut *tx)
        .await?;
    let current =
        sqlx::query("select status, status_at, account_sid, links from compliance_objects where sid = $1")
            .bind(&report.sid)
            .fetch_optional(&mut *tx)
            .await?;
    let current = current
        .map(
            |row| -> Result<(String, DateTime<Utc>, Option<String>, Value), StoreError> {
                Ok((
                    row.try_get("status")?,
                    row.try_get("status_at")?,
                    row.try_get("account_sid")?,
                    row.try_get("links")?,
                ))
            },
        )
        .transpose()?;
    if let Some((_, _, Some(owner), _)) = &current {
        if account.is_some_and(|a| a != owner) {
            tracing::warn!(object = %report.sid, %owner, "an event of another account names this object: kept, not applied");
            return Ok(EventRecorded::Stored);
        }
    }
    let decided = plan(current.as_ref().map(|(s, at, _, _)| (s.as_str(), *at)), report);
    let stored_links: Links = current
        .as_ref()
        .and_then(|(_, _, _, links)| serde_json::from_value(links.clone()).ok())
        .unwrap_or_default();
    let links = report.links.clone().or(stored_links);
    let (profile, brand) = owners(report.kind, &links);
    let from = match &decided {
        Plan::Apply { from: None } => {
            sqlx::query(
                "insert into compliance_objects (sid, kind, account_sid, status, status_at, errors, links,
                                                 profile_sid, brand_sid, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
            )
            .bind(&report.sid)
            .bind(report.kind.as_str())
            .bind(account)
            .bind(&report.status)
            .bind(report.at)
            .bind(&report.errors)
            .bind(json(&links)?)
            .bind(&profile)
            .bind(&brand)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            None
        }
        Plan::Apply { from: Some(_) } | Plan::Refresh => {
            sqlx::query(
                "update compliance_objects set status = $2, status_at = $3, errors = $4, links = $5,
                        profile_sid = $6, brand_sid = $7, updated_at = $8
                 where sid = $1",
            )
            .bind(&report.sid)
            .bind(&report.status)
            .bind(report.at)
            .bind(&report.errors)
            .bind(json(&links)?)
            .bind(&profile)
            .bind(&brand)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            match &decided {
                Plan::Apply { from } => from.clone(),
                _ => return Ok(EventRecorded::Stored),
            }
        }
        Plan::Late { from } => Some(from.clone()),
    };
    let applied = !matches!(decided, Plan::Late { .. });
    let id: i64 = sqlx::query_scalar(
        "insert into compliance_transitions (object_sid, from_status, to_status, errors, at, event_id,
                                             applied, recorded_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8) returning id",
    )
    .bind(&report.sid)
    .bind(&from)
    .bind(&report.status)
    .bind(&report.errors)
    .bind(report.at)
    .bind(&event.id)
    .bind(applied)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    if applied {
        insert_job(tx, &notify_job(id, now), now).await?;
    }
    Ok(EventRecorded::Stored)
}

#[async_trait]
impl ComplianceStore for PostgresStore {
    async fn record_events(
        &self,
        events: &[StreamEvent],
        account: Option<&str>,
        received_at: DateTime<Utc>,
    ) -> Result<Vec<EventRecorded>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut recorded = Vec::with_capacity(events.len());
        for event in events {
            recorded.push(record(&mut tx, event, account, received_at).await?);
        }
        tx.commit().await?;
        Ok(recorded)
    }

    async fn list_compliance(&self, query: &ComplianceQuery) -> Result<Page<ComplianceObject>, StoreError> {
        let rows = sqlx::query(
            "select * from compliance_objects
             where kind = $1 and ($2::text is null or status = $2) and ($3::text is null or account_sid = $3)
               and ($4::timestamptz is null or (updated_at, sid) < ($4, $5))
             order by updated_at desc, sid desc limit $6",
        )
        .bind(query.kind.as_str())
        .bind(query.status.as_deref())
        .bind(query.account_sid.as_deref())
        .bind(query.cursor.as_ref().map(|c| c.updated_at))
        .bind(query.cursor.as_ref().map(|c| c.sid.clone()).unwrap_or_default())
        .bind(i64::from(query.limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(compliance_object).collect::<Result<_, _>>()?;
        Ok(page(items, query.limit))
    }

    async fn get_compliance(
        &self,
        kind: ComplianceKind,
        sid: &str,
    ) -> Result<Option<ComplianceDetail>, StoreError> {
        let Some(row) = sqlx::query("select * from compliance_objects where sid = $1 and kind = $2")
            .bind(sid)
            .bind(kind.as_str())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let transitions =
            sqlx::query("select * from compliance_transitions where object_sid = $1 order by id")
                .bind(sid)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(compliance_transition)
                .collect::<Result<_, _>>()?;
        Ok(Some(ComplianceDetail {
            object: compliance_object(&row)?,
            transitions,
        }))
    }

    async fn compliance_transition(
        &self,
        id: i64,
    ) -> Result<Option<(ComplianceObject, ComplianceTransition)>, StoreError> {
        let Some(row) = sqlx::query("select * from compliance_transitions where id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let transition = compliance_transition(&row)?;
        let sid: String = row.try_get("object_sid")?;
        let object = sqlx::query("select * from compliance_objects where sid = $1")
            .bind(&sid)
            .fetch_optional(&self.pool)
            .await?;
        object
            .map(|row| Ok((compliance_object(&row)?, transition)))
            .transpose()
    }

    async fn set_compliance_links(&self, sid: &str, links: &Links) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let found = sqlx::query("select kind, links from compliance_objects where sid = $1 for update")
            .bind(sid)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(found) = found else { return Ok(()) };
        let kind: String = found.try_get("kind")?;
        let kind = ComplianceKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(kind.clone()))?;
        let stored: Value = found.try_get("links")?;
        let merged = links
            .clone()
            .or(serde_json::from_value(stored).unwrap_or_default());
        let (profile, brand) = owners(kind, &merged);
        sqlx::query(
            "update compliance_objects set links = $2, profile_sid = $3, brand_sid = $4 where sid = $1",
        )
        .bind(sid)
        .bind(json(&merged)?)
        .bind(profile)
        .bind(brand)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn compliance_for_profile(&self, profile_sid: &str) -> Result<Vec<ComplianceObject>, StoreError> {
        let rows = sqlx::query(
            "select * from compliance_objects where profile_sid = $1
             union all
             select * from compliance_objects where brand_sid in
                 (select sid from compliance_objects where profile_sid = $1 and kind = 'brand')
             order by kind, created_at, sid",
        )
        .bind(profile_sid)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(compliance_object).collect()
    }
}
