//! A real Cloud Storage emulator for the GCS tests: fake-gcs-server (installed by
//! `scripts/setup` into a venv under `target/`), started once per test process on 127.0.0.1
//! and a free port; and an enforcing proxy in front of it that
//!
//! - enforces `ifGenerationMatch` on every upload itself, atomically (the emulator ignores it
//!   on media uploads and checks it apart from the write on the others),
//! - plays Cloud IAM, which the emulator does not have: a grant per object-name prefix of
//!   `get`, `create` and `delete` (an overwrite needs `delete`, as in GCS; a read without
//!   `get` is a 403 whether or not the object exists),
//! - answers what a test scripts (429, 5xx, ...), and logs every request.

mod emulator;
mod proxy;

pub use emulator::*;
pub use proxy::*;
