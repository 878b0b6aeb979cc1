//! Profile statuses and the one function that decides what a reported status does.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A Trust Hub profile status, serialized with Twilio's wire names.
///
/// A status Twilio adds later parses as [`ProfileStatus::Unknown`]: it is stored and shown,
/// flagged, and never fails a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProfileStatus {
    Draft,
    PendingReview,
    InReview,
    /// Regulatory bundles only: approved on the documents, a final review still to come.
    ProvisionallyApproved,
    TwilioRejected,
    TwilioApproved,
    Unknown(String),
}

impl ProfileStatus {
    /// Every status Twilio documents, in lifecycle order.
    pub const KNOWN: [ProfileStatus; 6] = [
        Self::Draft,
        Self::PendingReview,
        Self::InReview,
        Self::ProvisionallyApproved,
        Self::TwilioRejected,
        Self::TwilioApproved,
    ];

    /// Parses a wire name, whatever its case and separators (`TWILIO_APPROVED`, the spelling
    /// of Twilio's other compliance APIs, is `twilio-approved`); anything not documented
    /// becomes `Unknown`, kept as it was sent.
    pub fn from_wire(raw: &str) -> Self {
        let raw = raw.trim();
        let normal: String = raw
            .chars()
            .map(|c| match c {
                '_' | ' ' => '-',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        match normal.as_str() {
            "draft" => Self::Draft,
            "pending-review" => Self::PendingReview,
            "in-review" => Self::InReview,
            "provisionally-approved" => Self::ProvisionallyApproved,
            "twilio-rejected" => Self::TwilioRejected,
            "twilio-approved" => Self::TwilioApproved,
            _ => Self::Unknown(raw.to_owned()),
        }
    }

    pub fn as_wire(&self) -> &str {
        match self {
            Self::Draft => "draft",
            Self::PendingReview => "pending-review",
            Self::InReview => "in-review",
            Self::ProvisionallyApproved => "provisionally-approved",
            Self::TwilioRejected => "twilio-rejected",
            Self::TwilioApproved => "twilio-approved",
            Self::Unknown(raw) => raw,
        }
    }

    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Unknown(_))
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::TwilioRejected | Self::TwilioApproved)
    }

    /// A reviewer's decision, final or provisional: what Twilio is asked to confirm before
    /// anyone is told of it.
    pub fn is_decision(&self) -> bool {
        self.is_terminal() || *self == Self::ProvisionallyApproved
    }

    /// Position in one review cycle; `None` for statuses we cannot place.
    fn rank(&self) -> Option<u8> {
        match self {
            Self::Draft => Some(0),
            Self::PendingReview => Some(1),
            Self::InReview => Some(2),
            Self::ProvisionallyApproved => Some(3),
            Self::TwilioRejected | Self::TwilioApproved => Some(4),
            Self::Unknown(_) => None,
        }
    }
}

impl fmt::Display for ProfileStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_wire())
    }
}

impl Serialize for ProfileStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_wire())
    }
}

impl<'de> Deserialize<'de> for ProfileStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Ok(Self::from_wire(&raw))
    }
}

/// What a newly reported status does to a profile whose current status is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The profile moves to the reported status; the transition is recorded.
    Advance,
    /// The report arrived after a later one: kept in history, the current status stays.
    Late,
    /// The profile already has this status: nothing to record.
    Unchanged,
}

/// Decides what a reported status does, given the profile's current status (`None` when the
/// profile is new to us).
///
/// Within one review cycle statuses only move forward (draft, pending-review, in-review,
/// provisionally-approved, then a final decision). After a decision, `draft` or
/// `pending-review` start a new cycle (the bundle was edited and resubmitted), a final
/// decision replaces a provisional one or the other final one (Twilio revised its review),
/// and a late `in-review` or `provisionally-approved` is kept in history only. A status we
/// cannot place is news, except after a decision, which it never overwrites.
pub fn decide(current: Option<&ProfileStatus>, reported: &ProfileStatus) -> Decision {
    use ProfileStatus::*;
    let Some(current) = current else {
        return Decision::Advance;
    };
    if current == reported {
        return Decision::Unchanged;
    }
    let (Some(from), Some(to)) = (current.rank(), reported.rank()) else {
        return if current.is_decision() && !reported.is_known() {
            Decision::Late
        } else {
            Decision::Advance
        };
    };
    if current.is_decision() {
        return match reported {
            Draft | PendingReview | TwilioRejected | TwilioApproved => Decision::Advance,
            InReview | ProvisionallyApproved | Unknown(_) => Decision::Late,
        };
    }
    if to > from {
        Decision::Advance
    } else {
        Decision::Late
    }
}

#[cfg(test)]
mod tests {
    use super::ProfileStatus::*;
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for status in ProfileStatus::KNOWN {
            assert_eq!(ProfileStatus::from_wire(status.as_wire()), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(serde_json::from_str::<ProfileStatus>(&json).unwrap(), status);
        }
        let new = ProfileStatus::from_wire("twilio-suspended");
        assert_eq!(new, Unknown("twilio-suspended".into()));
        assert!(!new.is_known());
        assert_eq!(new.as_wire(), "twilio-suspended");
    }

    /// Every ordered pair of statuses, including one Twilio may add, with the expected decision.
    #[test]
    fn decide_every_pair() {
        use Decision::{Advance as A, Late as L, Unchanged as U};
        let new = || Unknown("twilio-suspended".into());
        let statuses = [
            Draft,
            PendingReview,
            InReview,
            ProvisionallyApproved,
            TwilioRejected,
            TwilioApproved,
            new(),
        ];
        // Rows: current status; columns: reported status, in the order of `statuses`.
        let table: [[Decision; 7]; 7] = [
            /* draft           */ [U, A, A, A, A, A, A],
            /* pending-review  */ [L, U, A, A, A, A, A],
            /* in-review       */ [L, L, U, A, A, A, A],
            /* provisionally   */ [A, A, L, U, A, A, L],
            /* twilio-rejected */ [A, A, L, L, U, A, L],
            /* twilio-approved */ [A, A, L, L, A, U, L],
            /* unknown         */ [A, A, A, A, A, A, U],
        ];
        for (row, current) in statuses.iter().enumerate() {
            for (col, reported) in statuses.iter().enumerate() {
                assert_eq!(
                    decide(Some(current), reported),
                    table[row][col],
                    "current {current}, reported {reported}"
                );
            }
        }
        for reported in &statuses {
            assert_eq!(decide(None, reported), A, "first report {reported}");
        }
    }

    #[test]
    fn any_case_and_separator_reads_as_the_status() {
        for raw in [
            "TWILIO_APPROVED",
            "twilio_approved",
            " Twilio-Approved ",
            "twilio approved",
        ] {
            assert_eq!(ProfileStatus::from_wire(raw), TwilioApproved, "{raw}");
        }
        assert_eq!(
            ProfileStatus::from_wire("PROVISIONALLY_APPROVED"),
            ProvisionallyApproved
        );
        assert_eq!(
            ProfileStatus::from_wire("Twilio_Suspended"),
            Unknown("Twilio_Suspended".into()),
            "an unknown status is kept as sent"
        );
    }
}
