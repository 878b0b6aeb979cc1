//! The kinds of job, one file each (`crate::queue::Job`): its payload, what running it does,
//! its retry schedule. `worker` registers them all.

pub mod compliance;
pub mod confirm;
pub mod deliver;
pub mod expiry;
pub mod notify;
pub mod retention;
pub mod sync;

use crate::config::Config;
use crate::notify::EmailSettings;
use crate::queue::{Worker, WorkerConfig};
use crate::store::DynStore;
use crate::submit::Submitter;
use crate::twilio::{BundleApi, CredentialBook, MessagingApi};
use std::sync::Arc;
use tokio::sync::Notify;

/// The job worker with every kind of job this configuration supports. `credentials` are the
/// process's (shared with the receiver, so a subaccount is learnt once).
pub fn worker(
    config: &Config,
    store: DynStore,
    wake: Arc<Notify>,
    credentials: &CredentialBook,
) -> anyhow::Result<Worker> {
    let confirmer = confirm::Confirmer {
        store: store.clone(),
        bundles: BundleApi::from_config(config)?,
        credentials: credentials.clone(),
        max_attempts: config.evaluation_max_attempts.max(1),
        expiry_alert_days: config.expiry_alert_days,
    };
    let email = EmailSettings::from_config(config)?.map(Arc::new);
    let fanout = notify::Fanout {
        store: store.clone(),
        email: email.clone(),
    };
    let deliverer = deliver::Deliverer::from_config(config, store.clone(), email.clone())?;
    let mut submitter = Submitter::from_config(config, store.clone())?;
    submitter.credentials = credentials.clone();
    let sync = sync::SyncJob(submitter);
    let retention = retention::RetentionJob { store: store.clone() };
    let compliance = compliance::ComplianceNotifier {
        store: store.clone(),
        messaging: MessagingApi::from_config(config)?,
        credentials: credentials.clone(),
        email: email.clone(),
        max_attempts: config.evaluation_max_attempts.max(1),
    };
    let expiry = expiry::ExpiryJob {
        store: store.clone(),
        email: email.clone(),
        days: config.expiry_alert_days,
    };
    Ok(Worker::new(store, WorkerConfig::from_config(config), wake)
        .register(sync)
        .register(retention)
        .register(expiry)
        .register(compliance)
        .register(confirmer)
        .register(fanout)
        .register(deliverer))
}
