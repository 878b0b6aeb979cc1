//! `create`: the whole secondary-customer-profile flow of the Trust Hub docs from one
//! declarative file, resumable step by step, then `submit`.

use super::spec::Spec;
use super::{SubmitError, Submitted, Submitter};
use crate::domain::{ProfileSid, Source};
use crate::twilio::Credentials;
use serde_json::{json, Map, Value};

/// One step of the flow; its `key` names the SID it records.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Policy,
    Profile,
    EndUser {
        key: String,
        kind: String,
        attributes: Value,
        name: String,
    },
    Address,
    AddressDocument,
    /// Assigns the SID recorded under `of` (or, for the primary profile, a given SID).
    Assign {
        key: String,
        of: String,
        literal: bool,
    },
    PhoneNumber(String),
    Submit,
}

impl Step {
    fn key(&self) -> String {
        match self {
            Self::Policy => "policy".into(),
            Self::Profile => "profile".into(),
            Self::EndUser { key, .. } | Self::Assign { key, .. } => key.clone(),
            Self::Address => "address".into(),
            Self::AddressDocument => "address_document".into(),
            Self::PhoneNumber(sid) => format!("phone:{sid}"),
            Self::Submit => "submitted".into(),
        }
    }

    fn label(&self, spec: &Spec) -> String {
        match self {
            Self::Policy => format!("find the policy {}", spec.policy()),
            Self::Profile => "create the customer profile (with StatusCallback)".into(),
            Self::EndUser { kind, .. } => format!("create the end user {kind}"),
            Self::Address => "create the address".into(),
            Self::AddressDocument => "create the customer_profile_address supporting document".into(),
            Self::Assign {
                of, literal: true, ..
            } => format!("assign the primary customer profile {of}"),
            Self::Assign { of, .. } => format!("assign the {of}"),
            Self::PhoneNumber(sid) => format!("assign the phone number {sid}"),
            Self::Submit => "evaluate and submit for review".into(),
        }
    }
}

fn steps(spec: &Spec) -> Vec<Step> {
    let mut steps = vec![
        Step::Policy,
        Step::Profile,
        Step::EndUser {
            key: "business_information".into(),
            kind: "customer_profile_business_information".into(),
            attributes: spec.business_attributes(),
            name: format!("{} business information", spec.business.name),
        },
        Step::Assign {
            key: "assign:business_information".into(),
            of: "business_information".into(),
            literal: false,
        },
    ];
    for (i, representative) in spec.representatives.iter().enumerate() {
        let kind = format!("authorized_representative_{}", i + 1);
        steps.push(Step::EndUser {
            key: kind.clone(),
            kind: kind.clone(),
            attributes: Spec::representative_attributes(representative),
            name: format!("{} {}", representative.first_name, representative.last_name),
        });
        steps.push(Step::Assign {
            key: format!("assign:{kind}"),
            of: kind,
            literal: false,
        });
    }
    steps.push(Step::Address);
    steps.push(Step::AddressDocument);
    steps.push(Step::Assign {
        key: "assign:address_document".into(),
        of: "address_document".into(),
        literal: false,
    });
    steps.push(Step::Assign {
        key: "assign:primary_profile".into(),
        of: spec.primary_profile_sid.clone(),
        literal: true,
    });
    steps.extend(spec.phone_numbers.iter().cloned().map(Step::PhoneNumber));
    steps.push(Step::Submit);
    steps
}

/// Reports each step as it goes.
pub trait Progress {
    fn step(&mut self, index: usize, total: usize, label: &str);
    fn done(&mut self, detail: &str);
    fn failed(&mut self, error: &str);
}

/// How `create` ended.
#[derive(Debug)]
pub enum Created {
    Submitted {
        profile_sid: String,
        forced: bool,
    },
    /// An earlier run created and submitted it; nothing was sent now.
    AlreadyDone {
        profile_sid: String,
    },
    /// The profile exists but its evaluation is noncompliant: fix it and run again.
    Refused {
        profile_sid: String,
        submitted: Submitted,
    },
}

/// Under this key a run records when it asked Twilio to create the bundle.
const PROFILE_ATTEMPT: &str = "profile_attempted_at";
/// How far Twilio's clock (`date_created`) may be behind ours.
const CLOCK_SKEW_SECS: i64 = 120;

struct Run<'a> {
    submitter: &'a Submitter,
    spec: &'a Spec,
    creds: Credentials,
    account: String,
    state: Map<String, Value>,
    /// What Twilio has assigned to the bundle, once asked (`assigned`).
    assignments: Option<Vec<(String, String)>>,
}

impl Run<'_> {
    fn sid(&self, key: &str) -> Result<String, SubmitError> {
        self.state
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| SubmitError::Setup(format!("step {key:?} has no recorded SID")))
    }

    /// Runs one step; returns the SID (or note) it recorded.
    async fn run(&mut self, step: &Step) -> Result<Value, SubmitError> {
        let th = &self.submitter.trusthub;
        let spec = self.spec;
        Ok(match step {
            Step::Policy => {
                th.fetch_policy(&self.creds, spec.policy()).await?;
                json!(spec.policy())
            }
            Step::Profile => json!(self.profile().await?),
            Step::EndUser {
                kind,
                attributes,
                name,
                ..
            } => {
                json!(th.create_end_user(&self.creds, name, kind, attributes).await?.sid)
            }
            Step::Address => {
                // An address the account has already: nothing to create.
                let Some(a) = &spec.address else {
                    return Ok(json!(spec.address_sid.clone().unwrap_or_default()));
                };
                let mut form = vec![
                    ("CustomerName", a.customer_name.as_str()),
                    ("Street", a.street.as_str()),
                    ("City", a.city.as_str()),
                    ("Region", a.region.as_str()),
                    ("PostalCode", a.postal_code.as_str()),
                    ("IsoCountry", a.iso_country.as_str()),
                    ("FriendlyName", spec.business.name.as_str()),
                ];
                if let Some(secondary) = &a.street_secondary {
                    form.push(("StreetSecondary", secondary.as_str()));
                }
                json!(
                    self.submitter
                        .api
                        .create_address(&self.creds, &self.account, &form)
                        .await?
                        .sid
                )
            }
            Step::AddressDocument => {
                let address = self.sid("address")?;
                let name = format!("{} address", spec.business.name);
                let attributes = json!({ "address_sids": address });
                json!(
                    th.create_supporting_document(
                        &self.creds,
                        &name,
                        "customer_profile_address",
                        &attributes
                    )
                    .await?
                    .sid
                )
            }
            Step::Assign { of, literal, .. } => {
                let object = if *literal { of.clone() } else { self.sid(of)? };
                let profile = self.sid("profile")?;
                match self.assigned(&profile, &object).await? {
                    Some(existing) => json!(existing),
                    None => json!(th.assign_entity(&self.creds, &profile, &object).await?.sid),
                }
            }
            Step::PhoneNumber(number) => {
                let profile = self.sid("profile")?;
                match self.assigned(&profile, number).await? {
                    Some(existing) => json!(existing),
                    None => json!(th.assign_phone_number(&self.creds, &profile, number).await?.sid),
                }
            }
            Step::Submit => unreachable!("submitted by the caller"),
        })
    }

    /// The assignment of `object` to `profile` Twilio already has (an earlier run's POST that
    /// was processed but whose answer was lost), asked for once per run.
    async fn assigned(&mut self, profile: &str, object: &str) -> Result<Option<String>, SubmitError> {
        if self.assignments.is_none() {
            let listed = self.submitter.trusthub.assignments(&self.creds, profile).await?;
            self.assignments = Some(listed);
        }
        Ok(self
            .assignments
            .iter()
            .flatten()
            .find(|(assigned, _)| assigned == object)
            .map(|(_, assignment)| assignment.clone()))
    }

    /// Creates the bundle, or adopts the one this key's own earlier creation made when its
    /// answer was lost: only when that attempt was recorded, and only a draft with the same
    /// name, email and policy created after it (so that an unrelated draft of the same name,
    /// made by another key or in the console, is never filled).
    async fn profile(&mut self) -> Result<String, SubmitError> {
        let th = &self.submitter.trusthub;
        let spec = self.spec;
        if let Some(attempted) = self.state.get(PROFILE_ATTEMPT).and_then(Value::as_i64) {
            let existing = th
                .list_customer_profiles(&self.creds, Some((&spec.business.name, spec.policy())))
                .await?;
            let since = chrono::DateTime::from_timestamp(attempted - CLOCK_SKEW_SECS, 0).unwrap_or_default();
            let created_after = |p: &crate::twilio::models::CustomerProfile| {
                p.date_created
                    .as_deref()
                    .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
                    .is_some_and(|d| d >= since)
            };
            if let Some(ours) = existing.into_iter().find(|p| {
                p.status == crate::domain::ProfileStatus::Draft
                    && p.email.as_deref() == Some(spec.notification_email.as_str())
                    && p.policy_sid.as_deref() == Some(spec.policy())
                    && created_after(p)
            }) {
                return Ok(ours.sid);
            }
        }
        // Recorded before the POST: if its answer is lost, the re-run may adopt what it made.
        self.state
            .insert(PROFILE_ATTEMPT.into(), json!(chrono::Utc::now().timestamp()));
        self.save().await?;
        let callback = self.submitter.callback(None)?;
        let form = [
            ("FriendlyName", spec.business.name.as_str()),
            ("Email", spec.notification_email.as_str()),
            ("PolicySid", spec.policy()),
            ("StatusCallback", callback.as_str()),
        ];
        let profile = th.create_customer_profile(&self.creds, &form).await?;
        // Made just now: nothing is assigned to it yet, no need to ask.
        self.assignments = Some(Vec::new());
        let kind = crate::domain::BundleKind::CustomerProfile;
        self.submitter.record(kind, &profile, Source::Submission).await?;
        Ok(profile.sid)
    }

    async fn save(&self) -> Result<(), SubmitError> {
        let state = Value::Object(self.state.clone());
        self.submitter
            .store
            .save_creation(&self.spec.key(), Some(&self.account), &state)
            .await?;
        Ok(())
    }
}

/// Runs the flow, skipping the steps a previous run completed.
pub async fn create(
    submitter: &Submitter,
    spec: &Spec,
    progress: &mut (dyn Progress + Send),
) -> Result<Created, SubmitError> {
    submitter.callback(None)?;
    let account = spec
        .account_sid
        .clone()
        .or_else(|| submitter.primary_account.clone())
        .ok_or_else(|| {
            SubmitError::Setup("no account: set account_sid in the file or TWILIO_ACCOUNT_SID".into())
        })?;
    let creds = submitter.credentials_of(Some(&account)).await?;
    let state = match submitter.store.creation(&spec.key()).await? {
        Some(Value::Object(state)) => state,
        _ => Map::new(),
    };
    // The primary profile first: Twilio reviews a secondary profile only against an approved
    // primary, so nothing is created while it is not.
    if !state.contains_key("profile") {
        check_primary(submitter, &creds, &spec.primary_profile_sid).await?;
    }
    let mut run = Run {
        submitter,
        spec,
        creds,
        account,
        state,
        assignments: None,
    };
    let steps = steps(spec);
    let total = steps.len();
    for (index, step) in steps.iter().enumerate() {
        progress.step(index + 1, total, &step.label(spec));
        let key = step.key();
        if let Some(done) = run.state.get(&key) {
            progress.done(&format!("done before ({})", done.as_str().unwrap_or("ok")));
            continue;
        }
        if *step == Step::Submit {
            let profile_sid = run.sid("profile")?;
            let sid = ProfileSid::parse(&profile_sid).map_err(|e| SubmitError::Setup(e.to_string()))?;
            let submitted = submitter
                .submit(&sid, false)
                .await
                .inspect_err(|e| progress.failed(&e.to_string()))?;
            return match submitted {
                Submitted::Submitted { forced, .. } => {
                    run.state.insert(key, json!(profile_sid));
                    run.save().await?;
                    progress.done(&format!("{profile_sid} is pending review"));
                    Ok(Created::Submitted { profile_sid, forced })
                }
                refused @ Submitted::Refused { .. } => {
                    progress.failed("the evaluation is noncompliant");
                    Ok(Created::Refused {
                        profile_sid,
                        submitted: refused,
                    })
                }
            };
        }
        let recorded = run
            .run(step)
            .await
            .inspect_err(|e| progress.failed(&e.to_string()))?;
        progress.done(recorded.as_str().unwrap_or("ok"));
        run.state.insert(key, recorded);
        run.save().await?;
    }
    // Every step, submission included, was done by an earlier run.
    Ok(Created::AlreadyDone {
        profile_sid: run.sid("profile")?,
    })
}

/// Refuses to go on unless the primary profile is `twilio-approved`, asked for in the creating
/// account and, failing that, in the main account (an ISV's primary profile lives in the
/// parent).
async fn check_primary(submitter: &Submitter, creds: &Credentials, primary: &str) -> Result<(), SubmitError> {
    let path = format!("/v1/CustomerProfiles/{primary}");
    let mut found = None;
    for account in [Some(creds.clone()), submitter.credentials.for_account(None)]
        .into_iter()
        .flatten()
    {
        match submitter
            .trusthub
            .get::<crate::twilio::models::CustomerProfile>(&account, &path)
            .await
        {
            Ok(profile) => {
                found = Some(profile);
                break;
            }
            Err(error) if error.status() == Some(404) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    let profile = found.ok_or_else(|| {
        SubmitError::Setup(format!(
            "primary_profile_sid: {primary} was not found in the account nor in the main account; nothing was created"
        ))
    })?;
    if profile.status != crate::domain::ProfileStatus::TwilioApproved {
        return Err(SubmitError::Setup(format!(
            "primary_profile_sid: {primary} is {}, not twilio-approved; Twilio reviews a secondary profile only \
             against an approved primary profile: wait for its approval; nothing was created",
            profile.status
        )));
    }
    Ok(())
}

/// Plain lines when not on a terminal; marks and colour on one.
pub struct Printer {
    pub terminal: bool,
}

impl Progress for Printer {
    fn step(&mut self, index: usize, total: usize, label: &str) {
        use std::io::Write as _;
        print!("[{index:>2}/{total}] {label} ... ");
        let _ = std::io::stdout().flush();
    }

    fn done(&mut self, detail: &str) {
        if self.terminal {
            println!("\x1b[32m✓\x1b[0m {detail}");
        } else {
            println!("ok: {detail}");
        }
    }

    fn failed(&mut self, error: &str) {
        if self.terminal {
            println!("\x1b[31m✗\x1b[0m {error}");
        } else {
            println!("failed: {error}");
        }
    }
}
