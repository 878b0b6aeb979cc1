//! A group commit's batch in a handful of statements, whatever its size: rows travel as
//! arrays (`unnest`), and the state machine runs here, in order, against the batch's profiles
//! read and locked at once. Takes callbacks that carry Twilio's idempotency token and a usable
//! report (what Twilio sends); `batch.rs` stores any other one by one. What a batch takes
//! hold of first, in which order, is `admit`'s.

mod admit;

use crate::domain::{ProfileStatus, Source, StatusReport};
use crate::store::batch_state::{self, apply, NewTransition};
use crate::store::outbox::follow_ups;
use crate::store::{CallbackRecord, Recorded, StoreError};
use admit::Admitted;
use sqlx::PgConnection;
use std::collections::{HashMap, HashSet};

/// A callback this path takes: it carries Twilio's token and a usable report.
pub struct Eligible<'a> {
    callback: &'a CallbackRecord,
    token: &'a str,
    report: &'a StatusReport,
}

impl<'a> Eligible<'a> {
    pub fn new(callback: &'a CallbackRecord) -> Option<Self> {
        Some(Self {
            callback,
            token: callback.idempotency_token.as_deref()?,
            report: callback.report.as_ref().ok()?,
        })
    }

    fn sid(&self) -> &'a str {
        self.report.profile_sid.as_str()
    }
}

/// A profile as the batch leaves it (its row is written by `admit` or at the end).
type ProfileState = batch_state::ProfileState<()>;

/// Stores the batch inside the caller's transaction; one outcome per callback, in order.
/// `open_notify` is the `notify` job this lane queued last: while no worker has taken it, a
/// batch's pending notifications wait for it rather than queueing another.
pub async fn record(
    tx: &mut PgConnection,
    batch: &[Eligible<'_>],
    open_notify: &mut Option<i64>,
) -> Result<Vec<Recorded>, StoreError> {
    let Admitted {
        ids,
        created,
        mut profiles,
    } = admit::admit(tx, batch).await?;
    // A token seen twice in one batch: its first copy was stored, the others are redeliveries.
    let mut claimed = HashSet::new();
    let fresh: Vec<Option<i64>> = batch
        .iter()
        .map(|item| {
            ids.get(item.token)
                .copied()
                .filter(|_| claimed.insert(item.token))
        })
        .collect();
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut transitions = Vec::new();
    for (item, id) in batch.iter().zip(fresh) {
        let Some(callback_id) = id else {
            outcomes.push(Recorded::Duplicate);
            continue;
        };
        let at = item.callback.received_at;
        // A profile the batch does not hold is one `admit` created; none other may be missing.
        if !profiles.contains_key(item.sid()) && !created.contains(item.sid()) {
            return Err(StoreError::Corrupt(format!("profile {} vanished", item.sid())));
        }
        let applied = apply(
            &mut profiles,
            item.report,
            at,
            callback_id,
            &mut transitions,
            || ((), false),
        );
        outcomes.push(match applied {
            Ok(decision) => Recorded::Stored {
                callback_id,
                decision: Some(decision),
            },
            Err(owner) => Recorded::Foreign { callback_id, owner },
        });
    }
    let transition_ids = write_profiles_and_transitions(tx, &profiles, &transitions).await?;
    insert_jobs(tx, &transitions, &transition_ids, open_notify).await?;
    Ok(outcomes)
}

/// Writes the profiles the batch changed and inserts its transitions, in one statement (one
/// round trip); callback id → transition id. The profiles are an upsert, though every row
/// exists (the batch holds its lock): unlike `update ... from`, it never joins, so a plan
/// cached while the table was small never turns into a scan of the whole table.
async fn write_profiles_and_transitions(
    tx: &mut PgConnection,
    profiles: &HashMap<String, ProfileState>,
    transitions: &[NewTransition<'_>],
) -> Result<HashMap<i64, i64>, StoreError> {
    let changed: Vec<(&str, &ProfileState)> = profiles
        .iter()
        .filter(|(_, p)| p.changed)
        .map(|(sid, p)| (sid.as_str(), p))
        .collect();
    if changed.is_empty() && transitions.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "with changed as (
             insert into profiles (sid, account_sid, status, status_known, friendly_name, created_at, updated_at)
             select sid, account_sid, status, status_known, friendly_name, updated_at, updated_at
             from unnest($1::text[], $2::text[], $3::bool[], $4::timestamptz[], $5::text[], $6::text[])
                  as input (sid, status, status_known, updated_at, account_sid, friendly_name)
             on conflict (sid) do update set status = excluded.status, status_known = excluded.status_known,
                 updated_at = excluded.updated_at,
                 account_sid = coalesce(excluded.account_sid, profiles.account_sid),
                 friendly_name = coalesce(excluded.friendly_name, profiles.friendly_name)
         )
         insert into transitions (profile_sid, from_status, to_status, at, source, failure_reason, applied,
                                  callback_id)
         select profile_sid, from_status, to_status, at, $11, failure_reason, applied, callback_id
         from unnest($7::text[], $8::text[], $9::text[], $10::timestamptz[], $12::text[], $13::bool[],
                     $14::int8[])
              with ordinality as input (profile_sid, from_status, to_status, at, failure_reason, applied,
                                        callback_id, n)
         order by n
         returning callback_id, id",
    )
    .bind(changed.iter().map(|(sid, _)| *sid).collect::<Vec<_>>())
    .bind(changed.iter().map(|(_, p)| p.status.as_wire()).collect::<Vec<_>>())
    .bind(changed.iter().map(|(_, p)| p.status.is_known()).collect::<Vec<_>>())
    .bind(changed.iter().map(|(_, p)| p.updated_at).collect::<Vec<_>>())
    .bind(changed.iter().map(|(_, p)| p.account_sid.as_deref()).collect::<Vec<_>>())
    .bind(changed.iter().map(|(_, p)| p.friendly_name.as_deref()).collect::<Vec<_>>())
    .bind(transitions.iter().map(|t| t.report.profile_sid.as_str()).collect::<Vec<_>>())
    .bind(transitions.iter().map(|t| t.from.as_ref().map(ProfileStatus::as_wire)).collect::<Vec<_>>())
    .bind(transitions.iter().map(|t| t.report.status.as_wire()).collect::<Vec<_>>())
    .bind(transitions.iter().map(|t| t.at).collect::<Vec<_>>())
    .bind(Source::Callback.as_str())
    .bind(transitions.iter().map(|t| t.report.failure_reason.as_deref()).collect::<Vec<_>>())
    .bind(transitions.iter().map(|t| t.applied).collect::<Vec<_>>())
    .bind(transitions.iter().map(|t| t.callback_id).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().collect())
}

/// What the applied transitions cause (`outbox::follow_ups`), written by `jobs::follow_up`.
async fn insert_jobs(
    tx: &mut PgConnection,
    transitions: &[NewTransition<'_>],
    ids: &HashMap<i64, i64>,
    open_notify: &mut Option<i64>,
) -> Result<(), StoreError> {
    let applied: Vec<_> = transitions
        .iter()
        .filter(|t| t.applied)
        .map(|t| (ids[&t.callback_id], t.report, t.at))
        .collect();
    let Some(&(_, _, last)) = applied.last() else {
        return Ok(());
    };
    super::jobs::follow_up(tx, &follow_ups(Source::Callback, &applied), open_notify, last).await
}
