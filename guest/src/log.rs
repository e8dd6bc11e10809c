//! Structured diagnostics, forwarded to the host's logs through the `log` import.

use crate::bindings::zendesk::crm::log::Level;
#[cfg(target_arch = "wasm32")]
use crate::bindings::zendesk::crm::log::emit;

/// Native builds (the unit tests over a fake host) have no host to log to.
#[cfg(not(target_arch = "wasm32"))]
fn emit(_level: Level, _message: &str, _fields: &[(String, String)]) {}

/// Logs `message` with key/value `fields` at `level`.
pub fn event(level: Level, message: &str, fields: &[(&str, String)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    emit(level, message, &fields);
}

pub fn debug(message: &str, fields: &[(&str, String)]) {
    event(Level::Debug, message, fields);
}

pub fn info(message: &str, fields: &[(&str, String)]) {
    event(Level::Info, message, fields);
}

pub fn warn(message: &str, fields: &[(&str, String)]) {
    event(Level::Warn, message, fields);
}
