//! Brands, campaigns and toll-free verifications on SQLite.

use super::jobs::insert as insert_job;
use super::{micros, SqliteStore};
use crate::domain::compliance::{ComplianceKind, Links, StreamEvent};
use crate::store::compliance::{notify_job, owners, page, plan, Plan};
use crate::store::rows::{compliance_object, compliance_transition};
use crate::store::{
    json_text, json_value, ComplianceDetail, ComplianceObject, ComplianceQuery, ComplianceStore,
    ComplianceTransition, EventRecorded, Page, StoreError,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension as _};

/// One event, in the writer's transaction.
fn record(
    tx: &Connection,
    event: &StreamEvent,
    account: Option<&str>,
    now: DateTime<Utc>,
) -> Result<EventRecorded, StoreError> {
    let object = event.report.as_ref().map(|r| r.sid.clone());
    let inserted = tx
        .prepare_cached(
            "insert into stream_events (event_id, event_type, account_sid, object_sid, body, received_at)
             values (?1, ?2, ?3, ?4, ?5, ?6) on conflict (event_id) do nothing",
        )?
        .execute(params![
            event.id,
            event.event_type,
            account,
            object,
            json_text(&event.body)?,
            micros(now)
        ])?;
    if inserted == 0 {
        return Ok(EventRecorded::Duplicate);
    }
    let Some(report) = &event.report else {
        return Ok(EventRecorded::Stored);
    };
    let current: Option<(String, i64, Option<String>, String)> = tx
        .prepare_cached(
            "select status, status_at, account_sid, links from compliance_objects where sid = ?1",
        )?
        .query_row(params![report.sid], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    if let Some((_, _, Some(owner), _)) = &current {
        if account.is_some_and(|a| a != owner) {
            tracing::warn!(object = %report.sid, %owner, "an event of another account names this object: kept, not applied");
            return Ok(EventRecorded::Stored);
        }
    }
    let known = current
        .as_ref()
        .map(|(status, at, _, _)| Ok::<_, StoreError>((status.as_str(), super::time(*at)?)))
        .transpose()?;
    let decided = plan(known, report);
    let stored_links: Links = match &current {
        Some((_, _, _, links)) => serde_json::from_value(json_value(links)?).unwrap_or_default(),
        None => Links::default(),
    };
    let links = report.links.clone().or(stored_links);
    let (profile, brand) = owners(report.kind, &links);
    let errors = json_text(&report.errors)?;
    let from = match &decided {
        Plan::Apply { from: None } => {
            tx.prepare_cached(
                "insert into compliance_objects (sid, kind, account_sid, status, status_at, errors, links,
                                                 profile_sid, brand_sid, created_at, updated_at)
                 values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
            )?
            .execute(params![
                report.sid,
                report.kind.as_str(),
                account,
                report.status,
                micros(report.at),
                errors,
                json_text(&links)?,
                profile,
                brand,
                micros(now)
            ])?;
            None
        }
        Plan::Apply { from: Some(_) } | Plan::Refresh => {
            tx.prepare_cached(
                "update compliance_objects set status = ?2, status_at = ?3, errors = ?4, links = ?5,
                        profile_sid = ?6, brand_sid = ?7, updated_at = ?8
                 where sid = ?1",
            )?
            .execute(params![
                report.sid,
                report.status,
                micros(report.at),
                errors,
                json_text(&links)?,
                profile,
                brand,
                micros(now)
            ])?;
            match &decided {
                Plan::Apply { from } => from.clone(),
                _ => return Ok(EventRecorded::Stored),
            }
        }
        Plan::Late { from } => Some(from.clone()),
    };
    let applied = !matches!(decided, Plan::Late { .. });
    let id: i64 = tx
        .prepare_cached(
            "insert into compliance_transitions (object_sid, from_status, to_status, errors, at, event_id,
                                                 applied, recorded_at)
             values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) returning id",
        )?
        .query_row(
            params![
                report.sid,
                from,
                report.status,
                errors,
                micros(report.at),
                event.id,
                applied,
                micros(now)
            ],
            |r| r.get(0),
        )?;
    if applied {
        insert_job(tx, &notify_job(id, now), now)?;
    }
    Ok(EventRecorded::Stored)
}

#[async_trait]
impl ComplianceStore for SqliteStore {
    async fn record_events(
        &self,
        events: &[StreamEvent],
        account: Option<&str>,
        received_at: DateTime<Utc>,
    ) -> Result<Vec<EventRecorded>, StoreError> {
        let (events, account) = (events.to_vec(), account.map(str::to_owned));
        self.writer
            .write(move |tx| {
                events
                    .iter()
                    .map(|event| record(tx, event, account.as_deref(), received_at))
                    .collect()
            })
            .await
    }

    async fn list_compliance(&self, query: &ComplianceQuery) -> Result<Page<ComplianceObject>, StoreError> {
        let (after_at, after_sid) = match &query.cursor {
            Some(c) => (micros(c.updated_at), c.sid.clone()),
            None => (i64::MAX, String::new()),
        };
        let rows = sqlx::query(
            "select * from compliance_objects
             where kind = $1 and ($2 is null or status = $2) and ($3 is null or account_sid = $3)
               and (updated_at < $4 or (updated_at = $4 and ($5 = '' or sid < $5)))
             order by updated_at desc, sid desc limit $6",
        )
        .bind(query.kind.as_str())
        .bind(query.status.as_deref())
        .bind(query.account_sid.as_deref())
        .bind(after_at)
        .bind(after_sid)
        .bind(i64::from(query.limit) + 1)
        .fetch_all(&self.reader)
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
            .fetch_optional(&self.reader)
            .await?
        else {
            return Ok(None);
        };
        let transitions =
            sqlx::query("select * from compliance_transitions where object_sid = $1 order by id")
                .bind(sid)
                .fetch_all(&self.reader)
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
            .fetch_optional(&self.reader)
            .await?
        else {
            return Ok(None);
        };
        let transition = compliance_transition(&row)?;
        let sid: String = sqlx::Row::try_get(&row, "object_sid")?;
        let object = sqlx::query("select * from compliance_objects where sid = $1")
            .bind(&sid)
            .fetch_optional(&self.reader)
            .await?;
        object
            .map(|row| Ok((compliance_object(&row)?, transition)))
            .transpose()
    }

    async fn set_compliance_links(&self, sid: &str, links: &Links) -> Result<(), StoreError> {
        let (sid, links) = (sid.to_owned(), links.clone());
        self.writer
            .write(move |tx| {
                let found: Option<(String, String)> = tx
                    .prepare_cached("select kind, links from compliance_objects where sid = ?1")?
                    .query_row(params![sid], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let Some((kind, stored)) = found else { return Ok(()) };
                let kind = ComplianceKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(kind.clone()))?;
                let merged = links.or(serde_json::from_value(json_value(&stored)?).unwrap_or_default());
                let (profile, brand) = owners(kind, &merged);
                tx.prepare_cached(
                    "update compliance_objects set links = ?2, profile_sid = ?3, brand_sid = ?4 where sid = ?1",
                )?
                .execute(params![sid, json_text(&merged)?, profile, brand])?;
                Ok(())
            })
            .await
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
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(compliance_object).collect()
    }
}
