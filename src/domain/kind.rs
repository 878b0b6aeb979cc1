//! Which API a bundle (`BU…`) lives on: Trust Hub customer profiles, Trust Hub trust
//! products, or numbers v2 regulatory bundles. All three post the same status callback.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The kind of a bundle, which decides the API every follow-up calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BundleKind {
    CustomerProfile,
    TrustProduct,
    RegulatoryBundle,
}

impl BundleKind {
    /// Every kind, in the order an unknown bundle is probed: customer profiles are the most
    /// common, so they are asked first.
    pub const ALL: [Self; 3] = [Self::CustomerProfile, Self::TrustProduct, Self::RegulatoryBundle];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomerProfile => "customer_profile",
            Self::TrustProduct => "trust_product",
            Self::RegulatoryBundle => "regulatory_bundle",
        }
    }

    /// The kind as a sentence names it ("Trust product BU…").
    pub fn title(self) -> &'static str {
        match self {
            Self::CustomerProfile => "Customer profile",
            Self::TrustProduct => "Trust product",
            Self::RegulatoryBundle => "Regulatory bundle",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

impl std::fmt::Display for BundleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::BundleKind;

    #[test]
    fn names_round_trip() {
        for kind in BundleKind::ALL {
            assert_eq!(BundleKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(BundleKind::parse("customer-profile"), None);
    }
}
