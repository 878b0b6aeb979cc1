//! The declarative file of `create`: a secondary customer profile, validated before any API
//! call, with messages that name the field and the accepted values (as the Trust Hub docs
//! list them).

use serde::Deserialize;
use serde_json::{json, Value};

/// Trust Hub's Secondary Customer Profile policy ("Secondary Customer Profile of type Business").
pub const SECONDARY_PROFILE_POLICY: &str = "RNdfbf3fae0e1107f8aded0e7cead80bf5";

pub const IDENTITIES: &[&str] = &["direct_customer", "isv_reseller_or_partner", "unknown"];
pub const TYPES: &[&str] = &[
    "Sole Proprietorship",
    "Partnership",
    "Limited Liability Corporation",
    "Co-operative",
    "Non-profit Corporation",
    "Corporation",
];
pub const INDUSTRIES: &[&str] = &[
    "AGRICULTURE",
    "AUTOMOTIVE",
    "BANKING",
    "CONSUMER",
    "EDUCATION",
    "ELECTRONICS",
    "ENERGY",
    "ENGINEERING",
    "FAST_MOVING_CONSUMER_GOODS",
    "FINANCIAL",
    "FINTECH",
    "FOOD_AND_BEVERAGE",
    "GOVERNMENT",
    "HEALTHCARE",
    "HOSPITALITY",
    "INSURANCE",
    "JEWELRY",
    "LEGAL",
    "MANUFACTURING",
    "MEDIA",
    "NOT_FOR_PROFIT",
    "OIL_AND_GAS",
    "ONLINE",
    "RAW_MATERIALS",
    "REAL_ESTATE",
    "RELIGION",
    "RETAIL",
    "TECHNOLOGY",
    "TELECOMMUNICATIONS",
    "TRANSPORTATION",
    "TRAVEL",
];
pub const REGISTRATION_IDS: &[&str] = &[
    "EIN", "DUNS", "CCN", "CBN", "CN", "ACN", "CIN", "VAT", "VATRN", "RN", "Other",
];
pub const REGIONS: &[&str] = &[
    "AFRICA",
    "ASIA",
    "AUSTRALIA",
    "EUROPE",
    "LATIN_AMERICA",
    "USA_AND_CANADA",
];
pub const JOB_POSITIONS: &[&str] = &["Director", "GM", "VP", "CEO", "CFO", "General Counsel", "Other"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Identifies this creation, so that a re-run resumes it (default: the business name).
    pub key: Option<String>,
    /// The account to create in (default: `TWILIO_ACCOUNT_SID`).
    pub account_sid: Option<String>,
    /// Default: the Secondary Customer Profile policy.
    pub policy_sid: Option<String>,
    /// The approved primary customer profile to attach.
    pub primary_profile_sid: String,
    /// Where Trust Hub emails status updates.
    pub notification_email: String,
    #[serde(default)]
    pub phone_numbers: Vec<String>,
    pub business: Business,
    /// One or two authorized representatives.
    pub representatives: Vec<Representative>,
    /// The business's address, created by `create`; or, instead, `address_sid`.
    pub address: Option<Address>,
    /// An address (`AD…`) the account already has: the address step is skipped.
    pub address_sid: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Business {
    pub name: String,
    pub identity: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub industry: String,
    pub registration_identifier: String,
    /// Required when `registration_identifier` is `Other`.
    pub other_registration_identifier: Option<String>,
    pub registration_number: String,
    pub regions_of_operation: Vec<String>,
    pub website_url: String,
    #[serde(default)]
    pub social_media_profile_urls: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Representative {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// E.164, e.g. +15551234567.
    pub phone_number: String,
    pub business_title: String,
    pub job_position: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub customer_name: String,
    pub street: String,
    pub street_secondary: Option<String>,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, e.g. US.
    pub iso_country: String,
}

fn one_of(errors: &mut Vec<String>, field: &str, value: &str, accepted: &[&str]) {
    if !accepted.contains(&value) {
        errors.push(format!(
            "{field}: {value:?} is not accepted; use one of: {}",
            accepted.join(", ")
        ));
    }
}

fn required(errors: &mut Vec<String>, field: &str, value: &str) {
    if value.trim().is_empty() {
        errors.push(format!("{field}: required"));
    }
}

fn sid(errors: &mut Vec<String>, field: &str, value: &str, prefix: &str) {
    let valid =
        value.len() == 34 && value.starts_with(prefix) && value[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        errors.push(format!(
            "{field}: {value:?} is not a SID ({prefix} followed by 32 hexadecimal digits)"
        ));
    }
}

fn email(errors: &mut Vec<String>, field: &str, value: &str) {
    if value.parse::<lettre::Address>().is_err() {
        errors.push(format!("{field}: {value:?} is not an email address"));
    }
}

fn web_url(errors: &mut Vec<String>, field: &str, value: &str) {
    let ok =
        url::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !ok {
        errors.push(format!("{field}: {value:?} is not an http(s) URL"));
    }
}

/// A post office box, in the spellings people use ("PO Box", "P.O. Box", "Post Office Box").
pub fn is_po_box(street: &str) -> bool {
    let squashed: String = street
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
        .collect();
    let words: Vec<&str> = squashed.split_whitespace().collect();
    words
        .windows(2)
        .any(|w| (w[0] == "po" || w[0] == "pob") && w[1] == "box")
        || words
            .windows(3)
            .any(|w| w == ["post", "office", "box"] || (w[0] == "p" && w[1] == "o" && w[2] == "box"))
        || words.first() == Some(&"pobox")
}

impl Spec {
    pub fn parse(text: &str) -> Result<Self, Vec<String>> {
        let spec: Self = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        spec.validate()?;
        Ok(spec)
    }

    pub fn key(&self) -> String {
        self.key.clone().unwrap_or_else(|| self.business.name.clone())
    }

    pub fn policy(&self) -> &str {
        self.policy_sid.as_deref().unwrap_or(SECONDARY_PROFILE_POLICY)
    }

    /// Every problem at once, each naming its field.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut e = Vec::new();
        let b = &self.business;
        if let Some(account) = &self.account_sid {
            sid(&mut e, "account_sid", account, "AC");
        }
        if let Some(policy) = &self.policy_sid {
            sid(&mut e, "policy_sid", policy, "RN");
        }
        sid(&mut e, "primary_profile_sid", &self.primary_profile_sid, "BU");
        email(&mut e, "notification_email", &self.notification_email);
        for (i, number) in self.phone_numbers.iter().enumerate() {
            sid(&mut e, &format!("phone_numbers[{i}]"), number, "PN");
        }
        required(&mut e, "business.name", &b.name);
        one_of(&mut e, "business.identity", &b.identity, IDENTITIES);
        one_of(&mut e, "business.type", &b.kind, TYPES);
        one_of(&mut e, "business.industry", &b.industry, INDUSTRIES);
        one_of(
            &mut e,
            "business.registration_identifier",
            &b.registration_identifier,
            REGISTRATION_IDS,
        );
        if b.registration_identifier == "Other"
            && b.other_registration_identifier
                .as_deref()
                .is_none_or(|o| o.trim().is_empty())
        {
            e.push(
                "business.other_registration_identifier: required when registration_identifier is \"Other\""
                    .into(),
            );
        }
        required(&mut e, "business.registration_number", &b.registration_number);
        if b.regions_of_operation.is_empty() {
            e.push(format!(
                "business.regions_of_operation: at least one of: {}",
                REGIONS.join(", ")
            ));
        }
        for (i, region) in b.regions_of_operation.iter().enumerate() {
            one_of(
                &mut e,
                &format!("business.regions_of_operation[{i}]"),
                region,
                REGIONS,
            );
        }
        web_url(&mut e, "business.website_url", &b.website_url);
        for (i, url) in b.social_media_profile_urls.iter().enumerate() {
            web_url(&mut e, &format!("business.social_media_profile_urls[{i}]"), url);
        }
        if !(1..=2).contains(&self.representatives.len()) {
            e.push(format!(
                "representatives: one or two are required, {} given",
                self.representatives.len()
            ));
        }
        for (i, r) in self.representatives.iter().enumerate() {
            let field = |name: &str| format!("representatives[{i}].{name}");
            required(&mut e, &field("first_name"), &r.first_name);
            required(&mut e, &field("last_name"), &r.last_name);
            required(&mut e, &field("business_title"), &r.business_title);
            email(&mut e, &field("email"), &r.email);
            let digits = r.phone_number.strip_prefix('+').unwrap_or_default();
            if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                e.push(format!(
                    "{}: {:?} is not in E.164 form (+ and 8 to 15 digits)",
                    field("phone_number"),
                    r.phone_number
                ));
            }
            one_of(&mut e, &field("job_position"), &r.job_position, JOB_POSITIONS);
        }
        match (&self.address, &self.address_sid) {
            (Some(a), None) => Self::check_address(&mut e, a),
            (None, Some(existing)) => sid(&mut e, "address_sid", existing, "AD"),
            (Some(_), Some(_)) => e.push("address, address_sid: give one, not both".into()),
            (None, None) => e.push(
                "address: required (the business's physical address), or address_sid for an address the account has"
                    .into(),
            ),
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }

    /// What Trust Hub accepts but may not serve the customer well, to print before creating.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.business.registration_identifier == "DUNS" {
            warnings.push(
                "business.registration_identifier: DUNS is accepted by Trust Hub, but registering a US business for \
                 A2P 10DLC needs its EIN: give the EIN if this customer will send SMS in the US"
                    .into(),
            );
        }
        warnings
    }

    fn check_address(e: &mut Vec<String>, a: &Address) {
        for (name, value) in [
            ("address.customer_name", &a.customer_name),
            ("address.street", &a.street),
            ("address.city", &a.city),
            ("address.region", &a.region),
            ("address.postal_code", &a.postal_code),
        ] {
            required(e, name, value);
        }
        for (name, value) in [
            ("address.street", Some(&a.street)),
            ("address.street_secondary", a.street_secondary.as_ref()),
        ] {
            if value.is_some_and(|v| is_po_box(v)) {
                e.push(format!(
                    "{name}: a PO box is not accepted; give the business's physical address"
                ));
            }
        }
        if a.iso_country.len() != 2 || !a.iso_country.bytes().all(|b| b.is_ascii_uppercase()) {
            e.push(format!(
                "address.iso_country: {:?} is not an ISO 3166-1 alpha-2 code such as US",
                a.iso_country
            ));
        }
    }

    /// Attributes of the `customer_profile_business_information` end user.
    pub fn business_attributes(&self) -> Value {
        let b = &self.business;
        let mut attributes = json!({
            "business_name": b.name,
            "business_identity": b.identity,
            "business_type": b.kind,
            "business_industry": b.industry,
            "business_registration_identifier": b.registration_identifier,
            "business_registration_number": b.registration_number,
            "business_regions_of_operation": b.regions_of_operation.join(","),
            "website_url": b.website_url,
            "social_media_profile_urls": b.social_media_profile_urls.join(","),
        });
        if let Some(other) = &b.other_registration_identifier {
            attributes["other_business_registration_identifier"] = json!(other);
        }
        attributes
    }

    /// Attributes of an `authorized_representative_N` end user.
    pub fn representative_attributes(r: &Representative) -> Value {
        json!({
            "first_name": r.first_name,
            "last_name": r.last_name,
            "email": r.email,
            "phone_number": r.phone_number,
            "business_title": r.business_title,
            "job_position": r.job_position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../../examples/secondary-profile.toml");
        let spec = Spec::parse(text).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(spec.policy(), SECONDARY_PROFILE_POLICY);
        assert_eq!(
            spec.business_attributes()["business_regions_of_operation"],
            "USA_AND_CANADA"
        );
    }

    #[test]
    fn every_problem_is_named_with_accepted_values() {
        let text = include_str!("../../examples/secondary-profile.toml")
            .replace("\"TECHNOLOGY\"", "\"Tech\"")
            .replace("\"CEO\"", "\"Boss\"")
            .replace("\"+15551234567\"", "\"555-1234\"")
            .replace("\"123 Main Street\"", "\"P.O. Box 42\"");
        let errors = Spec::parse(&text).unwrap_err();
        let all = errors.join("\n");
        assert!(
            all.contains("business.industry: \"Tech\" is not accepted; use one of: AGRICULTURE"),
            "{all}"
        );
        assert!(all.contains("representatives[0].job_position: \"Boss\""), "{all}");
        assert!(all.contains("General Counsel"), "{all}");
        assert!(all.contains("representatives[0].phone_number"), "{all}");
        assert!(all.contains("address.street: a PO box is not accepted"), "{all}");
        assert_eq!(errors.len(), 4, "{all}");
    }

    #[test]
    fn po_boxes() {
        for street in [
            "PO Box 12",
            "P.O. Box 12",
            "p o box 12",
            "Post Office Box 9",
            "POBox 3",
            "pob box 1",
        ] {
            assert!(is_po_box(street), "{street}");
        }
        for street in ["123 Box Elder Road", "1 Poplar Street", "Boxwood Lane 4"] {
            assert!(!is_po_box(street), "{street}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = format!(
            "{}\nsurprise = 1\n",
            include_str!("../../examples/secondary-profile.toml")
        );
        let errors = Spec::parse(&text).unwrap_err();
        assert!(errors[0].contains("surprise"), "{errors:?}");
    }
}
