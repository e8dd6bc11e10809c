//! A fake host for native unit tests: storage in memory that outlives a pass (so a fresh pass
//! resumes over it), a step counter that fails the Nth put or save (a crash there), and a
//! ticket export served from a list, so the real pass and resource code run unchanged.

use std::cell::RefCell;
use std::collections::BTreeMap;

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
    pub requests: RefCell<Vec<String>>,
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

    /// Every ticket id in the stored objects, in key order.
    pub fn stored_ids(&self) -> Vec<i64> {
        let mut ids = Vec::new();
        for body in self.objects.borrow().values() {
            let page: serde_json::Value = serde_json::from_slice(body).expect("stored JSON");
            for t in page["tickets"].as_array().expect("tickets") {
                ids.push(t["id"].as_i64().expect("id"));
            }
        }
        ids
    }

    /// The export: `start_time` or `cursor=c{index}`, `per_page` records from there.
    fn tickets_page(&self, path_and_query: &str) -> Response {
        let query = path_and_query.split_once('?').map_or("", |(_, q)| q);
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        };
        let per_page: usize = param("per_page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let tickets = self.tickets.borrow();
        let from = match (param("cursor"), param("start_time")) {
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
        let body = format!(
            r#"{{"tickets":[{}],"after_cursor":"c{to}","end_of_stream":{}}}"#,
            records.join(","),
            to == tickets.len()
        );
        Response {
            status: 200,
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }
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
        Ok(self.tickets_page(path_and_query))
    }
}
