//! A batch's first statement: its callbacks in, its profiles created or locked.
//!
//! Replicas share the database, so batches touch the same profiles at once. Every lock is
//! taken in one order: (1) callbacks are inserted sorted by token (a redelivery racing its
//! first copy waits for it), (2) missing profiles are created sorted by SID (racing creators
//! wait for the first), (3) the batch's other profiles are locked sorted by SID. A transaction
//! then only waits for one at the same step or a later one, and within a step for a larger key
//! than it holds (a profile that another is creating is waited for at (2), where this one tries
//! to create it too, so (3) only meets committed rows), so no cycle, no deadlock, can form.
//!
//! The three steps are one statement, since a round trip costs more than most rows (four more
//! per batch took a fifth off bench/profile's throughput). Each step reads the whole of the one
//! before through an uncorrelated `array(select ...)`, which PostgreSQL evaluates when the step
//! reads its first row, before it writes or locks any. Step (3) locks with an insert whose
//! conflict updates nothing (the status set to itself: a heap-only tuple): the conflict is
//! found through the primary key whatever plan the statement was cached with (a `select ...
//! for update` planned while the table was empty scanned all of it for every batch after), and
//! it locks and returns the row as it stands, committed after the statement's snapshot too.

use super::{Eligible, ProfileState};
use crate::domain::ProfileStatus;
use crate::store::{json_text, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::{HashMap, HashSet};

/// What `admit` did: token → id of the callbacks it inserted, the profiles it created, and the
/// other profiles of the new callbacks, locked, with their current statuses.
#[derive(Default)]
pub(super) struct Admitted {
    pub ids: HashMap<String, i64>,
    pub created: HashSet<String>,
    pub profiles: HashMap<String, ProfileState>,
}

/// A row of `admit`'s answer: the step, its key (token or SID), a callback's id, a locked
/// profile's status, last change and account.
type AdmitRow = (
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<String>,
);

/// Steps (1) to (3) in one statement: inserts every callback whose token is new, creates each
/// missing profile as its first new callback makes it (`firsts`), locks and reads the others.
/// Callback ids are drawn in the batch's order, one per callback as one-at-a-time inserts draw
/// them, and rows inserted in token order (the lock order).
pub(super) async fn admit(tx: &mut PgConnection, batch: &[Eligible<'_>]) -> Result<Admitted, StoreError> {
    let fields = batch
        .iter()
        .map(|item| json_text(&item.callback.fields))
        .collect::<Result<Vec<String>, _>>()?;
    // The sequence named once (`pg_get_serial_sequence` per row looked it up again for each:
    // psql, 20,000 rows, 18.7 vs 14.1 us a row).
    let rows: Vec<AdmitRow> = sqlx::query_as(
        "with input as materialized (
             select nextval('callbacks_id_seq') as id, input.*
             from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::text[], $8::text[], $9::timestamptz[], $10::text[], $11::bool[], $12::text[])
                  with ordinality as input (token, body_hash, account_sid, profile_sid, status, content_type,
                                            fields, credential, received_at, report_account_sid, status_known,
                                            friendly_name, n)
         ), inserted as (
             insert into callbacks (id, idempotency_token, body_hash, account_sid, profile_sid, status, problem,
                                    content_type, fields, credential, received_at)
             select id, token, body_hash, account_sid, profile_sid, status, null, content_type, fields, credential,
                    received_at
             from input order by token, n
             on conflict (idempotency_token) do nothing returning id, idempotency_token
         ), firsts as (
             select distinct on (profile_sid) profile_sid as sid, report_account_sid as account_sid, status,
                    status_known, friendly_name, received_at as at
             from input where id = any(array(select id from inserted)) order by profile_sid, n
         ), created as (
             insert into profiles (sid, account_sid, status, status_known, friendly_name, created_at, updated_at)
             select sid, account_sid, status, status_known, friendly_name, at, at from firsts order by sid
             on conflict (sid) do nothing returning sid
         ), locked as (
             insert into profiles (sid, account_sid, status, status_known, friendly_name, created_at, updated_at)
             select sid, account_sid, status, status_known, friendly_name, at, at
             from firsts where sid <> all(array(select sid from created)) order by sid
             on conflict (sid) do update set status = profiles.status
             returning sid, status, updated_at, profiles.account_sid
         )
         select 'callback', idempotency_token, id, null::text, null::timestamptz, null::text from inserted
         union all select 'created', sid, null, null, null, null from created
         union all select 'locked', sid, null, status, updated_at, account_sid from locked",
    )
    .bind(batch.iter().map(|i| i.token).collect::<Vec<_>>())
    .bind(batch.iter().map(|i| i.callback.body_hash.as_str()).collect::<Vec<_>>())
    .bind(batch.iter().map(|i| i.callback.account_sid.as_ref().map(|a| a.as_str())).collect::<Vec<_>>())
    .bind(batch.iter().map(|i| i.sid()).collect::<Vec<_>>())
    .bind(batch.iter().map(|i| i.report.status.as_wire()).collect::<Vec<_>>())
    .bind(batch.iter().map(|i| i.callback.content_type.as_str()).collect::<Vec<_>>())
    .bind(fields)
    .bind(batch.iter().map(|i| i.callback.credential.as_str()).collect::<Vec<_>>())
    .bind(batch.iter().map(|i| i.callback.received_at).collect::<Vec<_>>())
    .bind(batch.iter().map(|i| i.report.account_sid.as_ref().map(|a| a.as_str())).collect::<Vec<_>>())
    .bind(batch.iter().map(|i| i.report.status.is_known()).collect::<Vec<_>>())
    .bind(batch.iter().map(|i| i.report.friendly_name.as_deref()).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    let mut admitted = Admitted::default();
    for (step, key, id, status, updated_at, owner) in rows {
        match (step.as_str(), id, status, updated_at) {
            ("callback", Some(id), ..) => {
                admitted.ids.insert(key, id);
            }
            ("created", ..) => {
                admitted.created.insert(key);
            }
            ("locked", _, Some(status), Some(updated_at)) => {
                admitted
                    .profiles
                    .insert(key, existing(&status, updated_at, owner));
            }
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "unexpected row from admitting a batch: {step} {key}"
                )))
            }
        }
    }
    Ok(admitted)
}

/// A profile that existed before the batch, as its row stands.
fn existing(status: &str, updated_at: DateTime<Utc>, owner: Option<String>) -> ProfileState {
    ProfileState::existing((), ProfileStatus::from_wire(status), updated_at, owner)
}
