//! The half-open state's trial calls: recording their outcomes, deciding when the last one is
//! in, and giving up on trials that hold every slot for longer than `max_wait_in_half_open`.

use std::sync::atomic::Ordering::*;
use std::time::Duration;

use super::{Inner, Ticket, deadline_ms, trial_counts};
use crate::classify::Outcome;
use crate::error::Rejected;
use crate::state::{HalfOpenDeadline, State, Word};

impl<C> Inner<C> {
    /// Starts the `max_wait_in_half_open` clock of the half-open state `word` entered at `now`.
    ///
    /// Stored just after the swap that entered it: until then, a reader finds the deadline of an
    /// earlier epoch, which does not count, so the new state is not abandoned early (an epoch
    /// number comes back only after 2^21 transitions).
    pub(super) fn start_half_open_clock(&self, word: Word, now: u64) {
        let deadline = deadline_ms(now, self.config.max_wait_in_half_open);
        let stamp = HalfOpenDeadline::new(word.epoch(), deadline);
        self.half_open_deadline.store(stamp.0, Release);
    }

    /// Whether the half-open state `word` has waited `max_wait_in_half_open` for its trials.
    #[cold]
    pub(super) fn half_open_expired(&self, word: Word) -> bool {
        let stamp = HalfOpenDeadline(self.half_open_deadline.load(Acquire));
        match stamp.deadline_ms(word.epoch()) {
            Some(HalfOpenDeadline::NEVER_MS) | None => false,
            Some(deadline) => self.now() >= deadline.saturating_mul(1_000_000),
        }
    }

    /// Gives up on the trials of the half-open state `word` (all held, none decided in time):
    /// opens the breaker again, as a consecutive trip, and rejects the caller. Permits of those
    /// trials still out belong to the old epoch, so whatever they record later is stale.
    #[cold]
    pub(super) fn abandon_trials(&self, word: Word) -> Result<Rejected, Word> {
        let now = self.now();
        let wait = self.config.wait_after(self.trips.load(Relaxed));
        let next = Word::open(word.next_epoch(), deadline_ms(now, wait));
        self.swap_state(word, next)?;
        self.trips.fetch_add(1, Relaxed);
        let trials = word.trials();
        tracing::warn!(
            breaker = self.name(),
            admitted = trials.admitted,
            recorded = trials.recorded,
            max_wait_ms =
                u64::try_from(self.config.max_wait_in_half_open.as_millis()).unwrap_or(u64::MAX),
            "circuit breaker trial calls did not finish within max_wait_in_half_open"
        );
        self.announce(word, next, Some(trial_counts(trials)), Some(wait));
        Ok(self.reject(State::Open, Some(wait)))
    }

    pub(super) fn record_trial(
        &self,
        ticket: &Ticket,
        outcome: Outcome,
        elapsed: Option<Duration>,
    ) {
        let now = if outcome == Outcome::Ignored {
            0
        } else {
            self.now()
        };
        let slow = outcome != Outcome::Ignored && self.is_slow(ticket, self.end_time(now), elapsed);
        let wait = self.config.wait_after(self.trips.load(Relaxed));
        let mut word = Word(self.state.load(Acquire));
        loop {
            if word.state() != State::HalfOpen || word.epoch() != ticket.word.epoch() {
                // A trial of a half-open state that has ended (decided, abandoned, or left by
                // hand): its slot is gone with it, and its outcome decides nothing.
                if outcome != Outcome::Ignored {
                    self.stale_outcome(ticket);
                }
                return;
            }
            let mut trials = word.trials();
            let next = if outcome == Outcome::Ignored {
                // The slot goes back: another caller may take the trial.
                trials.admitted -= 1;
                Word::half_open(word.epoch(), trials)
            } else {
                trials.recorded += 1;
                trials.failed += u32::from(outcome == Outcome::Failure);
                trials.slow += u32::from(slow);
                if trials.recorded < self.config.half_open_calls {
                    Word::half_open(word.epoch(), trials)
                } else {
                    // The last trial decides, in the same swap that records it: no other
                    // outcome can slip in between, and no second caller can decide again.
                    if self.over_threshold(trial_counts(trials)) {
                        Word::open(word.next_epoch(), deadline_ms(now, wait))
                    } else {
                        Word::closed(word.next_epoch())
                    }
                }
            };
            match self.swap_state(word, next) {
                Ok(()) => {
                    if next.state() == State::Open {
                        self.trips.fetch_add(1, Relaxed);
                    } else if next.state() == State::Closed {
                        self.trips.store(0, Relaxed);
                    }
                    if next.state() != State::HalfOpen {
                        let wait = (next.state() == State::Open).then_some(wait);
                        self.announce(word, next, Some(trial_counts(trials)), wait);
                    }
                    return;
                }
                Err(actual) => word = actual,
            }
        }
    }
}
