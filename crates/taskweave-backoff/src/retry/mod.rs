//! Retrying an operation in one expression: `retry(policy, || op()).await`.
//!
//! This file holds the entry points and the [`Retry`] builder; `state.rs` the loop itself: its
//! state machine and its `Future` implementation.

mod state;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::blocking::RetryBlocking;
use crate::budget::RetryBudget;
use crate::policy::Backoff;
use crate::schedule::Hooks;
use crate::slot;

use state::State;
#[cfg(feature = "tower")]
pub(crate) use state::coop_proceed;

/// Retries the future made by `op` with `backoff` until it succeeds or a limit is reached.
///
/// Returns a [`Retry`] future that is also a builder: add a predicate, a hook, a server hint, a
/// cancellation token or a shared budget, then `.await` it. Its output is `Result<T, RetryError<E>>`; the
/// [`RetryError`](crate::RetryError) says why the loop stopped and how many attempts it made.
///
/// A call that succeeds at once pays for no clock read (unless the policy has a
/// [`max_elapsed`](crate::BackoffBuilder::max_elapsed) budget), no random number and no
/// allocation.
///
/// ```
/// use std::time::Duration;
/// use taskweave_backoff::{Backoff, StopReason, retry};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = Backoff::exponential(Duration::from_millis(10)).max_attempts(4).build().unwrap();
/// let mut calls = 0;
/// let result: Result<u32, _> = retry(policy, || {
///     calls += 1;
///     let n = calls;
///     async move { if n < 3 { Err("busy") } else { Ok(n) } }
/// })
/// .when(|e| *e == "busy")
/// .await;
/// assert_eq!(result, Ok(3));
///
/// let err = retry(policy, || async { Err::<(), _>("down") }).await.unwrap_err();
/// assert_eq!((err.reason(), err.attempts()), (StopReason::Exhausted, 4));
/// # }
/// ```
pub fn retry<F, Fut, T, E>(backoff: Backoff, op: F) -> Retry<F, Fut, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    Retry {
        op,
        backoff,
        hooks: Hooks::unset(),
        started: None,
        state: State::Start,
    }
}

/// Retries the blocking operation `op` with `backoff`, sleeping the thread between attempts.
///
/// Returns a [`RetryBlocking`] builder with the same options as [`Retry`]; finish it with
/// [`call`](RetryBlocking::call). A cancellation token wakes the sleeping thread at once.
///
/// ```
/// use std::time::Duration;
/// use taskweave_backoff::{Backoff, retry_blocking};
///
/// let policy = Backoff::constant(Duration::ZERO).max_attempts(5).build().unwrap();
/// let mut calls = 0;
/// let value = retry_blocking(policy, || {
///     calls += 1;
///     if calls < 3 { Err("not yet") } else { Ok(calls) }
/// })
/// .call();
/// assert_eq!(value, Ok(3));
/// ```
pub fn retry_blocking<F, T, E>(backoff: Backoff, op: F) -> RetryBlocking<F, E>
where
    F: FnMut() -> Result<T, E>,
{
    RetryBlocking::new(backoff, op)
}

/// `.retry(policy)` on anything [`retry`] accepts, such as an `async fn` item.
///
/// ```
/// use std::time::Duration;
/// use taskweave_backoff::{Backoff, RetryExt};
///
/// async fn fetch() -> Result<&'static str, std::io::Error> {
///     Ok("pong")
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let reply = fetch.retry(Backoff::default()).await.unwrap();
/// assert_eq!(reply, "pong");
/// # }
/// ```
pub trait RetryExt<Fut, T, E>: Sized {
    /// Same as [`retry(backoff, self)`](retry).
    fn retry(self, backoff: Backoff) -> Retry<Self, Fut, E>;
}

impl<F, Fut, T, E> RetryExt<Fut, T, E> for F
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    fn retry(self, backoff: Backoff) -> Retry<Self, Fut, E> {
        retry(backoff, self)
    }
}

pin_project! {
    /// A retry loop: configure it with the builder methods, then `.await` it; from [`retry`].
    ///
    /// The type parameters are the operation, its future, its error type, and the five
    /// [slots](crate::slot) the builder methods fill: predicate, hook, hint, cancellation token
    /// and budget, each `()` until set. Until the first failure the loop holds just the
    /// operation, the policy and the operation's future; the retry state (attempt count,
    /// delays, timer, cancellation waiter, last error) is allocated once, at the first failure.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the attempt in flight (if any) and makes no further attempt; the
    /// operation's own cancel safety decides what that attempt leaves behind.
    ///
    /// # Panics
    ///
    /// Sleeping for a non-zero delay needs a Tokio runtime with the time driver enabled (a zero
    /// delay retries at once, without a timer). Polling after completion
    /// panics (or, after a success, polls the operation's finished future again).
    #[must_use = "a retry loop does nothing until it is awaited"]
    pub struct Retry<
        F,
        Fut,
        E,
        W = (),
        N = (),
        H = (),
        C = (),
        B = (),
    > {
        op: F,
        backoff: Backoff,
        hooks: Hooks<W, N, H, C, B>,
        // When the first attempt began, kept only for a policy with a time budget.
        started: Option<Instant>,
        #[pin]
        state: State<Fut, E>,
    }
}

impl<F, Fut, E, W, N, H, C, B> Retry<F, Fut, E, W, N, H, C, B> {
    /// Retries only the errors for which `retryable` returns `true`; any other error is returned
    /// at once with [`StopReason::NotRetryable`](crate::StopReason::NotRetryable). By default
    /// every error is retried.
    pub fn when<W2>(self, retryable: W2) -> Retry<F, Fut, E, W2, N, H, C, B>
    where
        W2: FnMut(&E) -> bool,
    {
        self.map_hooks(|hooks| hooks.set_when(retryable))
    }

    /// Calls `hook(error, attempt, delay)` before each sleep, for logs and metrics: `attempt` is
    /// the 1-based number of the attempt that just failed, `delay` the sleep before the next.
    pub fn notify<N2>(self, hook: N2) -> Retry<F, Fut, E, W, N2, H, C, B>
    where
        N2: FnMut(&E, u32, Duration),
    {
        self.map_hooks(|hooks| hooks.set_notify(hook))
    }

    /// Lets the error choose the delay (a `Retry-After` header, a gRPC pushback): when `hint`
    /// returns `Some(delay)`, that delay replaces the policy's for this retry, without jitter
    /// but still clamped to the policy's [`max_delay`](crate::BackoffBuilder::max_delay) and
    /// time budget. The attempt still counts against `max_attempts`.
    pub fn retry_after<H2>(self, hint: H2) -> Retry<F, Fut, E, W, N, H2, C, B>
    where
        H2: FnMut(&E) -> Option<Duration>,
    {
        self.map_hooks(|hooks| hooks.set_hint(hint))
    }

    /// Stops retrying when `token` is cancelled: a graceful stop, the taskweave-wide meaning of
    /// a component's cancellation token.
    ///
    /// - A sleep in progress ends at once, with
    ///   [`StopReason::Cancelled`](crate::StopReason::Cancelled) and the error that was being
    ///   waited out.
    /// - An attempt in flight is left to finish: its success is returned as usual, and its
    ///   failure is returned with [`StopReason::Cancelled`](crate::StopReason::Cancelled)
    ///   instead of being retried. The operation owns its own cancellation: hand it the token
    ///   too if it should stop mid-call.
    /// - The first attempt always runs, even with a token cancelled beforehand.
    ///
    /// To abandon the attempt in flight as well, drop the loop (or race it against
    /// `token.cancelled()`).
    pub fn cancellation_token(
        self,
        token: CancellationToken,
    ) -> Retry<F, Fut, E, W, N, H, CancellationToken, B> {
        self.map_hooks(|hooks| hooks.set_cancel(token))
    }

    /// Spends one retry from the shared `budget` before each retry, and deposits into it on
    /// success; when it is empty the loop stops with
    /// [`StopReason::BudgetExhausted`](crate::StopReason::BudgetExhausted).
    pub fn budget(self, budget: RetryBudget) -> Retry<F, Fut, E, W, N, H, C, RetryBudget> {
        self.map_hooks(|hooks| hooks.set_budget(budget))
    }

    /// The same loop with its hooks changed by `change` (each builder method changes one).
    fn map_hooks<W2, N2, H2, C2, B2>(
        self,
        change: impl FnOnce(Hooks<W, N, H, C, B>) -> Hooks<W2, N2, H2, C2, B2>,
    ) -> Retry<F, Fut, E, W2, N2, H2, C2, B2> {
        Retry {
            op: self.op,
            backoff: self.backoff,
            hooks: change(self.hooks),
            started: self.started,
            state: self.state,
        }
    }
}

impl<F, Fut, E, W, N, H, C, B> fmt::Debug for Retry<F, Fut, E, W, N, H, C, B>
where
    C: slot::Cancel,
    B: slot::Budget,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("backoff", &self.backoff)
            .field("attempts", &self.state.attempts())
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}
