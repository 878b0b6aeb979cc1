//! Twilio SIDs, parsed once at the edge.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a string is not a SID of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {kind} SID ({prefix} followed by 32 hexadecimal digits)")]
pub struct SidError {
    kind: &'static str,
    prefix: &'static str,
    value: String,
}

fn parse(raw: &str, prefix: &'static str, kind: &'static str) -> Result<String, SidError> {
    let raw = raw.trim();
    let valid = raw.len() == 34 && raw.starts_with(prefix) && raw[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(SidError {
            kind,
            prefix,
            // Shown and stored as the callback's problem: no NUL (see `callback::printable`).
            value: raw
                .chars()
                .take(64)
                .map(|c| if c == '\0' { '\u{FFFD}' } else { c })
                .collect(),
        })
    }
}

macro_rules! sid_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, SidError> {
                parse(raw, $prefix, $kind).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = SidError;
            fn from_str(raw: &str) -> Result<Self, SidError> {
                Self::parse(raw)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

sid_type!(
    /// A customer profile (bundle) SID: `BU` and 32 hex digits.
    ProfileSid, "BU", "customer profile"
);
sid_type!(
    /// An account SID: `AC` and 32 hex digits.
    AccountSid, "AC", "account"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let sid = format!("BU{}", "0a".repeat(16));
        assert_eq!(ProfileSid::parse(&sid).unwrap().as_str(), sid);
        assert!(ProfileSid::parse(&format!("AC{}", "0".repeat(32))).is_err());
        assert!(ProfileSid::parse("BU123").is_err());
        assert!(ProfileSid::parse(&format!("BU{}", "g".repeat(32))).is_err());
        let err = AccountSid::parse("nope").unwrap_err().to_string();
        assert!(err.contains("account SID"), "{err}");
    }
}
