//! The sliding windows the closed breaker records outcomes in: the last N calls, or the last T
//! seconds in buckets.
//!
//! Both are built so that recording a success — the closed breaker's hot path — is at most one
//! uncontended atomic add on a counter owned by the calling thread's stripe: concurrent callers
//! never write the same cache line, so the breaker scales with the number of threads. A count
//! window full of successes goes further and skips recording successes altogether (see
//! `Window::steady`). Failures and slow calls are rarer and take a slower path, which also
//! evaluates the rates.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::*};

use crate::config::SlidingWindow;
use crate::loom::AtomicBool;

mod count;
mod time;

use count::CountWindow;
use time::TimeWindow;

/// The calling thread's stripe, modulo the stripe count (a power of two).
///
/// Threads are numbered in the order they first record into any breaker, so the first `stripes`
/// threads — usually the runtime's workers — each get a stripe of their own.
#[inline]
fn stripe(mask: usize) -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| {
        let mut id = s.get();
        if id == usize::MAX {
            id = NEXT.fetch_add(1, Relaxed);
            s.set(id);
        }
        id & mask
    })
}

fn stripe_count() -> usize {
    #[cfg(taskweave_loom)]
    {
        // Loom threads share one OS thread, hence one stripe: the models exercise the shared
        // state machine, not the striping.
        1
    }
    #[cfg(not(taskweave_loom))]
    {
        // Twice the cores makes it unlikely that two busy workers share a stripe.
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        (cores * 2).next_power_of_two().clamp(4, 64)
    }
}

/// What the window holds right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Recorded calls in the window (successes, failures and slow calls; not ignored ones).
    pub(crate) calls: u64,
    pub(crate) failed: u64,
    pub(crate) slow: u64,
}

/// A sliding window of outcomes.
#[derive(Debug)]
pub(crate) struct Window {
    kind: Kind,
    /// Whether the window held at least `minimum_calls` at its last evaluation. Until it does,
    /// every call must be evaluated, since a success can complete the minimum.
    warm: AtomicBool,
    /// Count windows only: whether the window is full of fast successes. Recording another one
    /// then leaves the window exactly as it is (the last N calls are still N successes), so it
    /// is skipped, which makes a healthy breaker's hot path free of writes. Cleared by the first
    /// failure or slow call; set again once the window is clean and full (checked every
    /// `STEADY_CHECK` calls per stripe).
    steady: AtomicBool,
    minimum_calls: u64,
}

/// How often (in calls per stripe) a count window that is not steady checks whether it is. A
/// check reads every stripe, which costs each stripe's thread a cache miss at its next count:
/// every 64 calls, that was a tenth of the cost of a call from two threads.
const STEADY_CHECK: u64 = 256;

// One per breaker, never moved after construction: the size difference costs nothing, while a
// box would cost a pointer chase on every recording.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Kind {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn new(shape: SlidingWindow, minimum_calls: u64) -> Window {
        let stripes = stripe_count();
        let kind = match shape {
            SlidingWindow::Count { calls } => Kind::Count(CountWindow::new(calls, stripes)),
            SlidingWindow::Time { length, buckets } => {
                Kind::Time(TimeWindow::new(length, buckets, stripes))
            }
        };
        Window {
            kind,
            warm: AtomicBool::new(false),
            steady: AtomicBool::new(false),
            minimum_calls,
        }
    }

    /// Whether recording needs the time (`now`).
    pub(crate) fn needs_clock(&self) -> bool {
        matches!(self.kind, Kind::Time(_))
    }

    /// Whether recording a fast success would leave the window unchanged, so can be skipped.
    #[inline]
    pub(crate) fn skips_successes(&self) -> bool {
        self.steady.load(Relaxed)
    }

    /// Records one call; `now` is the time since the breaker was built in nanoseconds (read
    /// only for time windows). Returns whether the rates must be evaluated: after a failure or a
    /// slow call, while the window is short of `minimum_calls`, and, in a time window, when a
    /// bucket expired.
    #[inline]
    pub(crate) fn record(&self, failed: bool, slow: bool, now: u64) -> bool {
        match &self.kind {
            Kind::Count(w) if !failed && !slow => {
                let counted = w.count_call();
                let warm = self.warm.load(Relaxed);
                if warm && counted % STEADY_CHECK == 0 {
                    self.check_steady(w);
                }
                !warm
            }
            Kind::Count(w) => {
                w.count_call();
                w.log_event(failed, slow);
                // After the event is logged, so that a concurrent `check_steady`, which rechecks
                // the log after setting the flag, cannot leave it set over this event: either
                // its recheck comes after our log entry and sees it, or its `true` comes before
                // our load. Written only if set: the flag shares its line with `warm`, which
                // every call reads.
                if self.steady.load(SeqCst) {
                    self.steady.store(false, SeqCst);
                }
                true
            }
            Kind::Time(w) => {
                w.record(failed, slow, now) || failed || slow || !self.warm.load(Relaxed)
            }
        }
    }

    #[cold]
    fn check_steady(&self, w: &CountWindow) {
        let events = w.events_logged();
        if !w.is_clean_and_full() {
            return;
        }
        self.steady.store(true, SeqCst);
        if w.events_logged() != events {
            // A failure or slow call came in meanwhile: it may not be counted in the check.
            self.steady.store(false, SeqCst);
        }
    }

    /// Counts the calls in the window at `now` (used by time windows only).
    pub(crate) fn counts(&self, now: u64) -> Counts {
        match &self.kind {
            Kind::Count(w) => w.counts(),
            Kind::Time(w) => w.counts(now),
        }
    }

    /// Counts the calls in the window and remembers whether they reach `minimum_calls`.
    pub(crate) fn evaluate(&self, now: u64) -> Option<Counts> {
        let counts = self.counts(now);
        let warm = counts.calls >= self.minimum_calls;
        if self.warm.load(Relaxed) != warm {
            self.warm.store(warm, Relaxed);
        }
        warm.then_some(counts)
    }

    /// Empties the window. Only called while the breaker is not closed, so that no call records
    /// into the window at the same time (see `Breaker`).
    pub(crate) fn clear(&self) {
        self.warm.store(false, Relaxed);
        self.steady.store(false, SeqCst);
        match &self.kind {
            Kind::Count(w) => w.clear(),
            Kind::Time(w) => w.clear(),
        }
    }
}
