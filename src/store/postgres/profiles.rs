//! Profiles, callbacks and transitions on PostgreSQL.

use super::PostgresStore;
use crate::domain::Source;
use crate::domain::{BundleKind, Decision, ProfileSid, ProfileStatus, StatusReport};
use crate::store::outbox::follow_ups;
pub(super) use crate::store::rows::{profile, transition};
use crate::store::{
    foreign_owner, page, plan, revert_to, CallbackRecord, CallbackStore, Page, Profile, ProfileDetail,
    ProfileQuery, Recorded, StoreError, TransitionRow,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};

/// Applies a report to its profile inside the caller's transaction, with the jobs it causes.
async fn apply(
    tx: &mut PgConnection,
    report: &StatusReport,
    source: Source,
    callback_id: Option<i64>,
    at: DateTime<Utc>,
) -> Result<Decision, StoreError> {
    let account = report.account_sid.as_ref().map(|a| a.as_str());
    let created = sqlx::query(
        "insert into profiles (sid, account_sid, status, status_known, friendly_name, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $6) on conflict (sid) do nothing",
    )
    .bind(report.profile_sid.as_str())
    .bind(account)
    .bind(report.status.as_wire())
    .bind(report.status.is_known())
    .bind(report.friendly_name.as_deref())
    .bind(at)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let (from, decision) = if created {
        (None, Decision::Advance)
    } else {
        let (current, owner): (String, Option<String>) =
            sqlx::query_as("select status, account_sid from profiles where sid = $1 for update")
                .bind(report.profile_sid.as_str())
                .fetch_one(&mut *tx)
                .await?;
        if let Some(owner) = foreign_owner(owner.as_deref(), report) {
            return Err(StoreError::ForeignAccount {
                profile: report.profile_sid.to_string(),
                owner,
            });
        }
        let current = ProfileStatus::from_wire(&current);
        let decision = plan(Some(&current), report);
        if decision == Decision::Advance {
            sqlx::query(
                "update profiles set status = $2, status_known = $3, updated_at = $4,
                 account_sid = coalesce($5, account_sid), friendly_name = coalesce($6, friendly_name)
                 where sid = $1",
            )
            .bind(report.profile_sid.as_str())
            .bind(report.status.as_wire())
            .bind(report.status.is_known())
            .bind(at)
            .bind(account)
            .bind(report.friendly_name.as_deref())
            .execute(&mut *tx)
            .await?;
        }
        (Some(current), decision)
    };
    if decision == Decision::Unchanged {
        return Ok(decision);
    }
    let transition_id: i64 = sqlx::query_scalar(
        "insert into transitions (profile_sid, from_status, to_status, at, source, failure_reason, applied, callback_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8) returning id",
    )
    .bind(report.profile_sid.as_str())
    .bind(from.as_ref().map(ProfileStatus::as_wire))
    .bind(report.status.as_wire())
    .bind(at)
    .bind(source.as_str())
    .bind(report.failure_reason.as_deref())
    .bind(decision == Decision::Advance)
    .bind(callback_id)
    .fetch_one(&mut *tx)
    .await?;
    if decision == Decision::Advance {
        let planned = follow_ups(source, &[(transition_id, report, at)]);
        super::jobs::follow_up(tx, &planned, &mut None, at).await?;
    }
    Ok(decision)
}

/// `CallbackStore::overrule` inside the caller's transaction.
async fn overrule(
    tx: &mut PgConnection,
    transition_id: i64,
    trusthub: &StatusReport,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let found: Option<(String, Option<String>, String)> = sqlx::query_as(
        "update transitions set applied = false where id = $1 and applied
         returning profile_sid, from_status, to_status",
    )
    .bind(transition_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((sid, from, to)) = found else {
        return Ok(false);
    };
    let current: String = sqlx::query_scalar("select status from profiles where sid = $1 for update")
        .bind(&sid)
        .fetch_one(&mut *tx)
        .await?;
    let superseded: bool = sqlx::query_scalar(
        "select exists (select 1 from transitions where profile_sid = $1 and id > $2 and applied)",
    )
    .bind(&sid)
    .bind(transition_id)
    .fetch_one(&mut *tx)
    .await?;
    let from = from.as_deref().map(ProfileStatus::from_wire);
    let back = revert_to(
        from.as_ref(),
        &ProfileStatus::from_wire(&to),
        &ProfileStatus::from_wire(&current),
        superseded,
    );
    if let Some(status) = back {
        sqlx::query("update profiles set status = $2, status_known = $3, updated_at = $4 where sid = $1")
            .bind(&sid)
            .bind(status.as_wire())
            .bind(status.is_known())
            .bind(at)
            .execute(&mut *tx)
            .await?;
    }
    apply(tx, trusthub, Source::Sync, None, at).await?;
    Ok(true)
}

/// Stores one callback in its own transaction: callbacks the bulk path does not take, and
/// those of a batch whose transaction failed.
pub(super) async fn record_one(pool: &PgPool, callback: &CallbackRecord) -> Result<Recorded, StoreError> {
    let fields = crate::store::json_text(&callback.fields)?;
    let report = callback.report.as_ref().ok();
    let mut tx = pool.begin().await?;
    if callback.idempotency_token.is_none() {
        // Two statements, so that the index on (profile_sid, id) serves the common one.
        let latest: Option<String> = match report {
            Some(report) => {
                sqlx::query_scalar(
                    // See migrations/postgres/0007: the latest callback that did something.
                    "select body_hash from callbacks where id = (select max(id) from (
                         select max(id) as id from callbacks where idempotency_token is null and profile_sid = $1
                         union all
                         select max(callback_id) from transitions where profile_sid = $1) as latest)",
                )
                .bind(report.profile_sid.as_str())
                .fetch_optional(&mut *tx)
                .await?
            }
            None => {
                sqlx::query_scalar(
                    "select body_hash from callbacks where idempotency_token is null and profile_sid is null
                     order by id desc limit 1",
                )
                .fetch_optional(&mut *tx)
                .await?
            }
        };
        if latest.as_deref() == Some(callback.body_hash.as_str()) {
            return Ok(Recorded::Duplicate);
        }
    }
    let id: Option<i64> = sqlx::query_scalar(
        "insert into callbacks (idempotency_token, body_hash, account_sid, profile_sid, status, problem,
                                content_type, fields, credential, received_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         on conflict (idempotency_token) do nothing returning id",
    )
    .bind(callback.idempotency_token.as_deref())
    .bind(&callback.body_hash)
    .bind(callback.account_sid.as_ref().map(|a| a.as_str()))
    .bind(report.map(|r| r.profile_sid.as_str()))
    .bind(report.map(|r| r.status.as_wire()))
    .bind(callback.report.as_ref().err())
    .bind(&callback.content_type)
    .bind(fields)
    .bind(&callback.credential)
    .bind(callback.received_at)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(callback_id) = id else {
        return Ok(Recorded::Duplicate);
    };
    let decision = match report {
        Some(report) => {
            let applied = apply(
                &mut tx,
                report,
                Source::Callback,
                Some(callback_id),
                callback.received_at,
            )
            .await;
            match applied {
                Ok(decision) => Some(decision),
                // Kept for inspection (the callback row stays), not applied.
                Err(StoreError::ForeignAccount { owner, .. }) => {
                    tx.commit().await?;
                    return Ok(Recorded::Foreign { callback_id, owner });
                }
                Err(e) => return Err(e),
            }
        }
        None => None,
    };
    tx.commit().await?;
    Ok(Recorded::Stored {
        callback_id,
        decision,
    })
}

#[async_trait]
impl CallbackStore for PostgresStore {
    async fn record_callback(&self, callback: CallbackRecord) -> Result<Recorded, StoreError> {
        self.commits.record(callback).await
    }

    async fn record_report(
        &self,
        report: &StatusReport,
        source: Source,
        at: DateTime<Utc>,
    ) -> Result<Decision, StoreError> {
        let mut tx = self.pool.begin().await?;
        let decision = apply(&mut tx, report, source, None, at).await?;
        tx.commit().await?;
        Ok(decision)
    }

    async fn overrule(
        &self,
        transition_id: i64,
        trusthub: &StatusReport,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let overruled = overrule(&mut tx, transition_id, trusthub, at).await?;
        tx.commit().await?;
        Ok(overruled)
    }

    async fn list_profiles(&self, query: &ProfileQuery) -> Result<Page<Profile>, StoreError> {
        let rows = sqlx::query(
            "select * from profiles
             where ($1::text is null or status = $1) and ($2::text is null or account_sid = $2)
               and ($3::timestamptz is null or (updated_at, sid) < ($3, $4::text))
               and ($6::text is null or kind = $6)
             order by updated_at desc, sid desc limit $5",
        )
        .bind(query.status.as_deref())
        .bind(query.account_sid.as_deref())
        .bind(query.after.as_ref().map(|c| c.updated_at))
        .bind(query.after.as_ref().map(|c| c.sid.as_str()))
        .bind(i64::from(query.limit) + 1)
        .bind(query.kind.map(BundleKind::as_str))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(profile).collect::<Result<Vec<_>, _>>()?;
        Ok(page(items, query.limit))
    }

    async fn get_profile(&self, sid: &ProfileSid) -> Result<Option<ProfileDetail>, StoreError> {
        let Some(row) = sqlx::query("select * from profiles where sid = $1")
            .bind(sid.as_str())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let transitions = sqlx::query("select * from transitions where profile_sid = $1 order by id")
            .bind(sid.as_str())
            .fetch_all(&self.pool)
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
        sqlx::query(
            "update profiles set kind = coalesce(kind, $2), friendly_name = coalesce($3, friendly_name),
                    valid_until = $4
             where sid = $1",
        )
        .bind(sid.as_str())
        .bind(kind.as_str())
        .bind(friendly_name)
        .bind(valid_until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn transition(&self, id: i64) -> Result<Option<TransitionRow>, StoreError> {
        let row = sqlx::query("select * from transitions where id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
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
