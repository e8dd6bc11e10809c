//! The access-log store: immutable events keyed by their ULID (so in time order), each
//! visible from some moment on (late arrivals), kept for Zendesk's 90 days.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::ticket_json::mix;
use super::ulid;

/// Zendesk keeps access logs for 90 days (access-logs.md §1).
pub(crate) const RETENTION_SECS: i64 = 90 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    pub timestamp: i64,
    /// The simulated time from which the event is served.
    pub visible_at: i64,
    /// Creation order, which seeds the record's contents.
    pub seq: u64,
}

#[derive(Debug, Default)]
pub(crate) struct AccessStore {
    events: BTreeMap<String, Event>,
    seq: u64,
}

/// What a request selects: inclusive `timestamp` bounds, a cursor, and the time it is asked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub after: Option<String>,
    pub before: Option<String>,
    pub size: usize,
    pub now: i64,
}

/// One page, oldest first, and whether records lie beyond it on either side.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Page {
    pub events: Vec<(String, Event)>,
    pub has_more: bool,
    pub has_before: bool,
}

impl AccessStore {
    /// Adds an event at `timestamp` served from `visible_at` on; returns its id, whose time
    /// prefix is the timestamp plus a few milliseconds.
    pub fn put(&mut self, timestamp: i64, visible_at: i64) -> String {
        self.seq += 1;
        let seq = self.seq;
        let ms = u64::try_from(timestamp.max(0)).unwrap_or(0) * 1000 + mix(seq, 50) % 1000;
        // The sequence in the high bits keeps ids unique and in creation order within a ms.
        let tail = (u128::from(seq) << 40) | u128::from(mix(seq, 51) & 0xFF_FFFF_FFFF);
        let id = ulid::encode(ms, tail);
        self.events.insert(
            id.clone(),
            Event {
                timestamp,
                visible_at,
                seq,
            },
        );
        id
    }

    fn served(&self, now: i64) -> impl DoubleEndedIterator<Item = (&String, &Event)> {
        self.events
            .iter()
            .filter(move |(_, e)| e.visible_at <= now && e.timestamp >= now - RETENTION_SECS)
    }

    /// `(id, timestamp)` of every event served at `now`, oldest first.
    pub fn visible(&self, now: i64) -> Vec<(String, i64)> {
        self.served(now)
            .map(|(id, e)| (id.clone(), e.timestamp))
            .collect()
    }

    pub fn page(&self, q: &Query) -> Page {
        let in_window = |e: &Event| {
            q.start.is_none_or(|s| e.timestamp >= s) && q.end.is_none_or(|end| e.timestamp <= end)
        };
        let matching: Vec<(&String, &Event)> =
            self.served(q.now).filter(|(_, e)| in_window(e)).collect();
        let (lo, hi) = match (&q.after, &q.before) {
            (Some(a), _) => (Bound::Excluded(a.as_str()), Bound::Unbounded),
            (None, Some(b)) => (Bound::Unbounded, Bound::Excluded(b.as_str())),
            (None, None) => (Bound::Unbounded, Bound::Unbounded),
        };
        let inside = |id: &str| {
            (match lo {
                Bound::Excluded(a) => id > a,
                _ => true,
            }) && (match hi {
                Bound::Excluded(b) => id < b,
                _ => true,
            })
        };
        let candidates: Vec<usize> = (0..matching.len())
            .filter(|&i| inside(matching[i].0))
            .collect();
        let chosen: &[usize] = if q.before.is_some() && q.after.is_none() {
            &candidates[candidates.len().saturating_sub(q.size)..]
        } else {
            &candidates[..candidates.len().min(q.size)]
        };
        let (first, last) = match (chosen.first(), chosen.last()) {
            (Some(&f), Some(&l)) => (f, l),
            _ => {
                return Page {
                    events: Vec::new(),
                    has_more: false,
                    has_before: false,
                };
            }
        };
        Page {
            events: chosen
                .iter()
                .map(|&i| (matching[i].0.clone(), *matching[i].1))
                .collect(),
            has_more: last + 1 < matching.len(),
            has_before: first > 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(size: usize) -> Query {
        Query {
            size,
            now: 10_000_000,
            ..Query::default()
        }
    }

    #[test]
    fn pages_are_oldest_first_by_id_and_cursors_continue_them() {
        let mut s = AccessStore::default();
        let late = 10_000_000 - 10;
        let ids: Vec<String> = [late - 5, late - 9, late - 1]
            .iter()
            .map(|&t| s.put(t, i64::MIN))
            .collect();
        let p = s.page(&query(2));
        let got: Vec<i64> = p.events.iter().map(|(_, e)| e.timestamp).collect();
        assert_eq!(got, vec![late - 9, late - 5]);
        assert!(p.has_more && !p.has_before);
        let rest = s.page(&Query {
            after: Some(p.events[1].0.clone()),
            ..query(2)
        });
        assert_eq!(rest.events[0].0, ids[2]);
        assert!(!rest.has_more && rest.has_before);
    }

    #[test]
    fn events_older_than_ninety_days_are_gone_and_late_ones_wait() {
        let mut s = AccessStore::default();
        let now = 10_000_000;
        s.put(now - RETENTION_SECS - 1, i64::MIN);
        let kept = s.put(now - RETENTION_SECS, i64::MIN);
        let late = s.put(now - 100, now + 5);
        assert_eq!(s.visible(now), vec![(kept.clone(), now - RETENTION_SECS)]);
        // Five seconds on, the late event is served and the oldest has aged out.
        assert_eq!(s.visible(now + 5), vec![(late, now - 100)]);
    }
}
