//! What the store writes into the job queue in the same transaction as the rows that cause
//! them: an applied transition's evaluation fetch or notification, a delivery's send. Each
//! payload is one struct, used here to enqueue and by `crate::jobs` to run.

use super::job::NewJob;
use crate::domain::{ProfileStatus, StatusReport};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Fetch and store Trust Hub's evaluation of a rejected profile (`jobs::fetch_evaluation`).
pub const FETCH_EVALUATION: &str = "fetch_evaluation";
/// Decide who hears of transitions: create their deliveries (`jobs::notify`).
pub const NOTIFY: &str = "notify";
/// Send one delivery, a webhook or an email (`jobs::deliver`).
pub const DELIVER: &str = "deliver";

/// The payload of the `deliver` job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverPayload {
    pub delivery_id: i64,
}

/// The `deliver` job of a delivery; `round` tells replays apart.
pub fn deliver_job(delivery_id: i64, round: i64, now: DateTime<Utc>) -> NewJob {
    NewJob {
        kind: DELIVER,
        payload: to_value(&DeliverPayload { delivery_id }),
        dedupe_key: Some(format!("{DELIVER}:{delivery_id}:{round}")),
        run_at: now,
    }
}

/// The payload of the `notify` job: the transitions to tell of. A group commit names many
/// (`transition_ids`, extended while no worker has taken the job); a transition whose
/// evaluation was fetched first names itself, with why its evaluation is missing when it is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NotifyPayload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_ids: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_error: Option<String>,
}

impl NotifyPayload {
    /// Every transition it names.
    pub fn ids(&self) -> Vec<i64> {
        self.transition_id
            .into_iter()
            .chain(self.transition_ids.iter().flatten().copied())
            .collect()
    }
}

fn to_value(payload: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(payload).expect("plain structs serialize")
}

/// The `notify` job of a transition, with why its evaluation is missing when it is.
pub fn notify_job(transition_id: i64, evaluation_error: Option<&str>, now: DateTime<Utc>) -> NewJob {
    let payload = NotifyPayload {
        transition_id: Some(transition_id),
        transition_ids: None,
        evaluation_error: evaluation_error.map(str::to_owned),
    };
    NewJob {
        kind: NOTIFY,
        payload: to_value(&payload),
        dedupe_key: Some(format!("{NOTIFY}:{transition_id}")),
        run_at: now,
    }
}

/// The `notify` job of a batch of transitions.
fn notify_batch_job(ids: Vec<i64>, first: i64, last: i64, at: DateTime<Utc>) -> NewJob {
    let payload = NotifyPayload {
        transition_ids: Some(ids),
        ..NotifyPayload::default()
    };
    NewJob {
        kind: NOTIFY,
        payload: to_value(&payload),
        dedupe_key: Some(format!("{NOTIFY}:{first}..{last}")),
        run_at: at,
    }
}

/// The `fetch_evaluation` job of a rejection.
pub fn fetch_evaluation_job(target: &TransitionJob, run_at: DateTime<Utc>, dedupe_key: String) -> NewJob {
    NewJob {
        kind: FETCH_EVALUATION,
        payload: to_value(target),
        dedupe_key: Some(dedupe_key),
        run_at,
    }
}

/// The payload of a job about one transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionJob {
    pub transition_id: i64,
    pub profile_sid: String,
    pub account_sid: Option<String>,
    pub to: String,
}

/// The jobs an applied transition causes, enqueued in its transaction: a rejection first
/// fetches its evaluation (whose job then notifies), anything else notifies at once.
pub fn jobs_for_transition(transition_id: i64, report: &StatusReport, now: DateTime<Utc>) -> Vec<NewJob> {
    let payload = TransitionJob {
        transition_id,
        profile_sid: report.profile_sid.to_string(),
        account_sid: report.account_sid.as_ref().map(ToString::to_string),
        to: report.status.to_string(),
    };
    match report.status {
        ProfileStatus::TwilioRejected => vec![fetch_evaluation_job(
            &payload,
            now,
            format!("{FETCH_EVALUATION}:{transition_id}"),
        )],
        _ => vec![notify_job(transition_id, None, now)],
    }
}

/// The jobs of the transitions one transaction applies, `(id, report, at)` in order: an
/// evaluation fetch for each rejection, and one `notify` job for all the others, so that a
/// group commit of many callbacks queues one job rather than one per callback (each job is
/// written, claimed and settled: on the single SQLite writer that cost as much as the
/// callbacks themselves). A lone transition gets the job `jobs_for_transition` gives it.
pub fn jobs_for_transitions(applied: &[(i64, &StatusReport, DateTime<Utc>)]) -> Vec<NewJob> {
    let (rejected, others): (Vec<_>, Vec<_>) = applied
        .iter()
        .partition(|(_, report, _)| report.status == ProfileStatus::TwilioRejected);
    let mut jobs: Vec<NewJob> = rejected
        .iter()
        .flat_map(|(id, report, at)| jobs_for_transition(*id, report, *at))
        .collect();
    match others.as_slice() {
        [] => {}
        [(id, report, at)] => jobs.extend(jobs_for_transition(*id, report, *at)),
        [(first, ..), .., (last, _, at)] => {
            let ids: Vec<i64> = others.iter().map(|(id, ..)| *id).collect();
            jobs.push(notify_batch_job(ids, *first, *last, *at));
        }
    }
    jobs
}

/// Whether `job` is a batch's `notify` job, which later batches may extend (`extend_batch`)
/// while no worker has taken it.
pub fn is_batch_notify(job: &NewJob) -> bool {
    job.kind == NOTIFY && job.payload.get("transition_ids").is_some()
}

/// A batch `notify` job's payload with `ids` added, or `None` when it names no batch or has no
/// room left. (PostgreSQL's lanes do the same inside their insert statement, `jsonb_set`.)
pub fn extend_batch(payload: serde_json::Value, ids: &[i64]) -> Option<serde_json::Value> {
    let mut payload: NotifyPayload = serde_json::from_value(payload).ok()?;
    let named = payload.transition_ids.as_mut()?;
    if named.len() + ids.len() > MAX_NOTIFY_TRANSITIONS {
        return None;
    }
    named.extend_from_slice(ids);
    Some(to_value(&payload))
}

/// The most transitions a group commit adds to a `notify` job queued before (`open_notify`).
pub const MAX_NOTIFY_TRANSITIONS: usize = 1000;

/// The notify job among a transaction's jobs, and the transitions it names.
pub fn notify_in(jobs: &[NewJob]) -> Option<(usize, Vec<i64>)> {
    let (index, job) = jobs.iter().enumerate().find(|(_, job)| job.kind == NOTIFY)?;
    let payload: NotifyPayload = serde_json::from_value(job.payload.clone()).ok()?;
    Some((index, payload.ids()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_causes_an_evaluation_fetch() {
        let report = |status: &str| StatusReport {
            account_sid: None,
            profile_sid: crate::domain::ProfileSid::parse(&format!("BU{}", "a".repeat(32))).unwrap(),
            status: ProfileStatus::from_wire(status),
            failure_reason: None,
            friendly_name: None,
        };
        let jobs = jobs_for_transition(7, &report("twilio-rejected"), Utc::now());
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].kind, FETCH_EVALUATION);
        assert_eq!(jobs[0].dedupe_key.as_deref(), Some("fetch_evaluation:7"));
        assert_eq!(jobs[0].payload["transition_id"], 7);
        let approved = jobs_for_transition(8, &report("twilio-approved"), Utc::now());
        assert_eq!((approved.len(), approved[0].kind), (1, NOTIFY));
        assert_eq!(approved[0].dedupe_key.as_deref(), Some("notify:8"));
    }

    #[test]
    fn a_batch_of_transitions_notifies_once() {
        let report = |status: &str| StatusReport {
            account_sid: None,
            profile_sid: crate::domain::ProfileSid::parse(&format!("BU{}", "a".repeat(32))).unwrap(),
            status: ProfileStatus::from_wire(status),
            failure_reason: None,
            friendly_name: None,
        };
        let (pending, rejected, approved) = (
            report("pending-review"),
            report("twilio-rejected"),
            report("twilio-approved"),
        );
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        let jobs =
            jobs_for_transitions(&[(3, &pending, at(1)), (4, &rejected, at(2)), (6, &approved, at(3))]);
        let described: Vec<_> = jobs
            .iter()
            .map(|j| {
                (
                    j.kind,
                    j.dedupe_key.as_deref().unwrap(),
                    j.payload.clone(),
                    j.run_at,
                )
            })
            .collect();
        assert_eq!(
            described,
            [
                (
                    FETCH_EVALUATION,
                    "fetch_evaluation:4",
                    jobs_for_transition(4, &rejected, at(2))[0].payload.clone(),
                    at(2)
                ),
                (
                    NOTIFY,
                    "notify:3..6",
                    serde_json::json!({ "transition_ids": [3, 6] }),
                    at(3)
                ),
            ]
        );
        // One transition: the job it would have had alone.
        let alone = jobs_for_transitions(&[(9, &approved, at(5))]);
        assert_eq!(alone, jobs_for_transition(9, &approved, at(5)));
        assert!(jobs_for_transitions(&[]).is_empty());
    }

    #[test]
    fn a_batch_notify_grows_until_full_and_a_lone_one_never() {
        let at = DateTime::from_timestamp(1, 0).unwrap();
        let batch = notify_batch_job(vec![1, 2], 1, 2, at);
        assert!(is_batch_notify(&batch));
        let grown = extend_batch(batch.payload.clone(), &[5]).unwrap();
        assert_eq!(grown, serde_json::json!({ "transition_ids": [1, 2, 5] }));
        let room = MAX_NOTIFY_TRANSITIONS - 2;
        assert!(extend_batch(batch.payload.clone(), &vec![9; room]).is_some());
        assert_eq!(
            extend_batch(batch.payload, &vec![9; room + 1]),
            None,
            "over the cap"
        );
        let lone = notify_job(3, None, at);
        assert!(!is_batch_notify(&lone));
        assert_eq!(extend_batch(lone.payload, &[4]), None);
    }
}
