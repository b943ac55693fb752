//! The decision shared by every retry loop (async, blocking, tower): after a failure, retry
//! after how long, or stop and why.

use std::fmt;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::budget::RetryBudget;
use crate::error::StopReason;
use crate::policy::{Backoff, Delays};
use crate::slot;

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
///
/// Each is a [slot](crate::slot): the async [`Retry`](crate::Retry) starts with `()` in every
/// one, so that a call that succeeds at once carries no hooks; the blocking loop and the tower
/// layer, where that does not matter, start with function pointers and `Option`s.
#[derive(Clone)]
pub(crate) struct Hooks<W, N, H, C = Option<CancellationToken>, B = Option<RetryBudget>> {
    pub(crate) when: W,
    pub(crate) notify: N,
    pub(crate) hint: H,
    pub(crate) cancel: C,
    pub(crate) budget: B,
}

impl<W, N, H, C: fmt::Debug, B: fmt::Debug> fmt::Debug for Hooks<W, N, H, C, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("cancel", &self.cancel)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// The default hooks of the blocking loop and the tower layer: retry every error, tell no one,
/// take no hints, no token, no budget.
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

impl Hooks<(), (), (), (), ()> {
    /// Every slot empty: the async loop's starting point.
    pub(crate) fn unset() -> Self {
        Hooks {
            when: (),
            notify: (),
            hint: (),
            cancel: (),
            budget: (),
        }
    }
}

impl<W, N, H, C, B> Hooks<W, N, H, C, B> {
    pub(crate) fn set_when<W2>(self, when: W2) -> Hooks<W2, N, H, C, B> {
        Hooks {
            when,
            notify: self.notify,
            hint: self.hint,
            cancel: self.cancel,
            budget: self.budget,
        }
    }

    pub(crate) fn set_notify<N2>(self, notify: N2) -> Hooks<W, N2, H, C, B> {
        Hooks {
            when: self.when,
            notify,
            hint: self.hint,
            cancel: self.cancel,
            budget: self.budget,
        }
    }

    pub(crate) fn set_hint<H2>(self, hint: H2) -> Hooks<W, N, H2, C, B> {
        Hooks {
            when: self.when,
            notify: self.notify,
            hint,
            cancel: self.cancel,
            budget: self.budget,
        }
    }

    pub(crate) fn set_cancel<C2>(self, cancel: C2) -> Hooks<W, N, H, C2, B> {
        Hooks {
            when: self.when,
            notify: self.notify,
            hint: self.hint,
            cancel,
            budget: self.budget,
        }
    }

    pub(crate) fn set_budget<B2>(self, budget: B2) -> Hooks<W, N, H, C, B2> {
        Hooks {
            when: self.when,
            notify: self.notify,
            hint: self.hint,
            cancel: self.cancel,
            budget,
        }
    }

    #[inline]
    pub(crate) fn succeeded(&self)
    where
        B: slot::Budget,
    {
        self.budget.deposit();
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
        W: slot::When<E>,
        N: slot::Notify<E>,
        H: slot::Hint<E>,
        C: slot::Cancel,
        B: slot::Budget,
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
                self.notify.notify(error, attempts, delay);
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
        W: slot::When<E>,
        H: slot::Hint<E>,
        C: slot::Cancel,
        B: slot::Budget,
    {
        if !self.when.retryable(error) {
            return Err(StopReason::NotRetryable);
        }
        if self.cancel.is_cancelled() {
            return Err(StopReason::Cancelled);
        }
        let backoff = progress.backoff;
        let delays = progress.delays.get_or_insert_with(|| backoff.iter());
        let Some(mut delay) = delays.next() else {
            return Err(StopReason::Exhausted);
        };
        if let Some(hint) = self.hint.hint(error) {
            delay = backoff.cap_delay(hint);
        }
        if let (Some(budget), Some(elapsed)) = (backoff.max_elapsed(), elapsed()) {
            if elapsed.saturating_add(delay) > budget {
                return Err(StopReason::TimeBudget);
            }
        }
        // Last, so that a retry refused for another reason does not spend the shared budget.
        if !self.budget.try_withdraw() {
            return Err(StopReason::BudgetExhausted);
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
