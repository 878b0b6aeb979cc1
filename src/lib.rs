//! trusthub-hooks: verified, durable Twilio Trust Hub status callbacks.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod evaluation;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod outbox;
pub mod simulate;
pub mod store;
pub mod submit;
pub mod twilio;
pub mod ui;
