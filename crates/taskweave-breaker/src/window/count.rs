//! The count window: the last N recorded calls, successes counted per stripe, failures and
//! slow calls logged by position.

use std::sync::atomic::Ordering::*;

use crossbeam_utils::CachePadded;

use super::{Counts, stripe};
use crate::loom::AtomicU64;

/// The last `size` calls.
///
/// Successes are only counted, per stripe. Failures and slow calls are also logged with their
/// position (the number of calls recorded up to and including them), so the number of failures
/// among the last `size` calls is the number of logged positions above `total - size`: a
/// binary search over the log, whose positions ascend. Sequential use is exact; under concurrent
/// recording, a position is read from a snapshot of the stripes, so outcomes recorded at the same
/// instant are ordered arbitrarily, as they would be by any lock.
#[derive(Debug)]
pub(super) struct CountWindow {
    size: u64,
    calls: Box<[CachePadded<AtomicU64>]>,
    failures: EventLog,
    slow: EventLog,
    /// The total from which the last logged event has left the window.
    clean_from: AtomicU64,
}

impl CountWindow {
    pub(super) fn new(size: usize, stripes: usize) -> CountWindow {
        CountWindow {
            size: size as u64,
            calls: (0..stripes)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            failures: EventLog::new(size),
            slow: EventLog::new(size),
            clean_from: AtomicU64::new(0),
        }
    }

    /// Counts one call on the calling thread's stripe; returns the stripe's new count.
    #[inline]
    pub(super) fn count_call(&self) -> u64 {
        self.calls[stripe(self.calls.len() - 1)].fetch_add(1, Relaxed) + 1
    }

    /// Logs a failure and/or slow call just counted.
    pub(super) fn log_event(&self, failed: bool, slow: bool) {
        // SeqCst orders this call's count before the log entry for anyone who reads the entry,
        // so an evaluation never sees an event positioned beyond the total.
        let position = self.total();
        self.clean_from.fetch_max(position + self.size, SeqCst);
        if failed {
            self.failures.push(position);
        }
        if slow {
            self.slow.push(position);
        }
    }

    pub(super) fn events_logged(&self) -> u64 {
        self.failures.pushed.load(SeqCst) + self.slow.pushed.load(SeqCst)
    }

    pub(super) fn is_clean_and_full(&self) -> bool {
        let total = self.total();
        total >= self.size && total >= self.clean_from.load(SeqCst)
    }

    fn total(&self) -> u64 {
        self.calls.iter().map(|c| c.load(SeqCst)).sum()
    }

    pub(super) fn counts(&self) -> Counts {
        let total = self.total();
        let start = total.saturating_sub(self.size);
        Counts {
            calls: total - start,
            failed: self.failures.count_after(start),
            slow: self.slow.count_after(start),
        }
    }

    pub(super) fn clear(&self) {
        for c in self.calls.iter() {
            c.store(0, SeqCst);
        }
        self.clean_from.store(0, SeqCst);
        self.failures.clear();
        self.slow.clear();
    }
}

/// A ring of the positions of the last `capacity` events, ascending.
#[derive(Debug)]
struct EventLog {
    pushed: CachePadded<AtomicU64>,
    slots: Box<[AtomicU64]>,
}

impl EventLog {
    fn new(capacity: usize) -> EventLog {
        EventLog {
            pushed: CachePadded::new(AtomicU64::new(0)),
            slots: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn slot(&self, index: u64) -> &AtomicU64 {
        &self.slots[(index % self.slots.len() as u64) as usize]
    }

    fn push(&self, position: u64) {
        let index = self.pushed.fetch_add(1, SeqCst);
        self.slot(index).store(position, SeqCst);
    }

    /// How many logged positions are above `start`. Positions start at 1, so an empty slot (0)
    /// never counts.
    fn count_after(&self, start: u64) -> u64 {
        let pushed = self.pushed.load(SeqCst);
        let held = pushed.min(self.slots.len() as u64);
        let first = pushed - held;
        // The first logged index whose position is above `start`.
        let (mut lo, mut hi) = (0, held);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.slot(first + mid).load(SeqCst) > start {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        held - lo
    }

    fn clear(&self) {
        self.pushed.store(0, SeqCst);
        for s in self.slots.iter() {
            s.store(0, SeqCst);
        }
    }
}
