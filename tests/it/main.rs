//! The integration tests, in one binary (one link instead of one per file): a module per
//! area, and `support` for what they share (the service on port 0 against a test database,
//! the real binary as a process, a fake Trust Hub, a webhook receiver, an SMTP server, a
//! cuttable TCP proxy).
//!
//! PostgreSQL variants (`::postgres`) and the Chromium tests are `#[ignore]`d, with the
//! reason: `cargo test` runs the rest, and `cargo test -- --include-ignored` runs all of them
//! (each failing, never passing, when its service is unreachable).

#[macro_use]
mod support;

mod accounts;
mod api;
mod backup;
mod cli;
mod confirm;
mod crash;
mod credentials;
mod dashboard_store;
mod demo;
mod doctor;
mod email;
mod evaluations;
mod events;
mod events_setup;
mod expiry;
mod faults;
mod hostile;
mod kinds;
mod leases;
mod notify;
mod postgres_tls;
mod queue;
mod receiver;
mod replicas;
mod retention;
mod shared_keys;
mod shutdown;
mod signature_props;
mod signature_vectors;
mod statuses;
mod store;
mod subaccounts;
mod submit;
mod takeover;
mod throttle;
mod trusthub_contract;
mod ui;
mod webhook_limits;
mod webhook_urls;
