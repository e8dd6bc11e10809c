//! End-to-end tests: the real `zendesk-crm` binary, running the real component, against the
//! Zendesk simulator over loopback, asserting on the objects and checkpoint actually stored.

mod harness;

mod access_logs;
mod audit_logs;
mod bad_input;
mod crash;
mod deploy;
mod docs;
mod embedding;
mod feeds;
mod first_hour;
mod hostile;
mod misbehave;
mod oauth;
mod paging;
mod proxy;
mod rate_budget;
mod replay;
mod retries;
mod s3;
mod schedule;
mod secrets;
mod zendesk_faults;
