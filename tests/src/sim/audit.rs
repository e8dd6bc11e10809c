//! The audit-log store: immutable events ordered by `(created_at, id)`, each visible from
//! some moment on (late arrivals), read as pages in either order within a `created_at` window.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use super::cursor::Position;

type Key = (i64, u64);

#[derive(Debug, Default)]
pub(crate) struct AuditStore {
    /// `(created_at, id)` → the simulated time from which the event is served.
    events: BTreeMap<Key, i64>,
    /// id → created_at, so re-adding an id replaces the event instead of duplicating it.
    created: HashMap<u64, i64>,
}

/// Inclusive bounds on `created_at` (`filter[created_at][]` twice, or everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub start: i64,
    pub end: i64,
}

impl Window {
    pub const ALL: Window = Window {
        start: i64::MIN,
        end: i64::MAX,
    };
}

/// Which way a read goes through the `(created_at, id)` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    pub window: Window,
    pub newest_first: bool,
    /// Events visible at this simulated time are served; later arrivals are not.
    pub now: i64,
}

/// One page: events in the order served, and whether more remain beyond the page.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Page {
    pub events: Vec<Position>,
    pub more: bool,
}

impl AuditStore {
    /// Adds an event served from `visible_at` on (`i64::MIN`: at once).
    pub fn put(&mut self, id: u64, created_at: i64, visible_at: i64) {
        if let Some(old) = self.created.insert(id, created_at) {
            self.events.remove(&(old, id));
        }
        self.events.insert((created_at, id), visible_at);
    }

    /// `(id, created_at)` of every event visible at `now`, oldest first.
    pub fn visible(&self, now: i64) -> Vec<(u64, i64)> {
        self.events
            .iter()
            .filter(|&(_, &visible_at)| visible_at <= now)
            .map(|(&(ts, id), _)| (id, ts))
            .collect()
    }

    /// Up to `max` events strictly after `after` (in the scan's order; `None` = from the
    /// start), and whether another one follows.
    pub fn page(&self, scan: Scan, after: Option<Position>, max: usize) -> Page {
        let mut rest = self.iter(scan, after);
        let events: Vec<Position> = rest.by_ref().take(max).collect();
        Page {
            events,
            more: rest.next().is_some(),
        }
    }

    /// Up to `max` events strictly before `before` in the scan's order, still in that order,
    /// and whether another one precedes them (`page[before]`).
    pub fn page_before(&self, scan: Scan, before: Position, max: usize) -> Page {
        let backwards = Scan {
            newest_first: !scan.newest_first,
            ..scan
        };
        let mut page = self.page(backwards, Some(before), max);
        page.events.reverse();
        page
    }

    /// The offset page `index` (0-based) of `per_page` events, and how many match in all.
    pub fn offset_page(&self, scan: Scan, index: usize, per_page: usize) -> (Vec<Position>, usize) {
        let events = self
            .iter(scan, None)
            .skip(index.saturating_mul(per_page))
            .take(per_page)
            .collect();
        (events, self.iter(scan, None).count())
    }

    fn iter(&self, scan: Scan, after: Option<Position>) -> Box<dyn Iterator<Item = Position> + '_> {
        let mut lo = Bound::Included((scan.window.start, 0));
        let mut hi = Bound::Included((scan.window.end, u64::MAX));
        if let Some(Position { ts, id }) = after {
            // Narrow the window to what lies beyond the cursor in the direction of travel.
            let cut = Bound::Excluded((ts, id));
            match scan.newest_first {
                true if (ts, id) <= (scan.window.end, u64::MAX) => hi = cut,
                false if (ts, id) >= (scan.window.start, 0) => lo = cut,
                _ => {}
            }
        }
        if !is_range(lo, hi) {
            return Box::new(std::iter::empty());
        }
        let now = scan.now;
        let range = self
            .events
            .range((lo, hi))
            .filter(move |&(_, &visible_at)| visible_at <= now)
            .map(|(&(ts, id), _)| Position { ts, id });
        if scan.newest_first {
            Box::new(range.rev())
        } else {
            Box::new(range)
        }
    }
}

/// Whether `BTreeMap::range` accepts these bounds (it panics when start > end, or when they
/// are equal and both excluded) — an inverted filter or a cursor past it is just empty.
fn is_range(lo: Bound<Key>, hi: Bound<Key>) -> bool {
    match (lo, hi) {
        (Bound::Excluded(a), Bound::Excluded(b)) => a < b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            a <= b
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(events: &[(u64, i64)]) -> AuditStore {
        let mut s = AuditStore::default();
        for &(id, ts) in events {
            s.put(id, ts, i64::MIN);
        }
        s
    }

    fn scan(start: i64, end: i64, newest_first: bool) -> Scan {
        Scan {
            window: Window { start, end },
            newest_first,
            now: 0,
        }
    }

    fn ids(page: &Page) -> Vec<u64> {
        page.events.iter().map(|p| p.id).collect()
    }

    #[test]
    fn pages_go_both_ways_and_stop_at_the_window() {
        let s = store(&[(1, 10), (2, 20), (3, 20), (4, 30), (5, 40)]);
        let asc = s.page(scan(20, 30, false), None, 2);
        assert_eq!((ids(&asc), asc.more), (vec![2, 3], true));
        let rest = s.page(scan(20, 30, false), asc.events.last().copied(), 2);
        assert_eq!((ids(&rest), rest.more), (vec![4], false));
        let desc = s.page(scan(20, 30, true), None, 2);
        assert_eq!((ids(&desc), desc.more), (vec![4, 3], true));
        let back = s.page_before(
            scan(i64::MIN, i64::MAX, false),
            Position { ts: 30, id: 4 },
            2,
        );
        assert_eq!((ids(&back), back.more), (vec![2, 3], true));
    }

    #[test]
    fn inverted_windows_and_cursors_beyond_them_are_empty_not_panics() {
        let s = store(&[(1, 10), (2, 20)]);
        assert_eq!(
            ids(&s.page(scan(20, 10, false), None, 5)),
            Vec::<u64>::new()
        );
        let edge = Some(Position {
            ts: 20,
            id: u64::MAX,
        });
        assert_eq!(
            ids(&s.page(scan(10, 20, false), edge, 5)),
            Vec::<u64>::new()
        );
        let before_all = Some(Position { ts: 10, id: 0 });
        assert_eq!(
            ids(&s.page(scan(10, 10, true), before_all, 5)),
            Vec::<u64>::new()
        );
        // A cursor outside the window does not widen it.
        let far = Some(Position { ts: 0, id: 0 });
        assert_eq!(ids(&s.page(scan(20, 20, false), far, 5)), vec![2]);
    }

    #[test]
    fn re_adding_an_id_replaces_it_and_late_events_wait() {
        let mut s = store(&[(1, 10), (2, 20)]);
        s.put(1, 30, i64::MIN);
        s.put(3, 5, 100);
        assert_eq!(s.visible(99), vec![(2, 20), (1, 30)]);
        assert_eq!(s.visible(100), vec![(3, 5), (2, 20), (1, 30)]);
        let (page, count) = s.offset_page(scan(i64::MIN, i64::MAX, true), 1, 1);
        assert_eq!((page, count), (vec![Position { ts: 20, id: 2 }], 2));
    }
}
