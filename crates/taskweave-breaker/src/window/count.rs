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
/// instant are ordered arbitrarily, as they would be by any lock. An evaluation counts only the
/// events positioned at or below the total it read: events logged while it searches belong to
/// calls its total does not hold, and counting them would inflate the rates (a preempted
/// evaluator once counted 72 failures among 100 calls that held 1).
#[derive(Debug)]
pub(super) struct CountWindow {
    size: u64,
    calls: Box<[CachePadded<AtomicU64>]>,
    failures: EventLog,
    slow: EventLog,
    /// The total from which the last logged event has left the window. Written at every
    /// event, so kept off the line of `size` and `calls`, which every call reads.
    clean_from: CachePadded<AtomicU64>,
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
            clean_from: CachePadded::new(AtomicU64::new(0)),
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
        self.counts_at(self.total())
    }

    /// The counts of the `size` calls up to the `total`-th.
    fn counts_at(&self, total: u64) -> Counts {
        let start = total.saturating_sub(self.size);
        Counts {
            calls: total - start,
            failed: self.failures.count_between(start, total),
            slow: self.slow.count_between(start, total),
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

/// How many times an evaluation searches the event log before it counts slot by slot.
const SEARCH_ATTEMPTS: usize = 4;

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

    /// How many logged positions are above `start` and at most `end`. Positions start at 1,
    /// so an empty slot (0) never counts.
    fn count_between(&self, start: u64, end: u64) -> u64 {
        // Two binary searches over a ring that other threads may be overwriting: they agree
        // only if nothing was pushed meanwhile. A push still storing its slot can move the
        // count by one (one per concurrent writer), no more.
        for _ in 0..SEARCH_ATTEMPTS {
            let pushed = self.pushed.load(SeqCst);
            let held = pushed.min(self.slots.len() as u64);
            let first = pushed - held;
            // The first logged index whose position is above `bound`.
            let first_above = |bound: u64| {
                let (mut lo, mut hi) = (0, held);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if self.slot(first + mid).load(SeqCst) > bound {
                        hi = mid;
                    } else {
                        lo = mid + 1;
                    }
                }
                lo
            };
            let count = first_above(end).saturating_sub(first_above(start));
            if self.pushed.load(SeqCst) == pushed {
                return count;
            }
        }
        // Events arrive faster than a search completes: count slot by slot, which sees each
        // logged event at most once whatever is overwritten meanwhile.
        let in_range = |slot: &AtomicU64| (start + 1..=end).contains(&slot.load(SeqCst));
        self.slots.iter().filter(|&slot| in_range(slot)).count() as u64
    }

    fn clear(&self) {
        self.pushed.store(0, SeqCst);
        for s in self.slots.iter() {
            s.store(0, SeqCst);
        }
    }
}

#[cfg(all(test, not(taskweave_loom)))]
mod tests {
    use super::*;

    /// Records `n` calls, the ones for which `failed(i)` holds failing.
    fn record(window: &CountWindow, n: u64, failed: impl Fn(u64) -> bool) {
        for i in 0..n {
            window.count_call();
            if failed(i) {
                window.log_event(true, false);
            }
        }
    }

    #[test]
    fn counts_the_failures_among_the_last_size_calls() {
        let window = CountWindow::new(100, 4);
        record(&window, 1_000, |i| i % 100 == 0);
        assert_eq!(
            window.counts(),
            Counts {
                calls: 100,
                failed: 1,
                slow: 0
            }
        );
    }

    /// An evaluator that read the total, then was preempted while another thread recorded
    /// thousands more calls, counts only what its total holds.
    #[test]
    fn events_logged_after_the_total_was_read_are_not_counted() {
        let window = CountWindow::new(100, 4);
        record(&window, 10_000, |i| i % 100 == 0);
        let total = window.total();
        // 99 more failures, one every 100 calls: the log's ring turns almost once.
        record(&window, 9_900, |i| i % 100 == 0);
        assert_eq!(window.counts_at(total).failed, 1);
        assert_eq!(window.counts().failed, 1);
    }

    /// Threads log a failure every 100 of their calls as fast as they can while others
    /// evaluate, more threads than cores so that evaluations are preempted mid-search: however
    /// the searches interleave with the pushes, no evaluation sees more failures than its 100
    /// calls can hold (about one per writer; the bug this guards against counted 50 to 100).
    #[test]
    fn evaluations_racing_pushes_never_overcount() {
        const WRITERS: u64 = 3;
        let window = CountWindow::new(100, 4);
        let done = std::sync::atomic::AtomicBool::new(false);
        let worst = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    while !done.load(Relaxed) {
                        worst.fetch_max(window.counts().failed, Relaxed);
                    }
                });
            }
            let writers: Vec<_> = (0..WRITERS)
                .map(|_| s.spawn(|| record(&window, 2_000_000, |i| i % 100 == 0)))
                .collect();
            for writer in writers {
                writer.join().unwrap();
            }
            done.store(true, Relaxed);
        });
        let worst = worst.into_inner();
        assert!(
            worst <= 4 * WRITERS,
            "an evaluation counted {worst} failures among 100 calls"
        );
    }
}
