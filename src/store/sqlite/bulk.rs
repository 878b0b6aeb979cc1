//! A group commit's batch in a handful of statements, whatever its size. Every statement
//! to SQLite is a round trip to sqlx's connection thread, and on a busy machine those trips,
//! not SQLite, bound the writer: so rows travel as one JSON array per table (`json_each`,
//! serialized from tuples: no `serde_json::Value` per field),
//! and the state machine runs here, in order, against the batch's profiles read at once.
//! Applies to batches whose callbacks all carry Twilio's idempotency token and a usable
//! report (what Twilio sends); `batch.rs` stores any other batch one callback at a time.

use super::micros;
use crate::domain::{Decision, ProfileStatus, StatusReport};
use crate::outbox::{jobs_for_transitions, NewJob};
use crate::store::{json_text, plan, CallbackRecord, Recorded, Source, StoreError};
use chrono::{DateTime, Utc};
use sqlx::{Row as _, SqliteConnection};
use std::collections::{HashMap, HashSet};

/// Whether `record` can take this batch.
pub fn eligible(callbacks: &[CallbackRecord]) -> bool {
    callbacks
        .iter()
        .all(|c| c.idempotency_token.is_some() && c.report.is_ok())
}

/// A profile as the batch leaves it.
struct ProfileState {
    status: ProfileStatus,
    created_at: Option<i64>,
    updated_at: i64,
    account_sid: Option<String>,
    friendly_name: Option<String>,
    changed: bool,
}

/// Stores an eligible batch inside the caller's transaction; one outcome per callback.
pub async fn record(
    tx: &mut SqliteConnection,
    callbacks: &[CallbackRecord],
) -> Result<Vec<Recorded>, StoreError> {
    let ids = insert_callbacks(tx, callbacks).await?;
    let reports: Vec<&StatusReport> = callbacks.iter().filter_map(|c| c.report.as_ref().ok()).collect();
    let mut profiles = current_profiles(tx, &reports).await?;
    let mut outcomes = Vec::with_capacity(callbacks.len());
    let mut transitions = Vec::new();
    let mut claimed = HashSet::new();
    for (callback, report) in callbacks.iter().zip(&reports) {
        let token = callback.idempotency_token.as_deref().unwrap_or_default();
        // A token seen twice in one batch: the first copy was stored, the second is a redelivery.
        let Some(&callback_id) = ids.get(token).filter(|_| claimed.insert(token)) else {
            outcomes.push(Recorded::Duplicate);
            continue;
        };
        let decision = apply(
            &mut profiles,
            report,
            callback.received_at,
            &mut transitions,
            callback_id,
        );
        outcomes.push(Recorded::Stored {
            callback_id,
            decision: Some(decision),
        });
    }
    upsert_profiles(tx, &profiles).await?;
    let transition_ids = insert_transitions(tx, &transitions).await?;
    let applied: Vec<_> = transitions
        .iter()
        .filter(|t| t.applied)
        .map(|t| (transition_ids[&t.callback_id], t.report, t.at))
        .collect();
    let jobs = jobs_for_transitions(&applied);
    let jobs: Vec<(&NewJob, DateTime<Utc>)> = jobs.iter().map(|job| (job, job.run_at)).collect();
    super::jobs::insert_many(tx, &jobs).await?;
    Ok(outcomes)
}

/// Inserts every callback whose token is new; token → id of those inserted.
async fn insert_callbacks(
    tx: &mut SqliteConnection,
    callbacks: &[CallbackRecord],
) -> Result<HashMap<String, i64>, StoreError> {
    let rows = callbacks
        .iter()
        .map(|c| {
            let report = c.report.as_ref().ok();
            Ok((
                c.idempotency_token.as_deref(),
                c.body_hash.as_str(),
                c.account_sid.as_ref().map(|a| a.as_str()),
                report.map(|r| r.profile_sid.as_str()),
                report.map(|r| r.status.as_wire()),
                c.content_type.as_str(),
                json_text(&c.fields)?,
                c.credential.as_str(),
                micros(c.received_at),
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let inserted = sqlx::query(
        "insert into callbacks (idempotency_token, body_hash, account_sid, profile_sid, status, problem,
                                content_type, fields, credential, received_at)
         select value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, null,
                value ->> 5, value ->> 6, value ->> 7, value ->> 8
         from json_each(?1) where true
         on conflict (idempotency_token) do nothing returning id, idempotency_token",
    )
    .bind(json_text(&rows)?)
    .fetch_all(&mut *tx)
    .await?;
    inserted
        .iter()
        .map(|row| Ok((row.try_get("idempotency_token")?, row.try_get("id")?)))
        .collect()
}

async fn current_profiles(
    tx: &mut SqliteConnection,
    reports: &[&StatusReport],
) -> Result<HashMap<String, ProfileState>, StoreError> {
    let sids: Vec<&str> = reports.iter().map(|r| r.profile_sid.as_str()).collect();
    let rows = sqlx::query(
        "select sid, status, updated_at from profiles where sid in (select value from json_each(?1))",
    )
    .bind(json_text(&sids)?)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter()
        .map(|row| {
            let status: String = row.try_get("status")?;
            Ok((
                row.try_get("sid")?,
                ProfileState {
                    status: ProfileStatus::from_wire(&status),
                    created_at: None,
                    updated_at: row.try_get("updated_at")?,
                    account_sid: None,
                    friendly_name: None,
                    changed: false,
                },
            ))
        })
        .collect()
}

/// A transition to insert, tied to its callback.
struct NewTransition<'a> {
    report: &'a StatusReport,
    from: Option<ProfileStatus>,
    at: DateTime<Utc>,
    applied: bool,
    callback_id: i64,
}

/// The state machine, as `profiles::apply` runs it, against the batch's view of the profile.
fn apply<'a>(
    profiles: &mut HashMap<String, ProfileState>,
    report: &'a StatusReport,
    at: DateTime<Utc>,
    transitions: &mut Vec<NewTransition<'a>>,
    callback_id: i64,
) -> Decision {
    let (at_time, at) = (at, micros(at));
    let account = report.account_sid.as_ref().map(|a| a.as_str().to_owned());
    let (from, decision) = match profiles.get_mut(report.profile_sid.as_str()) {
        None => {
            profiles.insert(
                report.profile_sid.as_str().to_owned(),
                ProfileState {
                    status: report.status.clone(),
                    created_at: Some(at),
                    updated_at: at,
                    account_sid: account,
                    friendly_name: report.friendly_name.clone(),
                    changed: true,
                },
            );
            (None, Decision::Advance)
        }
        Some(profile) => {
            let current = profile.status.clone();
            let decision = plan(Some(&current), report);
            if decision == Decision::Advance {
                profile.status = report.status.clone();
                profile.updated_at = at;
                profile.account_sid = account.or(profile.account_sid.take());
                profile.friendly_name = report.friendly_name.clone().or(profile.friendly_name.take());
                profile.changed = true;
            }
            (Some(current), decision)
        }
    };
    if decision != Decision::Unchanged {
        transitions.push(NewTransition {
            report,
            from,
            at: at_time,
            applied: decision == Decision::Advance,
            callback_id,
        });
    }
    decision
}

async fn upsert_profiles(
    tx: &mut SqliteConnection,
    profiles: &HashMap<String, ProfileState>,
) -> Result<(), StoreError> {
    let rows: Vec<_> = profiles
        .iter()
        .filter(|(_, p)| p.changed)
        .map(|(sid, p)| {
            (
                sid,
                &p.account_sid,
                p.status.as_wire(),
                p.status.is_known(),
                &p.friendly_name,
                p.created_at.unwrap_or(p.updated_at),
                p.updated_at,
            )
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "insert into profiles (sid, account_sid, status, status_known, friendly_name, created_at, updated_at)
         select value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6
         from json_each(?1) where true
         on conflict (sid) do update set status = excluded.status, status_known = excluded.status_known,
             updated_at = excluded.updated_at,
             account_sid = coalesce(excluded.account_sid, profiles.account_sid),
             friendly_name = coalesce(excluded.friendly_name, profiles.friendly_name)",
    )
    .bind(json_text(&rows)?)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Inserts the transitions; callback id → transition id.
async fn insert_transitions(
    tx: &mut SqliteConnection,
    transitions: &[NewTransition<'_>],
) -> Result<HashMap<i64, i64>, StoreError> {
    if transitions.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<_> = transitions
        .iter()
        .map(|t| {
            (
                t.report.profile_sid.as_str(),
                t.from.as_ref().map(ProfileStatus::as_wire),
                t.report.status.as_wire(),
                micros(t.at),
                Source::Callback.as_str(),
                t.report.failure_reason.as_deref(),
                t.applied,
                t.callback_id,
            )
        })
        .collect();
    let inserted = sqlx::query(
        "insert into transitions (profile_sid, from_status, to_status, at, source, failure_reason, applied, callback_id)
         select value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7
         from json_each(?1) returning id, callback_id",
    )
    .bind(json_text(&rows)?)
    .fetch_all(&mut *tx)
    .await?;
    inserted
        .iter()
        .map(|row| Ok((row.try_get("callback_id")?, row.try_get("id")?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::profiles::record_in;
    use super::super::SqliteStore;
    use super::*;
    use crate::config::SqliteSynchronous;
    use crate::store::fixtures::callback;
    use crate::store::Store as _;
    use sqlx::Connection as _;

    async fn store() -> SqliteStore {
        let store = SqliteStore::connect("sqlite::memory:", SqliteSynchronous::Normal)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    /// Every row the receiver writes, as JSON text. Jobs without their ids, and `notify` jobs
    /// as the transitions they cover: a batch queues one for all, one at a time one each.
    async fn dump(store: &SqliteStore) -> Vec<String> {
        let mut out = Vec::new();
        for query in [
            "select json_group_array(json_array(sid, account_sid, status, status_known, friendly_name, created_at, updated_at)) from (select * from profiles order by sid)",
            "select json_group_array(json_array(id, idempotency_token, body_hash, account_sid, profile_sid, status, problem, content_type, fields, credential, received_at)) from (select * from callbacks order by id)",
            "select json_group_array(json_array(id, profile_sid, from_status, to_status, at, source, failure_reason, applied, callback_id)) from (select * from transitions order by id)",
            "select json_group_array(json_array(kind, dedupe_key, payload, state, attempts, run_at, created_at)) from (select * from jobs where kind != 'notify' order by id)",
            "select json_group_array(json_array(id, state)) from (
                 select coalesce(j.value, jobs.payload ->> 'transition_id') as id, state from jobs
                 left join json_each(jobs.payload -> '$.transition_ids') as j where kind = 'notify' order by 1)",
        ] {
            out.push(sqlx::query_scalar(query).fetch_one(&store.reader).await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn a_batch_stores_exactly_what_one_at_a_time_stores() {
        let seed = callback("t0", 1, "pending-review", 0, None);
        let batch = vec![
            callback("t1", 1, "in-review", 1, None),
            callback("t2", 2, "pending-review", 2, None),
            callback("t3", 1, "pending-review", 3, None),
            callback("t4", 2, "twilio-rejected", 4, None),
            callback("t2", 2, "pending-review", 5, None),
            callback("t5", 3, "some-future-status", 6, None),
            callback("t6", 1, "twilio-approved", 7, Some("Acme")),
            callback("t7", 1, "twilio-approved", 8, None),
            callback("t8", 4, "pending-review", 9, Some("No Account")),
            callback("t0", 1, "pending-review", 10, None),
        ];
        let (batched, single) = (store().await, store().await);
        for store in [&batched, &single] {
            let mut conn = store.writer.acquire().await.unwrap();
            record_in(&mut conn, &seed).await.unwrap();
        }
        let mut conn = batched.writer.acquire().await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        let outcomes = record(&mut tx, &batch).await.unwrap();
        tx.commit().await.unwrap();
        drop(conn);
        let mut conn = single.writer.acquire().await.unwrap();
        let mut expected = Vec::new();
        for callback in &batch {
            expected.push(record_in(&mut conn, callback).await.unwrap());
        }
        drop(conn);
        assert_eq!(outcomes, expected);
        let decisions: Vec<_> = outcomes
            .iter()
            .map(|o| match o {
                Recorded::Stored { decision, .. } => *decision,
                Recorded::Duplicate => None,
            })
            .collect();
        // The cases this covers: advance, new profile, late report, duplicate token (twice),
        // unknown status, an unchanged repeat.
        assert!(decisions.contains(&Some(Decision::Late)));
        assert!(decisions.contains(&Some(Decision::Unchanged)));
        assert_eq!(decisions.iter().filter(|d| d.is_none()).count(), 2);
        assert_eq!(dump(&batched).await, dump(&single).await);
        // The seed's job, and one for the whole batch.
        let notify_jobs: i64 = sqlx::query_scalar("select count(*) from jobs where kind = 'notify'")
            .fetch_one(&batched.reader)
            .await
            .unwrap();
        assert_eq!(notify_jobs, 2);
    }
}
