//! A fourth resource, registered only in tests ([`WITH_TOY`]): what a new resource takes,
//! and proof that the driver the component runs is the one the tests drive.
//!
//! `GET /api/v2/toy.json?after=ID&limit=N` answers the records whose id is above ID, by id:
//! `{"items":[{"id":1,"time":1700000000}],"more":true}`. The position is the last id stored.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{AccessLogs, AuditLogs, Entry, Registry, Tickets};
use crate::checkpoint::{PendingPage, Resources};
use crate::collect::{First, Page, Position, Resource};
use crate::error::Failure;
use crate::json_scan;
use crate::object_key::RecordStamp;
use crate::settings::{Origin, PassSettings, ResourceSettings};

pub const NAME: &str = "toy";
const PATH: &str = "/api/v2/toy.json";

/// The production registry and the toy.
pub static WITH_TOY: Registry = &[
    &Entry::<AuditLogs>::new(),
    &Entry::<Tickets>::new(),
    &Entry::<AccessLogs>::new(),
    &Entry::<Toy>::new(),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToyState {
    /// The last id stored.
    pub after: u64,
}

pub struct Toy {
    state: ToyState,
    limit: u32,
}

fn request(after: u64, limit: u32) -> String {
    format!("{PATH}?after={after}&limit={limit}")
}

impl Resource for Toy {
    const NAME: &'static str = NAME;
    const PATH: &'static str = PATH;
    const DEFAULT_LIMIT: Option<u32> = None;
    type State = ToyState;
    type Stamp = RecordStamp;
    /// The last id of the page.
    type Advance = u64;

    fn entry(resources: &Resources) -> Option<&ToyState> {
        resources.toy.as_ref()
    }

    fn entry_mut(resources: &mut Resources) -> &mut Option<ToyState> {
        &mut resources.toy
    }

    fn first(pass: &PassSettings) -> First<ToyState> {
        First {
            state: ToyState { after: 0 },
            start: pass.first_start(),
            requested: None,
        }
    }

    fn start(_: &ToyState) -> i64 {
        0
    }

    fn start_time_matters(_: i64, _: i64) -> bool {
        false
    }

    fn position(_: &ToyState) -> Position {
        Position::default()
    }

    fn open(state: ToyState, _: &PassSettings, resource: &ResourceSettings) -> Toy {
        Toy {
            state,
            limit: resource.page_size.unwrap_or(10),
        }
    }

    fn request(&self) -> Option<String> {
        Some(request(self.state.after, self.limit))
    }

    fn replay(&mut self, _: &PendingPage) -> Result<(), Failure> {
        Ok(())
    }

    fn resume(&mut self, replayed: Option<bool>) -> bool {
        replayed.unwrap_or(true)
    }

    fn page<'b>(
        &self,
        _: &str,
        body: &'b [u8],
        _: &Origin,
    ) -> Result<Page<'b, RecordStamp, u64>, Failure> {
        let invalid = |e: String| Failure::InvalidResponse(format!("not a toy page: {e}"));
        let page = json_scan::page(body, "items", ["id", "time"], ["more"])
            .map_err(|e| invalid(e.to_string()))?;
        let more: bool = json_scan::field("more", page.members[0]).map_err(invalid)?;
        let mut stamps = Vec::with_capacity(page.records.len());
        for [id, time] in page.fields {
            stamps.push(RecordStamp {
                id: json_scan::int_field("id", id).map_err(invalid)?,
                time: json_scan::int_field("time", time).map_err(invalid)?,
            });
        }
        let last = stamps.last().map_or(self.state.after, |s| s.id);
        if more && last <= self.state.after {
            return Err(invalid("more, but no later record".into()));
        }
        let records = u32::try_from(page.records.len()).unwrap_or(u32::MAX);
        Ok(Page {
            stored: Cow::Borrowed(body),
            kept: page.records,
            stamps,
            again: PendingPage {
                request: request(self.state.after, records),
                records,
            },
            advance: last,
            more,
        })
    }

    fn advance(&mut self, last: u64) -> ToyState {
        self.state.after = last;
        self.state.clone()
    }

    fn status_failure(&self, status: u16, _: &[u8]) -> Failure {
        Failure::Rejected(format!("HTTP {status}"))
    }
}
