//! Permission to make one call, recorded later ([`Permit`]), and the guard that records a
//! `call` or gives its slot back if the call is dropped.

use std::fmt;
use std::time::Duration;

use super::{Breaker, Inner, Ticket};
use crate::classify::{Classify, FailOnErr, Outcome};
use crate::state::State;

/// Records the outcome of a `call`, or releases its slot if the call is dropped first.
pub(super) struct Guard<'a, C> {
    pub(super) inner: &'a Inner<C>,
    pub(super) ticket: Ticket,
    pub(super) armed: bool,
}

impl<C> Guard<'_, C> {
    #[inline(always)]
    pub(super) fn finish(&mut self, outcome: Outcome) {
        self.armed = false;
        self.inner.record(&self.ticket, outcome, None);
    }
}

impl<C> Drop for Guard<'_, C> {
    #[inline]
    fn drop(&mut self) {
        if self.armed {
            self.inner.release(&self.ticket);
        }
    }
}

/// Permission to make one call, from [`Breaker::try_acquire`].
///
/// Record the call's outcome with [`record`](Permit::record),
/// [`record_elapsed`](Permit::record_elapsed) or [`record_result`](Permit::record_result).
/// Dropping a permit unrecorded records nothing and, if it held a half-open trial slot, frees
/// the slot for another call. A permit outlives the state that admitted it: if the breaker has
/// moved on since (tripped, decided its trials, gave up on them after
/// [`max_wait_in_half_open`](crate::Builder::max_wait_in_half_open), or a manual transition),
/// the outcome it records is dropped as stale and counted in
/// [`Metrics::stale_outcomes`](crate::Metrics::stale_outcomes), and dropping it does nothing.
#[must_use = "a permit records nothing unless its outcome is recorded"]
pub struct Permit<C = FailOnErr> {
    pub(super) breaker: Breaker<C>,
    pub(super) ticket: Ticket,
    pub(super) armed: bool,
}

impl<C> fmt::Debug for Permit<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("admitted_in", &self.ticket.state())
            .finish_non_exhaustive()
    }
}

impl<C> Permit<C> {
    /// The state that admitted the call: `Closed`, `HalfOpen` (a trial call) or `Disabled`.
    pub fn admitted_in(&self) -> State {
        self.ticket.state()
    }

    /// Records the call's outcome; if slow calls are counted, the call's duration is the time
    /// since the permit was acquired.
    pub fn record(mut self, outcome: Outcome) {
        self.armed = false;
        self.breaker.inner.record(&self.ticket, outcome, None);
    }

    /// Records the call's outcome with the duration measured by the caller, for calls that did
    /// not start when the permit was acquired.
    pub fn record_elapsed(mut self, outcome: Outcome, elapsed: Duration) {
        self.armed = false;
        self.breaker
            .inner
            .record(&self.ticket, outcome, Some(elapsed));
    }

    /// Records the call's result as the breaker's classifier sees it.
    pub fn record_result<T, E>(self, result: &Result<T, E>)
    where
        C: Classify<T, E>,
    {
        let outcome = self.breaker.inner.classifier.classify(result);
        self.record(outcome);
    }
}

impl<C> Drop for Permit<C> {
    fn drop(&mut self) {
        if self.armed {
            self.breaker.inner.release(&self.ticket);
        }
    }
}
