//! End-to-end tests: the real `zendesk-crm` binary, running the real component, against the
//! Zendesk simulator over loopback, asserting on the objects and checkpoint actually stored.

/// What the S3 and GCS tests share: the default keys, bucket names, page objects.
mod buckets;
/// Starting simulators and passes, and reading back what a pass stored.
mod harness;

/// Access logs exactly once across passes, the overlap, the 90-day horizon.
mod access_logs;
/// Audit logs exactly once across passes, never re-exporting history.
mod audit_logs;
/// Bad input named clearly: no silent reset, no panic, no leaked secret.
mod bad_input;
/// `check`: every problem found in one run, nothing collected.
mod check;
/// A pass aborted at every failpoint resumes with nothing lost or twice.
mod crash;
/// The deployment recipes as shipped: systemd, Kubernetes, the container.
mod deploy;
/// The documentation's links and configuration table cannot drift.
mod docs;
/// The same component run by Node (jco) stores what our host stores.
mod embedding;
/// Many accounts in one process from a feeds file.
mod feeds;
/// What a new user meets: messages, colour, progress, completions, version.
mod first_hour;
/// Google Cloud Storage against an emulator behind an enforcing proxy.
mod gcs;
/// Nothing leaves the configured origin, whatever a response says.
mod hostile;
/// A component that loops, allocates or escapes is stopped and named.
mod misbehave;
/// Client credentials and rotating refresh tokens, renewed by the host.
mod oauth;
/// Paging within and across passes: nothing skipped, nothing twice.
mod paging;
/// HTTPS through a proxy and a private CA.
mod proxy;
/// The pass keeps to Zendesk's rate limits on its own.
mod rate_budget;
/// Record and replay, and the committed cassettes' golden output.
mod replay;
/// 429, 5xx and transport errors retried; giving up keeps the checkpoint.
mod retries;
/// S3 against moto with IAM: same bytes as local, concurrency, crashes, faults.
mod s3;
/// The deadline, the memory cap, and serve with a clean stop.
mod schedule;
/// No credential in logs, errors, summaries, metrics or cassettes.
mod secrets;
/// The rest of Zendesk's fault list, each ending complete or named.
mod zendesk_faults;
