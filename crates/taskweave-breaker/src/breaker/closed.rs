//! The closed state: recording an outcome into the sliding window, and tripping the breaker
//! when the window's rates reach a threshold.

use std::sync::atomic::Ordering::*;
use std::time::Duration;

use super::{Inner, Ticket, deadline_ms};
use crate::classify::Outcome;
use crate::state::Word;
use crate::window::Counts;

impl<C> Inner<C> {
    #[inline(always)]
    pub(super) fn record_closed(
        &self,
        ticket: &Ticket,
        outcome: Outcome,
        elapsed: Option<Duration>,
    ) {
        if outcome == Outcome::Ignored {
            return;
        }
        let now = if self.clock_at_end { self.now() } else { 0 };
        let slow = self.is_slow(ticket, self.end_time(now), elapsed);
        let failed = outcome == Outcome::Failure;
        if !failed && !slow && self.window.skips_successes() {
            return;
        }
        let word = Word(self.state.load(Acquire));
        if word != ticket.word {
            // The breaker moved on since this call was admitted: its outcome belongs to a window
            // that no longer exists.
            self.stale_outcome(ticket);
            return;
        }
        if self.window.record(failed, slow, now) {
            self.evaluate(word, now);
        }
    }

    /// Trips the closed breaker (still in `word`) if the window's rates reach a threshold.
    #[cold]
    fn evaluate(&self, word: Word, now: u64) {
        let Some(counts) = self.window.evaluate(now) else {
            return;
        };
        if !self.over_threshold(counts) {
            return;
        }
        let now = if self.clock_at_end { now } else { self.now() };
        let wait = self.config.wait_after(0);
        let next = Word::open(word.next_epoch(), deadline_ms(now, wait));
        // Only one caller's swap succeeds, so the trip is announced once however many
        // failures race to it.
        if self.swap_state(word, next).is_ok() {
            self.trips.store(1, Relaxed);
            self.announce(word, next, Some(counts), Some(wait));
        }
    }

    pub(super) fn over_threshold(&self, counts: Counts) -> bool {
        let rate = |n: u64| n as f64 / counts.calls as f64;
        counts.calls > 0
            && (rate(counts.failed) >= self.config.failure_rate_threshold
                || (self.slow_nanos.is_some()
                    && rate(counts.slow) >= self.config.slow_call_rate_threshold))
    }
}
