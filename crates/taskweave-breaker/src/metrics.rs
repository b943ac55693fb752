//! A snapshot of a breaker's window and counters.

use crate::state::State;

/// A snapshot of a breaker, from [`Breaker::metrics`](crate::Breaker::metrics).
///
/// In `HalfOpen` state the calls are the trial calls recorded so far; otherwise they are the
/// calls in the sliding window (which keeps the numbers that tripped the breaker while it is
/// open — though a time window's calls still age out — and is emptied when trial calls begin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// The state when the snapshot was taken.
    pub state: State,
    /// Calls recorded in the window (ignored calls are not recorded).
    pub buffered_calls: u64,
    /// Of those, failures.
    pub failed_calls: u64,
    /// Of those, slow calls (successful or not).
    pub slow_calls: u64,
    /// Calls rejected since the breaker was built.
    pub rejected_calls: u64,
    /// State transitions since the breaker was built (manual resets of a closed breaker
    /// excluded).
    pub transitions: u64,
    /// Outcomes recorded under a permit admitted before the latest transition, and dropped: a
    /// call admitted while closed that finishes after the breaker opened, or a trial that
    /// records after its half-open state ended (for instance after
    /// [`max_wait_in_half_open`](crate::Builder::max_wait_in_half_open) gave up on it).
    /// Successes recorded while a count window holds only successes are skipped before this
    /// check (they would change nothing), so they are not counted here.
    pub stale_outcomes: u64,
}

impl Metrics {
    /// The fraction of buffered calls that failed, or `None` if no call is buffered. The breaker
    /// compares it to its threshold only once `minimum_calls` are buffered.
    pub fn failure_rate(&self) -> Option<f64> {
        rate(self.failed_calls, self.buffered_calls)
    }

    /// The fraction of buffered calls that were slow, or `None` if no call is buffered.
    pub fn slow_call_rate(&self) -> Option<f64> {
        rate(self.slow_calls, self.buffered_calls)
    }
}

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}
