//! The state machine as a group commit runs it: in memory, in the batch's order, against the
//! batch's view of each profile (read once at its start). One home for both backends' bulk
//! paths (`sqlite/bulk.rs`, `postgres/bulk.rs`), so that a batch decides exactly what one
//! report at a time would (`domain::decide`).

use crate::domain::{decide, Decision, ProfileStatus, StatusReport};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// A profile as the batch leaves it; `None` fields keep what the row holds.
pub(crate) struct ProfileState<R> {
    /// What the backend needs to write the row back (SQLite: the rowid of a row that existed).
    pub row: R,
    pub status: ProfileStatus,
    /// Set for a profile the batch creates.
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub account_sid: Option<String>,
    pub friendly_name: Option<String>,
    /// The account the bundle belongs to, fixed by the first report that named one.
    pub owner: Option<String>,
    /// Whether the row must be written at the end.
    pub changed: bool,
}

impl<R> ProfileState<R> {
    /// A profile that existed before the batch, as its row stands.
    pub fn existing(row: R, status: ProfileStatus, updated_at: DateTime<Utc>, owner: Option<String>) -> Self {
        Self {
            row,
            status,
            created_at: None,
            updated_at,
            account_sid: None,
            friendly_name: None,
            owner,
            changed: false,
        }
    }

    /// A profile made by its first report; `changed` when the backend has still to insert it.
    fn created(row: R, report: &StatusReport, at: DateTime<Utc>, changed: bool) -> Self {
        Self {
            row,
            status: report.status.clone(),
            created_at: Some(at),
            updated_at: at,
            account_sid: report.account_sid.as_ref().map(|a| a.as_str().to_owned()),
            friendly_name: report.friendly_name.clone(),
            owner: report.account_sid.as_ref().map(|a| a.as_str().to_owned()),
            changed,
        }
    }
}

/// A transition to insert, tied to its callback.
pub(crate) struct NewTransition<'a> {
    pub report: &'a StatusReport,
    pub from: Option<ProfileStatus>,
    pub at: DateTime<Utc>,
    pub applied: bool,
    pub callback_id: i64,
}

/// Applies one report to the batch's view of its profile, or makes the profile with the row
/// `create` gives (and whether that row is still to insert) when the batch does not know it,
/// and records the transition, unless the report changes nothing. A report naming another
/// account than the bundle's is refused (`Err`: the account it belongs to) and changes nothing.
pub(crate) fn apply<'a, R>(
    profiles: &mut HashMap<String, ProfileState<R>>,
    report: &'a StatusReport,
    at: DateTime<Utc>,
    callback_id: i64,
    transitions: &mut Vec<NewTransition<'a>>,
    create: impl FnOnce() -> (R, bool),
) -> Result<Decision, String> {
    let (from, decision) = match profiles.get_mut(report.profile_sid.as_str()) {
        Some(profile) => {
            if let Some(owner) = super::foreign_owner(profile.owner.as_deref(), report) {
                return Err(owner);
            }
            if profile.owner.is_none() {
                profile.owner = report.account_sid.as_ref().map(|a| a.as_str().to_owned());
            }
            let current = profile.status.clone();
            let decision = decide(Some(&current), &report.status);
            if decision == Decision::Advance {
                profile.status = report.status.clone();
                profile.updated_at = at;
                if let Some(account) = &report.account_sid {
                    profile.account_sid = Some(account.as_str().to_owned());
                }
                if let Some(name) = &report.friendly_name {
                    profile.friendly_name = Some(name.clone());
                }
                profile.changed = true;
            }
            (Some(current), decision)
        }
        None => {
            let (row, changed) = create();
            let profile = ProfileState::created(row, report, at, changed);
            profiles.insert(report.profile_sid.as_str().to_owned(), profile);
            (None, Decision::Advance)
        }
    };
    if decision != Decision::Unchanged {
        transitions.push(NewTransition {
            report,
            from,
            at,
            applied: decision == Decision::Advance,
            callback_id,
        });
    }
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountSid, ProfileSid};

    fn report(status: &str, account: Option<char>, name: Option<&str>) -> StatusReport {
        StatusReport {
            account_sid: account
                .map(|c| AccountSid::parse(&format!("AC{}", c.to_string().repeat(32))).unwrap()),
            profile_sid: ProfileSid::parse(&format!("BU{}", "a".repeat(32))).unwrap(),
            status: ProfileStatus::from_wire(status),
            failure_reason: None,
            friendly_name: name.map(str::to_owned),
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    /// A batch of reports for one profile the batch does not know, in order: what each
    /// decides, the transitions it records, and the profile it leaves. Written out by hand
    /// from the lifecycle (draft -> pending-review -> in-review -> a decision), not from
    /// `decide`.
    #[test]
    fn a_batch_creates_advances_keeps_late_reports_and_skips_repeats() {
        let reports = [
            report("pending-review", Some('b'), Some("Acme")),
            report("pending-review", None, None),
            report("in-review", None, None),
            report("pending-review", None, None),
            report("twilio-approved", Some('b'), None),
        ];
        let mut profiles: HashMap<String, ProfileState<u8>> = HashMap::new();
        let mut transitions = Vec::new();
        let mut created = 0;
        let decisions: Vec<Decision> = reports
            .iter()
            .enumerate()
            .map(|(n, r)| {
                apply(&mut profiles, r, at(n as i64), n as i64, &mut transitions, || {
                    created += 1;
                    (7, true)
                })
                .unwrap()
            })
            .collect();
        assert_eq!(
            decisions,
            [
                Decision::Advance,
                Decision::Unchanged,
                Decision::Advance,
                Decision::Late,
                Decision::Advance
            ]
        );
        assert_eq!(created, 1, "made once, by its first report");
        let recorded: Vec<(Option<&str>, &str, bool, i64)> = transitions
            .iter()
            .map(|t| {
                (
                    t.from.as_ref().map(ProfileStatus::as_wire),
                    t.report.status.as_wire(),
                    t.applied,
                    t.callback_id,
                )
            })
            .collect();
        assert_eq!(
            recorded,
            [
                (None, "pending-review", true, 0),
                (Some("pending-review"), "in-review", true, 2),
                (Some("in-review"), "pending-review", false, 3),
                (Some("in-review"), "twilio-approved", true, 4),
            ]
        );
        let profile = &profiles[reports[0].profile_sid.as_str()];
        assert_eq!(profile.row, 7);
        assert_eq!(profile.status, ProfileStatus::TwilioApproved);
        assert_eq!((profile.created_at, profile.updated_at), (Some(at(0)), at(4)));
        assert_eq!(
            profile.account_sid.as_deref(),
            Some(&*format!("AC{}", "b".repeat(32)))
        );
        assert_eq!(
            profile.friendly_name.as_deref(),
            Some("Acme"),
            "kept when a report has none"
        );
        assert!(profile.changed);
    }

    /// A profile the batch read from its row changes only when a report advances it, and keeps
    /// the row's account and name (`None`) unless a report brings them.
    #[test]
    fn an_existing_profile_changes_only_when_advanced() {
        let mut profiles = HashMap::new();
        let sid = report("draft", None, None).profile_sid.to_string();
        profiles.insert(
            sid.clone(),
            ProfileState::existing((), ProfileStatus::TwilioApproved, at(1), None),
        );
        let mut transitions = Vec::new();
        let never = || -> ((), bool) { panic!("the profile exists") };
        let late = report("in-review", None, None);
        assert_eq!(
            apply(&mut profiles, &late, at(2), 1, &mut transitions, never),
            Ok(Decision::Late)
        );
        let same = report("twilio-approved", None, None);
        assert_eq!(
            apply(&mut profiles, &same, at(3), 2, &mut transitions, never),
            Ok(Decision::Unchanged)
        );
        assert_eq!(transitions.len(), 1);
        assert!(!transitions[0].applied);
        let profile = &profiles[&sid];
        assert!(!profile.changed);
        assert_eq!((profile.updated_at, profile.account_sid.as_ref()), (at(1), None));
    }

    /// A bundle's account is fixed by the first report that names one: a report from another
    /// account (a callback signed by another configured account) is refused and changes
    /// nothing; one naming no account, or the same one, applies.
    #[test]
    fn a_report_from_another_account_is_refused() {
        let mut profiles = HashMap::new();
        let sid = report("draft", None, None).profile_sid.to_string();
        let owner = format!("AC{}", "a".repeat(32));
        profiles.insert(
            sid.clone(),
            ProfileState::existing((), ProfileStatus::TwilioApproved, at(1), Some(owner.clone())),
        );
        let mut transitions = Vec::new();
        let never = || -> ((), bool) { panic!("the profile exists") };
        let foreign = report("twilio-rejected", Some('b'), None);
        assert_eq!(
            apply(&mut profiles, &foreign, at(2), 1, &mut transitions, never),
            Err(owner.clone())
        );
        assert!(transitions.is_empty());
        assert!(!profiles[&sid].changed);
        let own = report("twilio-rejected", Some('a'), None);
        assert_eq!(
            apply(&mut profiles, &own, at(3), 2, &mut transitions, never),
            Ok(Decision::Advance)
        );
        // A profile first known without an account takes the first one named.
        let mut unowned = HashMap::new();
        unowned.insert(
            sid.clone(),
            ProfileState::existing((), ProfileStatus::InReview, at(1), None),
        );
        let named = report("twilio-approved", Some('c'), None);
        assert!(apply(&mut unowned, &named, at(2), 3, &mut transitions, never).is_ok());
        let other = report("twilio-rejected", Some('d'), None);
        assert_eq!(
            apply(&mut unowned, &other, at(3), 4, &mut transitions, never),
            Err(format!("AC{}", "c".repeat(32)))
        );
    }
}
