//! What the store writes into the job queue in the same transaction as the rows that cause
//! them: an applied transition's confirmation or notification, a delivery's send. Each
//! payload is one struct, used here to enqueue and by `crate::jobs` to run.

use super::job::NewJob;
use crate::domain::{ProfileStatus, Source, StatusReport};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Confirm a reported decision with Trust Hub before it is announced, and for a rejection
/// fetch the evaluation that explains it (`jobs::confirm`). Jobs of the kind's earlier name,
/// `fetch_evaluation`, are renamed by the migrations.
pub const CONFIRM_DECISION: &str = "confirm_decision";
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

/// The payload of the `notify` job: the transitions to tell of. A decision confirmed first
/// names itself, with whether Trust Hub confirmed it and why its evaluation is missing when it
/// is; a job that names none drains `pending_notifications` (`drain_job`). (`transition_ids`
/// is also how jobs queued by earlier versions name a group commit's transitions.)
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NotifyPayload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_ids: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_error: Option<String>,
    /// For a decision: whether Trust Hub confirmed it (`false`: it could not be reached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<bool>,
}

impl NotifyPayload {
    /// Whether it names no transition: it drains `pending_notifications`.
    pub fn drains(&self) -> bool {
        self.ids().is_empty()
    }

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

/// The `notify` job of a confirmed (or unconfirmable) decision, with why its evaluation is
/// missing when it is.
pub fn notify_job(
    transition_id: i64,
    confirmed: bool,
    evaluation_error: Option<&str>,
    now: DateTime<Utc>,
) -> NewJob {
    let payload = NotifyPayload {
        transition_id: Some(transition_id),
        transition_ids: None,
        evaluation_error: evaluation_error.map(str::to_owned),
        confirmed: Some(confirmed),
    };
    NewJob {
        kind: NOTIFY,
        payload: to_value(&payload),
        dedupe_key: Some(format!("{NOTIFY}:{transition_id}")),
        run_at: now,
    }
}

/// The `confirm_decision` job of a decision.
pub fn confirm_job(target: &TransitionJob, run_at: DateTime<Utc>, dedupe_key: String) -> NewJob {
    NewJob {
        kind: CONFIRM_DECISION,
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
    /// Evaluate the bundle whatever its status (asked for from the dashboard); a rejection
    /// is always evaluated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub evaluate: bool,
}

/// The job an applied transition causes, enqueued in its transaction. A decision reported
/// by a callback is confirmed with Trust Hub first (a captured callback can be replayed), as
/// is any rejection (its job fetches the evaluation), and that job then notifies; anything
/// else (`None`) is notified of at once, through `pending_notifications`.
fn jobs_for_transition(
    source: Source,
    transition_id: i64,
    report: &StatusReport,
    now: DateTime<Utc>,
) -> Option<NewJob> {
    let confirm = (source == Source::Callback && report.status.is_decision())
        || report.status == ProfileStatus::TwilioRejected;
    let payload = TransitionJob {
        transition_id,
        profile_sid: report.profile_sid.to_string(),
        account_sid: report.account_sid.as_ref().map(ToString::to_string),
        to: report.status.to_string(),
        evaluate: false,
    };
    confirm.then(|| confirm_job(&payload, now, format!("{CONFIRM_DECISION}:{transition_id}")))
}

/// What the transitions one transaction applies cause, `(id, report, at)` in order.
#[derive(Debug, Default, PartialEq)]
pub struct FollowUps {
    /// A confirmation of each decision (whose job notifies once Trust Hub has answered).
    pub jobs: Vec<NewJob>,
    /// The others, to add to `pending_notifications`, which one `notify` job drains
    /// (`drain_job`): a group commit of many callbacks adds rows, not a job each (each job is
    /// written, claimed and settled: on the single SQLite writer that cost as much as the
    /// callbacks themselves).
    pub notify: Vec<i64>,
}

/// The jobs and notifications of the transitions one transaction applies, all reported by
/// `source`.
pub fn follow_ups(source: Source, applied: &[(i64, &StatusReport, DateTime<Utc>)]) -> FollowUps {
    let mut follow_ups = FollowUps::default();
    for (id, report, at) in applied {
        match jobs_for_transition(source, *id, report, *at) {
            Some(job) => follow_ups.jobs.push(job),
            None => follow_ups.notify.push(*id),
        }
    }
    follow_ups
}

/// The `notify` job that drains `pending_notifications`. A store queues one when it adds rows
/// and the one it queued last has been taken by a worker (or none is known).
pub fn drain_job(now: DateTime<Utc>) -> NewJob {
    NewJob {
        kind: NOTIFY,
        payload: to_value(&NotifyPayload::default()),
        dedupe_key: None,
        run_at: now,
    }
}

/// The most pending notifications one `notify` job takes; it queues another for the rest.
pub const NOTIFY_DRAIN_LIMIT: u32 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: &str) -> StatusReport {
        StatusReport {
            account_sid: None,
            profile_sid: crate::domain::ProfileSid::parse(&format!("BU{}", "a".repeat(32))).unwrap(),
            status: ProfileStatus::from_wire(status),
            failure_reason: None,
            friendly_name: None,
        }
    }

    #[test]
    fn a_reported_decision_is_confirmed_and_the_others_wait_to_be_notified() {
        let (pending, rejected, approved, provisional) = (
            report("pending-review"),
            report("twilio-rejected"),
            report("twilio-approved"),
            report("provisionally-approved"),
        );
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        let planned = follow_ups(
            Source::Callback,
            &[
                (3, &pending, at(1)),
                (4, &rejected, at(2)),
                (6, &approved, at(3)),
                (7, &provisional, at(4)),
            ],
        );
        assert_eq!(planned.notify, [3]);
        let targets: Vec<(i64, String)> = planned
            .jobs
            .iter()
            .map(|job| {
                assert_eq!(job.kind, CONFIRM_DECISION);
                let target: TransitionJob = serde_json::from_value(job.payload.clone()).unwrap();
                assert_eq!(
                    job.dedupe_key.as_deref(),
                    Some(format!("confirm_decision:{}", target.transition_id).as_str())
                );
                (target.transition_id, target.to)
            })
            .collect();
        assert_eq!(
            targets,
            [
                (4, "twilio-rejected".to_owned()),
                (6, "twilio-approved".to_owned()),
                (7, "provisionally-approved".to_owned())
            ]
        );
        assert_eq!(planned.jobs[0].run_at, at(2));
        // What Trust Hub itself reported needs no confirming; a rejection still needs its
        // evaluation.
        let synced = follow_ups(Source::Sync, &[(8, &approved, at(5)), (9, &rejected, at(6))]);
        assert_eq!(synced.notify, [8]);
        assert_eq!(synced.jobs.len(), 1);
        assert_eq!(follow_ups(Source::Callback, &[]), FollowUps::default());
    }

    #[test]
    fn a_notify_job_names_its_transition_or_drains() {
        let at = DateTime::from_timestamp(1, 0).unwrap();
        let drain: NotifyPayload = serde_json::from_value(drain_job(at).payload).unwrap();
        assert!(drain.drains());
        let one: NotifyPayload =
            serde_json::from_value(notify_job(7, false, Some("gone"), at).payload).unwrap();
        assert_eq!(
            (one.ids(), one.evaluation_error.as_deref(), one.confirmed),
            (vec![7], Some("gone"), Some(false))
        );
        assert!(!one.drains());
        let earlier: NotifyPayload =
            serde_json::from_value(serde_json::json!({ "transition_ids": [1, 2] })).unwrap();
        assert_eq!(earlier.ids(), [1, 2]);
    }
}
