//! The ticket stream: one current version per ticket, ordered by `(generated_timestamp, id)`.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use super::cursor::Position;

/// The current version of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Version {
    pub ts: i64,
    pub deleted: bool,
    /// Fixed at first sight so updates keep the ticket's creation date.
    pub created_at: i64,
}

#[derive(Debug, Default)]
pub(crate) struct TicketStore {
    current: HashMap<u64, Version>,
    stream: BTreeSet<(i64, u64)>,
}

/// One page of the export.
#[derive(Debug)]
pub(crate) struct Page {
    pub tickets: Vec<(u64, Version)>,
    /// The position of the last ticket served, or the request's own position when empty.
    pub last: Position,
    /// Whether a visible ticket remains after `last`.
    pub more: bool,
}

impl TicketStore {
    /// Writes a new version; the old one leaves the stream (an update moves the ticket).
    pub fn put(&mut self, id: u64, ts: i64, deleted: bool) {
        let created_at = match self.current.get(&id) {
            Some(old) => {
                self.stream.remove(&(old.ts, id));
                old.created_at.min(ts)
            }
            // Tickets were usually opened a while before the version we see.
            None => (ts - (id % 7) as i64 * 86_400 - (id % 3_600) as i64).max(0),
        };
        self.current.insert(
            id,
            Version {
                ts,
                deleted,
                created_at,
            },
        );
        self.stream.insert((ts, id));
    }

    /// `(id, ts)` of every version with `ts <= horizon`, in stream order.
    pub fn visible(&self, horizon: i64) -> Vec<(u64, i64)> {
        self.stream
            .iter()
            .take_while(|(ts, _)| *ts <= horizon)
            .map(|&(ts, id)| (id, ts))
            .collect()
    }

    /// Up to `max` tickets strictly after `after` whose timestamp is at most `horizon`.
    pub fn page(&self, after: Position, max: usize, horizon: i64) -> Page {
        let mut rest = self
            .stream
            .range((Bound::Excluded((after.ts, after.id)), Bound::Unbounded))
            .take_while(|(ts, _)| *ts <= horizon);
        let mut tickets = Vec::new();
        let mut last = after;
        for &(ts, id) in rest.by_ref().take(max) {
            tickets.push((id, self.current[&id]));
            last = Position { ts, id };
        }
        Page {
            tickets,
            last,
            more: rest.next().is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_moves_the_ticket_and_keeps_created_at() {
        let mut s = TicketStore::default();
        s.put(1, 100, false);
        s.put(2, 150, false);
        let created = s.current[&1].created_at;
        s.put(1, 200, false);
        assert_eq!(s.visible(i64::MAX), vec![(2, 150), (1, 200)]);
        assert_eq!(s.current[&1].created_at, created);
    }
}
