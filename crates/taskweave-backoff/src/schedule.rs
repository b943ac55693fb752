//! The decision shared by every retry loop (async, blocking, tower): after a failure, retry
//! after how long, or stop and why.

use std::fmt;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::budget::RetryBudget;
use crate::error::StopReason;
use crate::policy::{Backoff, Delays};

/// Where a loop stands after a failure: its policy, its delays so far (created at the first
/// failure, so a call that succeeds at once never seeds an RNG), and the attempts made.
#[derive(Debug)]
pub(crate) struct Progress<'a> {
    pub(crate) backoff: &'a Backoff,
    pub(crate) delays: &'a mut Option<Delays>,
    pub(crate) attempts: u32,
}

/// What the caller configured around the policy: which errors to retry, whom to tell, whose
/// delay to prefer, when to stop, and which budget to spend.
#[derive(Clone)]
pub(crate) struct Hooks<W, N, H> {
    pub(crate) when: W,
    pub(crate) notify: N,
    pub(crate) hint: H,
    pub(crate) cancel: Option<CancellationToken>,
    pub(crate) budget: Option<RetryBudget>,
}

impl<W, N, H> fmt::Debug for Hooks<W, N, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("cancel", &self.cancel)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// The default hooks: retry every error, tell no one, take no hints.
pub(crate) type DefaultHooks<E> =
    Hooks<fn(&E) -> bool, fn(&E, u32, Duration), fn(&E) -> Option<Duration>>;

impl<E> DefaultHooks<E> {
    pub(crate) fn new() -> Self {
        Hooks {
            when: any_error::<E>,
            notify: no_notify::<E>,
            hint: no_hint::<E>,
            cancel: None,
            budget: None,
        }
    }
}

impl<W, N, H> Hooks<W, N, H> {
    pub(crate) fn set_when<W2>(self, when: W2) -> Hooks<W2, N, H> {
        Hooks {
            when,
            notify: self.notify,
            hint: self.hint,
            cancel: self.cancel,
            budget: self.budget,
        }
    }

    pub(crate) fn set_notify<N2>(self, notify: N2) -> Hooks<W, N2, H> {
        Hooks {
            when: self.when,
            notify,
            hint: self.hint,
            cancel: self.cancel,
            budget: self.budget,
        }
    }

    pub(crate) fn set_hint<H2>(self, hint: H2) -> Hooks<W, N, H2> {
        Hooks {
            when: self.when,
            notify: self.notify,
            hint,
            cancel: self.cancel,
            budget: self.budget,
        }
    }

    #[inline]
    pub(crate) fn succeeded(&self) {
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
    }

    /// After attempt number `progress.attempts` failed with `error`: the delay before the next
    /// attempt, or why there is none. `elapsed` is the time since the first attempt began, when
    /// the policy has a time budget.
    pub(crate) fn decide<E>(
        &mut self,
        error: &E,
        progress: Progress<'_>,
        elapsed: impl FnOnce() -> Option<Duration>,
    ) -> Result<Duration, StopReason>
    where
        W: FnMut(&E) -> bool,
        N: FnMut(&E, u32, Duration),
        H: FnMut(&E) -> Option<Duration>,
    {
        let attempts = progress.attempts;
        let decision = self.next_delay(error, progress, elapsed);
        match decision {
            Ok(delay) => {
                tracing::debug!(
                    attempt = attempts,
                    delay_ms = delay.as_millis() as u64,
                    "attempt failed; retrying after a delay"
                );
                (self.notify)(error, attempts, delay);
            }
            Err(reason) => tracing::debug!(
                attempts,
                %reason,
                "attempt failed; giving up"
            ),
        }
        decision
    }

    fn next_delay<E>(
        &mut self,
        error: &E,
        progress: Progress<'_>,
        elapsed: impl FnOnce() -> Option<Duration>,
    ) -> Result<Duration, StopReason>
    where
        W: FnMut(&E) -> bool,
        H: FnMut(&E) -> Option<Duration>,
    {
        if !(self.when)(error) {
            return Err(StopReason::NotRetryable);
        }
        if self.cancel.as_ref().is_some_and(|t| t.is_cancelled()) {
            return Err(StopReason::Cancelled);
        }
        let backoff = progress.backoff;
        let delays = progress.delays.get_or_insert_with(|| backoff.iter());
        let Some(mut delay) = delays.next() else {
            return Err(StopReason::Exhausted);
        };
        if let Some(hint) = (self.hint)(error) {
            delay = backoff.cap_delay(hint);
        }
        if let (Some(budget), Some(elapsed)) = (backoff.max_elapsed(), elapsed()) {
            if elapsed.saturating_add(delay) > budget {
                return Err(StopReason::TimeBudget);
            }
        }
        // Last, so that a retry refused for another reason does not spend the shared budget.
        if let Some(budget) = &self.budget {
            if !budget.try_withdraw() {
                return Err(StopReason::BudgetExhausted);
            }
        }
        Ok(delay)
    }
}

fn any_error<E>(_: &E) -> bool {
    true
}

fn no_notify<E>(_: &E, _: u32, _: Duration) {}

fn no_hint<E>(_: &E) -> Option<Duration> {
    None
}
