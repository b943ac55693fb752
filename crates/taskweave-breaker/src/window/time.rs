//! The time window: the calls of the last T seconds, in buckets stamped with their slot.

use std::sync::atomic::Ordering::*;
use std::time::Duration;

use super::{Counts, stripe};
use crate::loom::AtomicU64;

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
pub(super) struct TimeWindow {
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
    pub(super) fn new(length: Duration, buckets: usize, stripes: usize) -> TimeWindow {
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
    pub(super) fn record(&self, failed: bool, slow: bool, now: u64) -> bool {
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

    pub(super) fn counts(&self, now: u64) -> Counts {
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

    pub(super) fn clear(&self) {
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
