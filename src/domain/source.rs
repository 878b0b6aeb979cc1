//! Where a transition was learnt.

use serde::Serialize;
use utoipa::ToSchema;

/// Where a transition was learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Callback,
    Submission,
    Sync,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Callback => "callback",
            Self::Submission => "submission",
            Self::Sync => "sync",
        }
    }

    pub fn parse(raw: &str) -> Self {
        match raw {
            "submission" => Self::Submission,
            "sync" => Self::Sync,
            _ => Self::Callback,
        }
    }
}
