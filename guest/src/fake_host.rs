//! A fake host for native unit tests: storage in memory that outlives a pass (so a fresh pass
//! resumes over it), a step counter that fails the Nth put or save (a crash there), and the
//! four endpoints served from lists (the three resources and the tests' toy), so the real
//! pass, driver and resource code run unchanged.

use std::cell::RefCell;
use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::host::{Host, PutOutcome, StopReason, WriteMode};
use crate::http::{HttpError, Response};
use crate::settings::Origin;

#[derive(Default)]
pub struct FakeHost {
    pub objects: RefCell<BTreeMap<String, Vec<u8>>>,
    pub checkpoint: RefCell<Option<Vec<u8>>>,
    /// Puts and saves so far; the one numbered `fail_at` (from 1) fails.
    pub steps: RefCell<usize>,
    pub fail_at: Option<usize>,
    /// The tickets the export serves, as (id, generated_timestamp).
    pub tickets: RefCell<Vec<(i64, i64)>>,
    /// Audit events as (id, created_at), oldest first.
    pub audit: RefCell<Vec<(u64, i64)>>,
    /// Access events as (id, timestamp), oldest first.
    pub access: RefCell<Vec<(String, i64)>>,
    /// The toy resource's records as (id, time), by id.
    pub toys: RefCell<Vec<(u64, i64)>>,
    pub requests: RefCell<Vec<String>>,
}

/// The decoded query parameters of a request, in order.
fn params(path_and_query: &str) -> Vec<(String, String)> {
    let query = path_and_query.split_once('?').map_or("", |(_, q)| q);
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn unix(rfc3339: &str) -> i64 {
    OffsetDateTime::parse(rfc3339, &Rfc3339).map_or(0, |t| t.unix_timestamp())
}

fn iso(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn ok(body: String) -> Response {
    Response {
        status: 200,
        headers: Vec::new(),
        body: body.into_bytes(),
    }
}

impl FakeHost {
    fn step(&self) -> Result<(), String> {
        let mut steps = self.steps.borrow_mut();
        *steps += 1;
        if Some(*steps) == self.fail_at {
            return Err(format!("unavailable: crash at step {steps}"));
        }
        Ok(())
    }

    /// A new process over the same storage and the same Zendesk data: no crash planned, no
    /// requests seen.
    pub fn resumed(self) -> FakeHost {
        FakeHost {
            objects: self.objects,
            checkpoint: self.checkpoint,
            tickets: self.tickets,
            audit: self.audit,
            access: self.access,
            toys: self.toys,
            ..FakeHost::default()
        }
    }

    /// Every ticket id in the stored objects, in key order.
    pub fn stored_ids(&self) -> Vec<i64> {
        self.stored("tickets")
            .iter()
            .map(|id| id.parse().expect("numeric id"))
            .collect()
    }

    /// The ids of the records in the stored objects' `list`, in key order.
    pub fn stored(&self, list: &str) -> Vec<String> {
        let mut ids = Vec::new();
        for body in self.objects.borrow().values() {
            let page: serde_json::Value = serde_json::from_slice(body).expect("stored JSON");
            let Some(records) = page[list].as_array() else {
                continue;
            };
            for r in records {
                ids.push(match &r["id"] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
            }
        }
        ids
    }

    /// The export: `start_time` or `cursor=c{index}`, `per_page` records from there.
    fn tickets_page(&self, path_and_query: &str) -> Response {
        let params = params(path_and_query);
        let per_page: usize = param(&params, "per_page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let tickets = self.tickets.borrow();
        let from = match (param(&params, "cursor"), param(&params, "start_time")) {
            (Some(c), _) => c.trim_start_matches('c').parse().unwrap_or(0),
            (None, Some(t)) => {
                let t: i64 = t.parse().unwrap_or(0);
                tickets
                    .iter()
                    .position(|(_, ts)| *ts >= t)
                    .unwrap_or(tickets.len())
            }
            (None, None) => 0,
        };
        let to = (from + per_page).min(tickets.len());
        let records: Vec<String> = tickets[from..to]
            .iter()
            .map(|(id, ts)| format!(r#"{{"id":{id},"generated_timestamp":{ts}}}"#))
            .collect();
        ok(format!(
            r#"{{"tickets":[{}],"after_cursor":"c{to}","end_of_stream":{}}}"#,
            records.join(","),
            to == tickets.len()
        ))
    }

    /// Audit logs: the events inside both `filter[created_at][]` bounds, `page[size]` from
    /// the cursor `a{index}` into them.
    fn audit_page(&self, path_and_query: &str) -> Response {
        let params = params(path_and_query);
        let bounds: Vec<i64> = params
            .iter()
            .filter(|(k, _)| k == "filter[created_at][]")
            .map(|(_, v)| unix(v))
            .collect();
        let (start, end) = (bounds[0], bounds[1]);
        let events: Vec<(u64, i64)> = self
            .audit
            .borrow()
            .iter()
            .copied()
            .filter(|&(_, t)| t >= start && t <= end)
            .collect();
        let (from, to) = window(&params, "page[size]", "page[after]", events.len());
        let records: Vec<String> = events[from..to]
            .iter()
            .map(|(id, t)| format!(r#"{{"id":{id},"created_at":"{}"}}"#, iso(*t)))
            .collect();
        ok(format!(
            r#"{{"audit_logs":[{}],"meta":{{"has_more":{},"after_cursor":"a{to}"}},"links":{{"next":null}}}}"#,
            records.join(","),
            to < events.len()
        ))
    }

    /// Access logs: the events inside `filter[start]`..`filter[end]`, `page[size]` from the
    /// cursor `a{index}`, with a relative `links.next` as Zendesk sends.
    fn access_page(&self, path_and_query: &str) -> Response {
        let params = params(path_and_query);
        let at = |name| param(&params, name).map_or(0, unix);
        let (start, end) = (at("filter[start]"), at("filter[end]"));
        let events: Vec<(String, i64)> = self
            .access
            .borrow()
            .iter()
            .filter(|(_, t)| *t >= start && *t <= end)
            .cloned()
            .collect();
        let (from, to) = window(&params, "page[size]", "page[after]", events.len());
        let records: Vec<String> = events[from..to]
            .iter()
            .map(|(id, t)| format!(r#"{{"id":"{id}","timestamp":"{}"}}"#, iso(*t)))
            .collect();
        let more = to < events.len();
        let next = if more {
            format!(r#""/api/v2/access_logs?page%5Bafter%5D=a{to}""#)
        } else {
            "null".into()
        };
        ok(format!(
            r#"{{"access_logs":[{}],"links":{{"next":{next}}},"meta":{{"has_more":{more},"after_cursor":"a{to}"}}}}"#,
            records.join(",")
        ))
    }

    /// The toy: `limit` records whose id is above `after`.
    fn toy_page(&self, path_and_query: &str) -> Response {
        let params = params(path_and_query);
        let after: u64 = param(&params, "after").map_or(0, |v| v.parse().unwrap_or(0));
        let limit: usize = param(&params, "limit").map_or(10, |v| v.parse().unwrap_or(10));
        let toys = self.toys.borrow();
        let later: Vec<&(u64, i64)> = toys.iter().filter(|(id, _)| *id > after).collect();
        let page = &later[..limit.min(later.len())];
        let records: Vec<String> = page
            .iter()
            .map(|(id, t)| format!(r#"{{"id":{id},"time":{t}}}"#))
            .collect();
        ok(format!(
            r#"{{"items":[{}],"more":{}}}"#,
            records.join(","),
            later.len() > page.len()
        ))
    }
}

/// `[from, to)` of a cursor-paged list of `len`: the cursor `a{from}` (none = 0), `size` long.
fn window(params: &[(String, String)], size: &str, after: &str, len: usize) -> (usize, usize) {
    let size: usize = param(params, size).map_or(100, |v| v.parse().unwrap_or(100));
    let from: usize = param(params, after)
        .map_or(0, |c| c.trim_start_matches('a').parse().unwrap_or(0))
        .min(len);
    (from, (from + size).min(len))
}

impl Host for FakeHost {
    fn put_object(&self, key: &str, bytes: &[u8], _: &str) -> Result<PutOutcome, String> {
        self.step()?;
        let mut objects = self.objects.borrow_mut();
        if objects.contains_key(key) {
            return Ok(PutOutcome::AlreadyExisted);
        }
        objects.insert(key.to_owned(), bytes.to_vec());
        Ok(PutOutcome::Created)
    }

    fn load_checkpoint(&self) -> Result<Option<Vec<u8>>, String> {
        Ok(self.checkpoint.borrow().clone())
    }

    fn save_checkpoint(&self, bytes: &[u8], mode: WriteMode) -> Result<(), String> {
        self.step()?;
        let mut checkpoint = self.checkpoint.borrow_mut();
        if mode == WriteMode::Create && checkpoint.is_some() {
            return Err("conflict: a checkpoint exists".into());
        }
        *checkpoint = Some(bytes.to_vec());
        Ok(())
    }

    fn stop_requested(&self) -> Option<StopReason> {
        None
    }

    fn time_left_ms(&self) -> Option<u64> {
        None
    }

    fn now_ns(&self) -> u64 {
        0
    }

    fn wait_ms(&self, _: u64) {}

    fn get(&self, _: &Origin, path_and_query: &str, _: u64, _: u64) -> Result<Response, HttpError> {
        self.requests.borrow_mut().push(path_and_query.to_owned());
        let path = path_and_query
            .split_once('?')
            .map_or(path_and_query, |(p, _)| p);
        Ok(match path {
            "/api/v2/audit_logs.json" => self.audit_page(path_and_query),
            "/api/v2/access_logs" => self.access_page(path_and_query),
            "/api/v2/toy.json" => self.toy_page(path_and_query),
            _ => self.tickets_page(path_and_query),
        })
    }
}
