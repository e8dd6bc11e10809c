//! The `zendesk-crm` host: runs the collector component with the capabilities it must not own
//! (credentials, network policy, storage, clocks) and reports what the pass did.

pub mod bindings;
pub mod cassette;
pub mod check;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod content_decoding;
pub mod control;
pub mod credentials;
pub mod egress;
pub mod error;
pub mod exit;
pub mod failpoint;
pub mod feeds;
pub mod help;
pub mod imports;
pub mod logging;
pub mod metrics;
pub mod oauth;
pub mod oauth_login;
pub mod pass;
pub mod runtime;
pub mod schedule;
pub mod sender;
pub mod signals;
pub mod stats;
pub mod storage;
pub mod summary;
