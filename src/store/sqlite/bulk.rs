//! A group commit's batch on the writer's connection (`writer.rs`): each
//! row bound to a cached prepared statement and stepped right there, so a batch costs no
//! round trips to another thread and no JSON packing of its rows. The state machine runs
//! here, in order, against the batch's profiles read once each. Applies to batches whose
//! callbacks all carry Twilio's idempotency token and a usable report (what Twilio sends);
//! `writer.rs` stores any other batch one callback at a time.

use super::{insert_row, micros, time};
use crate::domain::Source;
use crate::domain::{ProfileStatus, StatusReport};
use crate::store::batch_state::{apply, NewTransition, ProfileState};
use crate::store::outbox::follow_ups;
use crate::store::{json_text, CallbackRecord, Recorded, StoreError};
use rusqlite::{params, Connection, OptionalExtension as _};
use std::collections::{HashMap, HashSet};

/// Whether `record` can take this batch.
pub fn eligible(callbacks: &[CallbackRecord]) -> bool {
    callbacks
        .iter()
        .all(|c| c.idempotency_token.is_some() && c.report.is_ok())
}

/// A profile as the batch leaves it, with the rowid of a row that existed before it.
type Profile = ProfileState<Option<i64>>;

/// Stores an eligible batch inside the caller's transaction; one outcome per callback.
/// `open_notify` is the `notify` job the writer queued last: while no worker has taken it,
/// a batch's pending notifications wait for it rather than queueing another.
pub fn record(
    tx: &Connection,
    callbacks: &[CallbackRecord],
    open_notify: &mut Option<i64>,
) -> Result<Vec<Recorded>, StoreError> {
    let ids = insert_callbacks(tx, callbacks)?;
    let reports: Vec<&StatusReport> = callbacks.iter().filter_map(|c| c.report.as_ref().ok()).collect();
    let mut profiles = current_profiles(tx, &reports)?;
    let mut outcomes = Vec::with_capacity(callbacks.len());
    let mut transitions = Vec::new();
    for ((callback, report), id) in callbacks.iter().zip(&reports).zip(ids) {
        // A token seen twice in one batch: the first copy was stored, the second is a redelivery.
        let Some(callback_id) = id else {
            outcomes.push(Recorded::Duplicate);
            continue;
        };
        let applied = apply(
            &mut profiles,
            report,
            callback.received_at,
            callback_id,
            &mut transitions,
            || (None, true),
        );
        outcomes.push(match applied {
            Ok(decision) => Recorded::Stored {
                callback_id,
                decision: Some(decision),
            },
            Err(owner) => Recorded::Foreign { callback_id, owner },
        });
    }
    upsert_profiles(tx, &profiles)?;
    let transition_ids = insert_transitions(tx, &transitions)?;
    let applied: Vec<_> = transitions
        .iter()
        .zip(transition_ids)
        .filter(|(t, _)| t.applied)
        .map(|(t, id)| (id, t.report, t.at))
        .collect();
    if let Some(&(_, _, last)) = applied.last() {
        super::jobs::follow_up(tx, &follow_ups(Source::Callback, &applied), open_notify, last)?;
    }
    Ok(outcomes)
}

/// Inserts every callback whose token is new, in order: the id of each one inserted.
fn insert_callbacks(tx: &Connection, callbacks: &[CallbackRecord]) -> Result<Vec<Option<i64>>, StoreError> {
    let mut insert = tx.prepare_cached(
        "insert into callbacks (idempotency_token, body_hash, account_sid, profile_sid, status, problem,
                                content_type, fields, credential, received_at)
         values (?1, ?2, ?3, ?4, ?5, null, ?6, ?7, ?8, ?9)
         on conflict (idempotency_token) do nothing",
    )?;
    callbacks
        .iter()
        .map(|c| {
            let report = c.report.as_ref().ok();
            let id = insert_row(
                tx,
                &mut insert,
                params![
                    c.idempotency_token,
                    c.body_hash,
                    c.account_sid.as_ref().map(|a| a.as_str()),
                    report.map(|r| r.profile_sid.as_str()),
                    report.map(|r| r.status.as_wire()),
                    c.content_type,
                    json_text(&c.fields)?,
                    c.credential,
                    micros(c.received_at),
                ],
            )?;
            Ok(id)
        })
        .collect()
}

/// The batch's profiles that exist, each read once.
fn current_profiles(
    tx: &Connection,
    reports: &[&StatusReport],
) -> Result<HashMap<String, Profile>, StoreError> {
    let mut select =
        tx.prepare_cached("select rowid, status, updated_at, account_sid from profiles where sid = ?1")?;
    let mut profiles = HashMap::with_capacity(reports.len());
    let mut read = HashSet::with_capacity(reports.len());
    for sid in reports.iter().map(|r| r.profile_sid.as_str()) {
        if !read.insert(sid) {
            continue;
        }
        let row = select
            .query_row([sid], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, Option<String>>(3)?,
                ))
            })
            .optional()?;
        if let Some((rowid, status, updated_at, owner)) = row {
            let status = ProfileStatus::from_wire(&status);
            let profile = ProfileState::existing(Some(rowid), status, time(updated_at)?, owner);
            profiles.insert(sid.to_owned(), profile);
        }
    }
    Ok(profiles)
}

/// Writes the profiles the batch changed: an update of the rows that existed (by rowid, as
/// read), an insert of the others.
fn upsert_profiles(tx: &Connection, profiles: &HashMap<String, Profile>) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "insert into profiles (sid, account_sid, status, status_known, friendly_name, created_at, updated_at)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut update = tx.prepare_cached(
        "update profiles set status = ?2, status_known = ?3, updated_at = ?4,
             account_sid = coalesce(?5, account_sid), friendly_name = coalesce(?6, friendly_name)
         where rowid = ?1",
    )?;
    for (sid, p) in profiles.iter().filter(|(_, p)| p.changed) {
        match p.row {
            Some(rowid) => update.execute(params![
                rowid,
                p.status.as_wire(),
                p.status.is_known(),
                micros(p.updated_at),
                p.account_sid,
                p.friendly_name,
            ])?,
            None => insert.execute(params![
                sid,
                p.account_sid,
                p.status.as_wire(),
                p.status.is_known(),
                p.friendly_name,
                micros(p.created_at.unwrap_or(p.updated_at)),
                micros(p.updated_at),
            ])?,
        };
    }
    Ok(())
}

/// Inserts the transitions, in order: their ids.
fn insert_transitions(tx: &Connection, transitions: &[NewTransition<'_>]) -> Result<Vec<i64>, StoreError> {
    let mut insert = tx.prepare_cached(
        "insert into transitions (profile_sid, from_status, to_status, at, source, failure_reason, applied, callback_id)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    transitions
        .iter()
        .map(|t| {
            let id = insert_row(
                tx,
                &mut insert,
                params![
                    t.report.profile_sid.as_str(),
                    t.from.as_ref().map(ProfileStatus::as_wire),
                    t.report.status.as_wire(),
                    micros(t.at),
                    Source::Callback.as_str(),
                    t.report.failure_reason,
                    t.applied,
                    t.callback_id,
                ],
            )?
            .ok_or_else(|| StoreError::Corrupt("a transition was not inserted".to_owned()))?;
            Ok(id)
        })
        .collect()
}

#[cfg(test)]
mod tests;
