//! A point-in-time view of a pool's load and of how its jobs ended.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::job::Outcome;

/// A snapshot of a pool's state, from [`Pool::metrics`](crate::Pool::metrics) or
/// [`FixedPool::metrics`](crate::FixedPool::metrics). Taking one reads a few atomics and takes
/// the pool's lock briefly; it is cheap enough to poll every second.
///
/// `completed + failed` counts every job that has finished; `failed` is the sum of `panicked`,
/// `timed_out` and `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Metrics {
    /// Jobs holding a concurrency slot right now (including a blocking job whose handle
    /// already resolved by abort or timeout while its closure still runs).
    pub in_flight: usize,
    /// Jobs accepted and waiting for a slot (including keyed jobs waiting for their key).
    pub queued: usize,
    /// The current concurrency limit.
    pub max_concurrency: usize,
    /// Jobs that returned an output.
    pub completed: u64,
    /// Jobs that ended without an output (panicked, timed out or cancelled).
    pub failed: u64,
    /// Jobs that panicked.
    pub panicked: u64,
    /// Jobs dropped by the per-job timeout.
    pub timed_out: u64,
    /// Jobs cancelled: aborted through their handle, by the pool's `abort`, by a shutdown whose
    /// grace period ran out, or because the runtime was shut down (whether they had started or
    /// not).
    pub cancelled: u64,
}

/// Outcome counters, updated by the workers.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    completed: AtomicU64,
    panicked: AtomicU64,
    timed_out: AtomicU64,
    cancelled: AtomicU64,
}

impl Counters {
    pub(crate) fn record(&self, outcome: Outcome) {
        self.add(outcome, 1);
    }

    pub(crate) fn add(&self, outcome: Outcome, n: u64) {
        let counter = match outcome {
            Outcome::Completed => &self.completed,
            Outcome::Panicked => &self.panicked,
            Outcome::TimedOut => &self.timed_out,
            Outcome::Cancelled => &self.cancelled,
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Fills the outcome fields of `m`.
    pub(crate) fn fill(&self, m: &mut Metrics) {
        m.completed += self.completed.load(Ordering::Relaxed);
        m.panicked += self.panicked.load(Ordering::Relaxed);
        m.timed_out += self.timed_out.load(Ordering::Relaxed);
        m.cancelled += self.cancelled.load(Ordering::Relaxed);
        m.failed = m.panicked + m.timed_out + m.cancelled;
    }
}
