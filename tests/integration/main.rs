//! End-to-end tests: the real `zendesk-crm` binary, running the real component, against the
//! Zendesk simulator over loopback, asserting on the objects and checkpoint actually stored.

mod harness;

mod audit_logs;
mod bad_input;
mod embedding;
mod paging;
mod retries;
mod s3;
mod schedule;
mod secrets;
