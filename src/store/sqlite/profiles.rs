//! Profiles, callbacks and transitions on SQLite.

use super::{insert_row, micros, SqliteStore};
use crate::domain::Source;
use crate::domain::{BundleKind, Decision, ProfileSid, ProfileStatus, StatusReport};
use crate::store::outbox::follow_ups;
pub(super) use crate::store::rows::{profile, transition};
use crate::store::{
    foreign_owner, json_text, page, plan, revert_to, CallbackRecord, CallbackStore, Page, Profile,
    ProfileDetail, ProfileQuery, Recorded, StoreError, TransitionRow,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension as _};
use sqlx::Row;

/// Applies a report to its profile inside the caller's transaction, with the jobs it causes.
pub(super) fn apply(
    tx: &Connection,
    report: &StatusReport,
    source: Source,
    callback_id: Option<i64>,
    at: DateTime<Utc>,
    open_notify: &mut Option<i64>,
) -> Result<Decision, StoreError> {
    let account = report.account_sid.as_ref().map(|a| a.as_str());
    let created = tx
        .prepare_cached(
            "insert into profiles (sid, account_sid, status, status_known, friendly_name, created_at, updated_at)
             values (?1, ?2, ?3, ?4, ?5, ?6, ?6) on conflict (sid) do nothing",
        )?
        .execute(params![
            report.profile_sid.as_str(),
            account,
            report.status.as_wire(),
            report.status.is_known(),
            report.friendly_name,
            micros(at),
        ])?
        == 1;
    let (from, decision) = if created {
        (None, Decision::Advance)
    } else {
        let (current, owner): (String, Option<String>) = tx
            .prepare_cached("select status, account_sid from profiles where sid = ?1")?
            .query_row([report.profile_sid.as_str()], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
        if let Some(owner) = foreign_owner(owner.as_deref(), report) {
            return Err(StoreError::ForeignAccount {
                profile: report.profile_sid.to_string(),
                owner,
            });
        }
        let current = ProfileStatus::from_wire(&current);
        let decision = plan(Some(&current), report);
        if decision == Decision::Advance {
            tx.prepare_cached(
                "update profiles set status = ?2, status_known = ?3, updated_at = ?4,
                 account_sid = coalesce(?5, account_sid), friendly_name = coalesce(?6, friendly_name)
                 where sid = ?1",
            )?
            .execute(params![
                report.profile_sid.as_str(),
                report.status.as_wire(),
                report.status.is_known(),
                micros(at),
                account,
                report.friendly_name,
            ])?;
        }
        (Some(current), decision)
    };
    if decision == Decision::Unchanged {
        return Ok(decision);
    }
    let mut insert = tx.prepare_cached(
        "insert into transitions (profile_sid, from_status, to_status, at, source, failure_reason, applied, callback_id)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let transition_id = insert_row(
        tx,
        &mut insert,
        params![
            report.profile_sid.as_str(),
            from.as_ref().map(ProfileStatus::as_wire),
            report.status.as_wire(),
            micros(at),
            source.as_str(),
            report.failure_reason,
            decision == Decision::Advance,
            callback_id,
        ],
    )?
    .ok_or_else(|| StoreError::Corrupt("a transition was not inserted".to_owned()))?;
    if decision == Decision::Advance {
        let planned = follow_ups(source, &[(transition_id, report, at)]);
        super::jobs::follow_up(tx, &planned, open_notify, at)?;
    }
    Ok(decision)
}

/// `CallbackStore::overrule` inside the caller's transaction.
fn overrule(
    tx: &Connection,
    transition_id: i64,
    trusthub: &StatusReport,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let found: Option<(String, Option<String>, String)> = tx
        .prepare_cached(
            "select profile_sid, from_status, to_status from transitions where id = ?1 and applied",
        )?
        .query_row([transition_id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?;
    let Some((sid, from, to)) = found else {
        return Ok(false);
    };
    tx.prepare_cached("update transitions set applied = 0 where id = ?1")?
        .execute([transition_id])?;
    let current: String = tx
        .prepare_cached("select status from profiles where sid = ?1")?
        .query_row([&sid], |row| row.get(0))?;
    let superseded: bool = tx
        .prepare_cached(
            "select exists (select 1 from transitions where profile_sid = ?1 and id > ?2 and applied)",
        )?
        .query_row(params![sid, transition_id], |row| row.get(0))?;
    let from = from.as_deref().map(ProfileStatus::from_wire);
    let back = revert_to(
        from.as_ref(),
        &ProfileStatus::from_wire(&to),
        &ProfileStatus::from_wire(&current),
        superseded,
    );
    if let Some(status) = back {
        tx.prepare_cached(
            "update profiles set status = ?2, status_known = ?3, updated_at = ?4 where sid = ?1",
        )?
        .execute(params![sid, status.as_wire(), status.is_known(), micros(at)])?;
    }
    apply(tx, trusthub, Source::Sync, None, at, &mut None)?;
    Ok(true)
}

/// Stores a callback inside the caller's transaction (a savepoint of the writer's).
/// `open_notify` as `jobs::follow_up` takes it.
pub(super) fn record_in(
    tx: &Connection,
    callback: &CallbackRecord,
    open_notify: &mut Option<i64>,
) -> Result<Recorded, StoreError> {
    let report = callback.report.as_ref().ok();
    if callback.idempotency_token.is_none() {
        let latest: Option<String> = tx
            .prepare_cached(
                // See migrations/sqlite/0006: the latest callback that did something.
                "select body_hash from callbacks where id = (select max(id) from (
                     select max(id) as id from callbacks where idempotency_token is null and profile_sid is ?1
                     union all
                     select max(callback_id) from transitions where profile_sid = ?1))",
            )?
            .query_row([report.map(|r| r.profile_sid.as_str())], |row| row.get(0))
            .optional()?;
        if latest.as_deref() == Some(callback.body_hash.as_str()) {
            return Ok(Recorded::Duplicate);
        }
    }
    let mut insert = tx.prepare_cached(
        "insert into callbacks (idempotency_token, body_hash, account_sid, profile_sid, status, problem,
                                content_type, fields, credential, received_at)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         on conflict (idempotency_token) do nothing",
    )?;
    let id = insert_row(
        tx,
        &mut insert,
        params![
            callback.idempotency_token,
            callback.body_hash,
            callback.account_sid.as_ref().map(|a| a.as_str()),
            report.map(|r| r.profile_sid.as_str()),
            report.map(|r| r.status.as_wire()),
            callback.report.as_ref().err(),
            callback.content_type,
            json_text(&callback.fields)?,
            callback.credential,
            micros(callback.received_at),
        ],
    )?;
    let Some(callback_id) = id else {
        return Ok(Recorded::Duplicate);
    };
    let decision = match report {
        Some(report) => {
            let applied = apply(
                tx,
                report,
                Source::Callback,
                Some(callback_id),
                callback.received_at,
                open_notify,
            );
            match applied {
                Ok(decision) => Some(decision),
                // Kept for inspection (the callback row stays), not applied.
                Err(StoreError::ForeignAccount { owner, .. }) => {
                    return Ok(Recorded::Foreign { callback_id, owner })
                }
                Err(e) => return Err(e),
            }
        }
        None => None,
    };
    Ok(Recorded::Stored {
        callback_id,
        decision,
    })
}

#[async_trait]
impl CallbackStore for SqliteStore {
    async fn record_callback(&self, callback: CallbackRecord) -> Result<Recorded, StoreError> {
        self.writer.record(callback).await
    }

    async fn record_report(
        &self,
        report: &StatusReport,
        source: Source,
        at: DateTime<Utc>,
    ) -> Result<Decision, StoreError> {
        let report = report.clone();
        self.writer
            .write(move |tx| apply(tx, &report, source, None, at, &mut None))
            .await
    }

    async fn overrule(
        &self,
        transition_id: i64,
        trusthub: &StatusReport,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let report = trusthub.clone();
        self.writer
            .write(move |tx| overrule(tx, transition_id, &report, at))
            .await
    }

    async fn list_profiles(&self, query: &ProfileQuery) -> Result<Page<Profile>, StoreError> {
        let rows = sqlx::query(
            "select * from profiles
             where ($1 is null or status = $1) and ($2 is null or account_sid = $2)
               and ($3 is null or (updated_at, sid) < ($3, $4)) and ($6 is null or kind = $6)
             order by updated_at desc, sid desc limit $5",
        )
        .bind(query.status.as_deref())
        .bind(query.account_sid.as_deref())
        .bind(query.after.as_ref().map(|c| micros(c.updated_at)))
        .bind(query.after.as_ref().map(|c| c.sid.as_str()))
        .bind(i64::from(query.limit) + 1)
        .bind(query.kind.map(BundleKind::as_str))
        .fetch_all(&self.reader)
        .await?;
        let items = rows.iter().map(profile).collect::<Result<Vec<_>, _>>()?;
        Ok(page(items, query.limit))
    }

    async fn get_profile(&self, sid: &ProfileSid) -> Result<Option<ProfileDetail>, StoreError> {
        let Some(row) = sqlx::query("select * from profiles where sid = $1")
            .bind(sid.as_str())
            .fetch_optional(&self.reader)
            .await?
        else {
            return Ok(None);
        };
        let transitions = sqlx::query("select * from transitions where profile_sid = $1 order by id")
            .bind(sid.as_str())
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(transition)
            .collect::<Result<_, _>>()?;
        Ok(Some(ProfileDetail {
            profile: profile(&row)?,
            transitions,
        }))
    }

    async fn remember_bundle(
        &self,
        sid: &ProfileSid,
        kind: BundleKind,
        friendly_name: Option<&str>,
        valid_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let (sid, name) = (sid.to_string(), friendly_name.map(str::to_owned));
        let until = valid_until.map(|t| t.timestamp_micros());
        self.writer
            .write(move |tx| {
                tx.prepare_cached(
                    "update profiles set kind = coalesce(kind, ?2), friendly_name = coalesce(?3, friendly_name),
                            valid_until = ?4
                     where sid = ?1",
                )?
                .execute(params![sid, kind.as_str(), name, until])?;
                Ok(())
            })
            .await
    }

    async fn transition(&self, id: i64) -> Result<Option<TransitionRow>, StoreError> {
        let row = sqlx::query("select * from transitions where id = $1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| {
            Ok(TransitionRow {
                id,
                profile_sid: row.try_get("profile_sid")?,
                transition: transition(&row)?,
            })
        })
        .transpose()
    }
}
