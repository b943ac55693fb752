//! Manual transitions, and announcing every transition: counted, logged, broadcast.

use std::sync::atomic::Ordering::*;
use std::time::Duration;

use tokio::time::Instant;

use super::Inner;
use crate::state::{State, Transition, Trials, Word};
use crate::window::Counts;

impl<C> Inner<C> {
    pub(super) fn transition_by_hand(&self, target: State) {
        let mut word = Word(self.state.load(Acquire));
        loop {
            if word.state() == target && target != State::Closed {
                return;
            }
            let epoch = word.next_epoch();
            let next = match target {
                State::Closed => Word::closed(epoch),
                State::HalfOpen => Word::half_open(epoch, Trials::default()),
                State::Disabled => Word::disabled(epoch),
                _ => Word::forced_open(epoch),
            };
            // The window must be empty when the breaker (re)enters `Closed` or `HalfOpen`. It is
            // idle unless closed: clear it before leaving any other state, and right after
            // leaving `Closed` (so that callers still recording see the new epoch and stop).
            let clear = matches!(target, State::Closed | State::HalfOpen);
            let from_closed = word.state() == State::Closed;
            if clear && !from_closed {
                self.window.clear();
            }
            match self.swap_state(word, next) {
                Ok(()) => {
                    if target == State::HalfOpen {
                        self.start_half_open_clock(next, self.now());
                    }
                    if clear && from_closed {
                        self.window.clear();
                    }
                    self.trips.store(0, Relaxed);
                    if word.state() == target {
                        tracing::debug!(breaker = self.name(), "circuit breaker reset");
                    } else {
                        self.announce(word, next, None, None);
                    }
                    return;
                }
                Err(actual) => word = actual,
            }
        }
    }

    /// Counts, logs and broadcasts a transition that this caller made.
    #[cold]
    pub(super) fn announce(
        &self,
        from: Word,
        to: Word,
        counts: Option<Counts>,
        wait: Option<Duration>,
    ) {
        self.transitions.fetch_add(1, Relaxed);
        let transition = Transition {
            from: from.state(),
            to: to.state(),
            at: Instant::now(),
        };
        let counts = counts.unwrap_or_default();
        match transition.to {
            State::Open => {
                let wait_ms =
                    u64::try_from(wait.unwrap_or_default().as_millis()).unwrap_or(u64::MAX);
                tracing::warn!(
                    breaker = self.name(),
                    from = %transition.from,
                    to = %transition.to,
                    calls = counts.calls,
                    failed = counts.failed,
                    slow = counts.slow,
                    wait_ms,
                    "circuit breaker opened"
                );
            }
            State::ForcedOpen => tracing::warn!(
                breaker = self.name(),
                from = %transition.from,
                to = %transition.to,
                "circuit breaker forced open"
            ),
            _ => tracing::debug!(
                breaker = self.name(),
                from = %transition.from,
                to = %transition.to,
                calls = counts.calls,
                failed = counts.failed,
                slow = counts.slow,
                "circuit breaker state changed"
            ),
        }
        // No receivers is fine: nobody asked to be told.
        let _ = self.events.send(transition);
    }
}
