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
use std::time::Duration;

use crate::config::WindowShape;
use crate::loom::{AtomicBool, AtomicU64};

/// Keeps a value on a cache line (and its neighbour, which Intel prefetches in pairs) of its own.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

/// The calling thread's stripe, modulo the stripe count (a power of two).
///
/// Threads are numbered in the order they first record into any breaker, so the first `stripes`
/// threads — usually the runtime's workers — each get a stripe of their own.
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

/// How often (in calls per stripe) a count window that is not steady checks whether it is.
const STEADY_CHECK: u64 = 64;

// One per breaker, never moved after construction: the size difference costs nothing, while a
// box would cost a pointer chase on every recording.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Kind {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn new(shape: WindowShape, minimum_calls: u64) -> Window {
        let stripes = stripe_count();
        let kind = match shape {
            WindowShape::Count(n) => Kind::Count(CountWindow::new(n, stripes)),
            WindowShape::Time { length, buckets } => {
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
                // the log after setting the flag, cannot leave it set over this event.
                self.steady.store(false, SeqCst);
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

/// The last `size` calls.
///
/// Successes are only counted, per stripe. Failures and slow calls are also logged with their
/// position (the number of calls recorded up to and including them), so the number of failures
/// among the last `size` calls is the number of logged positions above `total - size`: a
/// binary search over the log, whose positions ascend. Sequential use is exact; under concurrent
/// recording, a position is read from a snapshot of the stripes, so outcomes recorded at the same
/// instant are ordered arbitrarily, as they would be by any lock.
#[derive(Debug)]
struct CountWindow {
    size: u64,
    calls: Box<[Padded<AtomicU64>]>,
    failures: EventLog,
    slow: EventLog,
    /// The total from which the last logged event has left the window.
    clean_from: AtomicU64,
}

impl CountWindow {
    fn new(size: usize, stripes: usize) -> CountWindow {
        CountWindow {
            size: size as u64,
            calls: (0..stripes).map(|_| Padded(AtomicU64::new(0))).collect(),
            failures: EventLog::new(size),
            slow: EventLog::new(size),
            clean_from: AtomicU64::new(0),
        }
    }

    /// Counts one call on the calling thread's stripe; returns the stripe's new count.
    #[inline]
    fn count_call(&self) -> u64 {
        self.calls[stripe(self.calls.len() - 1)]
            .0
            .fetch_add(1, Relaxed)
            + 1
    }

    /// Logs a failure and/or slow call just counted.
    fn log_event(&self, failed: bool, slow: bool) {
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

    fn events_logged(&self) -> u64 {
        self.failures.pushed.0.load(SeqCst) + self.slow.pushed.0.load(SeqCst)
    }

    fn is_clean_and_full(&self) -> bool {
        let total = self.total();
        total >= self.size && total >= self.clean_from.load(SeqCst)
    }

    fn total(&self) -> u64 {
        self.calls.iter().map(|c| c.0.load(SeqCst)).sum()
    }

    fn counts(&self) -> Counts {
        let total = self.total();
        let start = total.saturating_sub(self.size);
        Counts {
            calls: total - start,
            failed: self.failures.count_after(start),
            slow: self.slow.count_after(start),
        }
    }

    fn clear(&self) {
        for c in self.calls.iter() {
            c.0.store(0, SeqCst);
        }
        self.clean_from.store(0, SeqCst);
        self.failures.clear();
        self.slow.clear();
    }
}

/// A ring of the positions of the last `capacity` events, ascending.
#[derive(Debug)]
struct EventLog {
    pushed: Padded<AtomicU64>,
    slots: Box<[AtomicU64]>,
}

impl EventLog {
    fn new(capacity: usize) -> EventLog {
        EventLog {
            pushed: Padded(AtomicU64::new(0)),
            slots: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn slot(&self, index: u64) -> &AtomicU64 {
        &self.slots[(index % self.slots.len() as u64) as usize]
    }

    fn push(&self, position: u64) {
        let index = self.pushed.0.fetch_add(1, SeqCst);
        self.slot(index).store(position, SeqCst);
    }

    /// How many logged positions are above `start`. Positions start at 1, so an empty slot (0)
    /// never counts.
    fn count_after(&self, start: u64) -> u64 {
        let pushed = self.pushed.0.load(SeqCst);
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
        self.pushed.0.store(0, SeqCst);
        for s in self.slots.iter() {
            s.store(0, SeqCst);
        }
    }
}

/// The calls of the last `buckets` time slots of `bucket_nanos` each.
///
/// Every counter is stamped with the slot it counts (high bits: slot number, low `count_bits`:
/// count), so a counter left over from an earlier slot is recognised and restarted by the first
/// call of the new slot in one compare-and-swap: no lock, no separate reset that a concurrent
/// increment could slip past. Calls are counted per stripe; failures and slow calls, rarer, in
/// one row of buckets.
///
/// The stamp holds the whole slot number, never a truncated one: `now` is a `u64` of nanoseconds,
/// so a slot is at most `u64::MAX / bucket_nanos`, and the count gets only the bits that number
/// leaves free (at most 32). Stamps therefore never wrap, however long the window idles, and a
/// bucket of `b` ns can count at least `b / 2` calls per stripe (one every 2 ns, far beyond what
/// a caller that reads the clock for each call can record) before it saturates.
#[derive(Debug)]
struct TimeWindow {
    bucket_nanos: u64,
    buckets: u64,
    /// How many low bits of a counter hold the count; the stamp is the rest.
    count_bits: u32,
    /// `stripes` rows of `stride` counters, the first `buckets` of each used.
    calls: Box<[AtomicU64]>,
    stride: usize,
    failures: Box<[AtomicU64]>,
    slow: Box<[AtomicU64]>,
}

impl TimeWindow {
    /// `buckets` is at most `MAX_TIME_WINDOW_BUCKETS` (checked by the builder), so the rows are
    /// small.
    fn new(length: Duration, buckets: usize, stripes: usize) -> TimeWindow {
        let bucket_nanos =
            u64::try_from((length.as_nanos() / buckets as u128).max(1)).unwrap_or(u64::MAX);
        let max_slot = u64::MAX / bucket_nanos;
        // Rows are padded to whole 128-byte blocks, so stripes do not share cache lines.
        let stride = buckets.div_ceil(16) * 16;
        let row = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect();
        TimeWindow {
            bucket_nanos,
            buckets: buckets as u64,
            count_bits: max_slot.leading_zeros().min(32),
            calls: row(stride * stripes),
            stride,
            failures: row(buckets),
            slow: row(buckets),
        }
    }

    fn slot(&self, now: u64) -> u64 {
        now / self.bucket_nanos
    }

    fn count_mask(&self) -> u64 {
        (1 << self.count_bits) - 1
    }

    /// Counts one call in `counter` for `slot`; returns whether the counter was restarted for a
    /// new slot.
    fn bump(&self, counter: &AtomicU64, slot: u64) -> bool {
        let mask = self.count_mask();
        let mut current = counter.load(Relaxed);
        loop {
            let current_slot = current >> self.count_bits;
            let next = if current & mask == 0 {
                // Empty (never used, or cleared): take it whatever its stamp.
                slot << self.count_bits | 1
            } else if current_slot == slot {
                // Saturate rather than carry into the stamp.
                if current & mask == mask {
                    return false;
                }
                current + 1
            } else if slot > current_slot {
                slot << self.count_bits | 1
            } else {
                // A newer slot already reuses this bucket: this call's slot has left the window.
                return false;
            };
            match counter.compare_exchange_weak(current, next, SeqCst, Relaxed) {
                Ok(_) => return current_slot != slot,
                Err(actual) => current = actual,
            }
        }
    }

    /// Records one call at `now`; returns whether a bucket of this stripe expired.
    fn record(&self, failed: bool, slow: bool, now: u64) -> bool {
        let slot = self.slot(now);
        let bucket = (slot % self.buckets) as usize;
        let stripes = self.calls.len() / self.stride;
        let row = stripe(stripes - 1) * self.stride;
        let expired = self.bump(&self.calls[row + bucket], slot);
        if failed {
            self.bump(&self.failures[bucket], slot);
        }
        if slow {
            self.bump(&self.slow[bucket], slot);
        }
        expired
    }

    /// The count in `counter` if it belongs to one of the last `buckets` slots up to `slot`.
    fn count_in_window(&self, counter: &AtomicU64, slot: u64) -> u64 {
        let value = counter.load(SeqCst);
        // A stamp above `slot` is a newer slot than the caller's `now`: not in its window.
        match slot.checked_sub(value >> self.count_bits) {
            Some(age) if age < self.buckets => value & self.count_mask(),
            _ => 0,
        }
    }

    fn counts(&self, now: u64) -> Counts {
        let slot = self.slot(now);
        let mut counts = Counts::default();
        for row in self.calls.chunks(self.stride) {
            for counter in &row[..self.buckets as usize] {
                counts.calls += self.count_in_window(counter, slot);
            }
        }
        for counter in self.failures.iter() {
            counts.failed += self.count_in_window(counter, slot);
        }
        for counter in self.slow.iter() {
            counts.slow += self.count_in_window(counter, slot);
        }
        counts
    }

    fn clear(&self) {
        for counter in self
            .calls
            .iter()
            .chain(self.failures.iter())
            .chain(self.slow.iter())
        {
            // A count of 0 reads as empty whatever the slot.
            counter.store(0, SeqCst);
        }
    }
}
