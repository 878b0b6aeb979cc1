//! The kinds of job, one file each (`crate::queue::Job`): its payload, what running it does,
//! its retry schedule. `worker` registers them all.

pub mod confirm;
pub mod deliver;
pub mod notify;
pub mod retention;
pub mod sync;

use crate::config::Config;
use crate::notify::EmailSettings;
use crate::queue::{Worker, WorkerConfig};
use crate::store::DynStore;
use crate::submit::Submitter;
use crate::twilio::{BundleApi, CredentialBook};
use std::sync::Arc;
use tokio::sync::Notify;

/// The job worker with every kind of job this configuration supports.
pub fn worker(config: &Config, store: DynStore, wake: Arc<Notify>) -> anyhow::Result<Worker> {
    let confirmer = confirm::Confirmer {
        store: store.clone(),
        bundles: BundleApi::from_config(config)?,
        credentials: CredentialBook::from_config(config),
        max_attempts: config.evaluation_max_attempts.max(1),
    };
    let email = EmailSettings::from_config(config)?.map(Arc::new);
    let fanout = notify::Fanout {
        store: store.clone(),
        email: email.clone(),
    };
    let deliverer = deliver::Deliverer::from_config(config, store.clone(), email)?;
    let sync = sync::SyncJob(Submitter::from_config(config, store.clone())?);
    let retention = retention::RetentionJob { store: store.clone() };
    Ok(Worker::new(store, WorkerConfig::from_config(config), wake)
        .register(sync)
        .register(retention)
        .register(confirmer)
        .register(fanout)
        .register(deliverer))
}
