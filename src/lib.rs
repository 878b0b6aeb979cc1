//! trusthub-hooks: verified, durable Twilio Trust Hub status callbacks.
#![forbid(unsafe_code)]

//!
//! Layers, each importing only those above it in this list (`.ci/layers` checks it):
//! `domain` and `metrics`; `config`; `twilio` and `store`; `queue`; `notify` and `submit`;
//! `jobs`; `state`; `http` and `ui`; `app`; `simulate` and `cli`. ARCHITECTURE.md tells more.

pub mod domain;
pub mod metrics;

pub mod config;

pub mod store;
pub mod twilio;

pub mod queue;

pub mod notify;
pub mod submit;

pub mod jobs;

pub mod state;

pub mod http;
pub mod ui;

pub mod app;

pub mod cli;
pub mod simulate;
