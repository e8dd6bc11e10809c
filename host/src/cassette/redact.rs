//! Redaction: a copy of a cassette fit to attach to a bug report. Customer data in response
//! bodies (names, e-mail addresses, subjects, descriptions, comments, custom field values,
//! IP addresses) becomes `"redacted"`, while the structure, ids, times and cursors stay, so
//! the copy replays to the same keys and checkpoint (page keys depend only on ids and times).
//!
//! A redacted body is JSON written anew (same fields, keys in sorted order) and re-compressed
//! when it was gzip; its `content-length` is updated. It is therefore no longer the bytes
//! Zendesk sent: the objects a replay of it stores hold the redacted records.

use std::io::Write as _;

use serde_json::Value;

use super::{Body, Cassette, CassetteError, Outcome};
use crate::cli::RedactArgs;
use crate::exit::Exit;

/// Keys whose string values are customer data, wherever they appear in a body.
const REDACTED_KEYS: &[&str] = &[
    "actor_name",
    "address",
    "body",
    "change_description",
    "description",
    "email",
    "html_body",
    "ip_address",
    "name",
    "plain_body",
    "raw_subject",
    "recipient",
    "source_label",
    "subject",
    "tags",
    "value",
];

const PLACEHOLDER: &str = "redacted";

/// What a redaction changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Redacted {
    /// Bodies rewritten.
    pub bodies: usize,
    /// String values replaced.
    pub values: usize,
}

/// `redact-cassette`: writes a redacted copy and prints what changed.
pub fn run(args: RedactArgs) -> Exit {
    let mut cassette = match Cassette::load(&args.cassette) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot redact");
            return Exit::Config;
        }
    };
    let done = match redact(&mut cassette).and_then(|done| cassette.save(&args.out).map(|()| done))
    {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, "cannot redact");
            return Exit::Storage;
        }
    };
    println!(
        "{}",
        serde_json::json!({"out": args.out.display().to_string(), "bodies": done.bodies, "values": done.values})
    );
    Exit::Success
}

/// Redacts every JSON response body of `cassette` in place. Bodies that are not JSON (error
/// pages, truncated bodies) are emptied, since their text may be anything.
pub fn redact(cassette: &mut Cassette) -> Result<Redacted, CassetteError> {
    let mut done = Redacted::default();
    for exchange in &mut cassette.exchanges {
        let Outcome::Response(response) = &mut exchange.outcome else {
            continue;
        };
        let gzip = response
            .headers
            .iter()
            .any(|(k, v)| k == "content-encoding" && v.trim().eq_ignore_ascii_case("gzip"));
        let wire = response.body.to_bytes()?;
        let plain = if gzip { gunzip(&wire) } else { Some(wire) };
        let mut redacted = match plain
            .as_deref()
            .and_then(|p| serde_json::from_slice::<Value>(p).ok())
        {
            Some(mut json) => {
                done.values += redact_value(&mut json, false);
                serde_json::to_vec(&json)
                    .map_err(|e| CassetteError::Invalid(format!("cannot write a body: {e}")))?
            }
            None => Vec::new(),
        };
        if gzip {
            redacted = gzipped(&redacted)?;
        }
        for (name, value) in &mut response.headers {
            if name == "content-length" {
                *value = redacted.len().to_string();
            }
        }
        response.body = Body::from_bytes(&redacted);
        done.bodies += 1;
    }
    Ok(done)
}

/// Replaces customer strings under `value`; `sensitive` says the enclosing key is one of
/// [`REDACTED_KEYS`]. Returns how many strings it replaced.
fn redact_value(value: &mut Value, sensitive: bool) -> usize {
    match value {
        Value::String(s) if sensitive => {
            *s = PLACEHOLDER.to_owned();
            1
        }
        Value::Array(items) => items.iter_mut().map(|v| redact_value(v, sensitive)).sum(),
        Value::Object(map) => map
            .iter_mut()
            .map(|(k, v)| redact_value(v, sensitive || REDACTED_KEYS.contains(&k.as_str())))
            .sum(),
        _ => 0,
    }
}

/// A gzip body inflated by the host's one bounded inflater, under `MAX_PAGE_BYTES`'s default:
/// a cassette is input from outside, and a bomb in it must not take the machine's memory.
fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    crate::content_decoding::inflate(bytes, REDACT_MAX_BODY_BYTES).ok()
}

/// The default page cap (`MAX_PAGE_BYTES`): no body a pass accepts is larger.
const REDACT_MAX_BODY_BYTES: u64 = 256 * 1024 * 1024;

fn gzipped(bytes: &[u8]) -> Result<Vec<u8>, CassetteError> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes)
        .and_then(|()| e.finish())
        .map_err(|e| CassetteError::Invalid(format!("cannot compress a body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn customer_strings_go_and_ids_times_and_cursors_stay() {
        let mut page = json!({
            "tickets": [{
                "id": 7, "subject": "Payroll is down", "description": "Call Ann on 555",
                "via": {"source": {"from": {"address": "ann@example.com", "name": "Ann"}}},
                "tags": ["vip"], "custom_fields": [{"id": 1, "value": "ACC-1"}, {"id": 2, "value": false}],
                "generated_timestamp": 1749995000, "created_at": "2025-06-14T13:43:19Z"
            }],
            "after_cursor": "abc=", "end_of_stream": true
        });
        assert_eq!(redact_value(&mut page, false), 6);
        let t = &page["tickets"][0];
        assert_eq!(t["subject"], "redacted");
        assert_eq!(t["via"]["source"]["from"]["address"], "redacted");
        assert_eq!(t["tags"][0], "redacted");
        assert_eq!(t["custom_fields"][1]["value"], false);
        assert_eq!(t["id"], 7);
        assert_eq!(t["generated_timestamp"], 1749995000);
        assert_eq!(t["created_at"], "2025-06-14T13:43:19Z");
        assert_eq!(page["after_cursor"], "abc=");
    }
}
