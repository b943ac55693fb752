//! Retrying an operation in one expression: `retry(policy, || op()).await`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::blocking::RetryBlocking;
use crate::budget::RetryBudget;
use crate::error::{RetryError, StopReason};
use crate::policy::{Backoff, Delays};
use crate::schedule::{Hooks, Progress};
use crate::slot;

/// Retries the future made by `op` with `backoff` until it succeeds or a limit is reached.
///
/// Returns a [`Retry`] future that is also a builder: add a predicate, a hook, a server hint, a
/// cancellation token or a shared budget, then `.await` it. Its output is `Result<T, RetryError<E>>`; the
/// [`RetryError`] says why the loop stopped and how many attempts it made.
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

pin_project! {
    /// Where a loop stands. One discriminant says it all, so that a call that succeeds at once
    /// writes one word of state besides the operation's future, and drops after one test.
    #[project = StateProj]
    enum State<Fut, E> {
        /// Not polled yet.
        Start,
        /// The first attempt is running (or, after a success, finished).
        First {
            #[pin]
            attempt: Fut,
        },
        /// An attempt failed: everything a loop needs from then on, boxed.
        Retrying {
            retrying: AfterFailure<Fut, E>,
        },
        /// The first attempt failed and was not retried.
        Done,
    }
}

pin_project! {
    /// What a loop needs once it has failed.
    struct Retrying<Fut, E> {
        #[pin]
        attempt: Option<Fut>,
        attempts: u32,
        delays: Option<Delays>,
        // Armed at the first non-zero delay and reset for the later ones: a zero delay retries
        // at once, without a timer (which would round it up to the next millisecond tick).
        #[pin]
        sleep: Option<Sleep>,
        // The current wait is a zero delay.
        immediate: bool,
        #[pin]
        cancelled: Option<WaitForCancellationFutureOwned>,
        // The failure being waited out, handed back if the wait is cancelled.
        error: Option<E>,
    }
}

impl<Fut, E> State<Fut, E> {
    /// Attempts finished or running, for `Debug`.
    fn attempts(&self) -> u32 {
        match self {
            State::Start => 0,
            State::First { .. } | State::Done => 1,
            State::Retrying { retrying } => retrying.0.as_ref().map_or(0, |r| r.attempts),
        }
    }
}

/// The retry state, boxed at the first failure (and only `None` once dropped).
///
/// Its own type only so that its drop can be kept out of line: the loop's state then drops in
/// a test the compiler can fold, instead of a call into the timer's drop code.
struct AfterFailure<Fut, E>(Option<Pin<Box<Retrying<Fut, E>>>>);

impl<Fut, E> Drop for AfterFailure<Fut, E> {
    #[inline]
    fn drop(&mut self) {
        #[cold]
        #[inline(never)]
        fn drop_retrying<T>(retrying: T) {
            drop(retrying);
        }

        if let Some(retrying) = self.0.take() {
            drop_retrying(retrying);
        }
    }
}

impl<F, Fut, E, W, N, H, C, B> Retry<F, Fut, E, W, N, H, C, B> {
    /// Retries only the errors for which `retryable` returns `true`; any other error is returned
    /// at once with [`StopReason::NotRetryable`]. By default every error is retried.
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

    /// Stops retrying when `token` is cancelled: a sleep in progress ends at once, and a failure
    /// seen after cancellation is returned instead of retried, both with
    /// [`StopReason::Cancelled`]. An attempt already running is left to finish (the operation
    /// owns its own cancellation), and the first attempt always runs.
    pub fn cancel_on(
        self,
        token: CancellationToken,
    ) -> Retry<F, Fut, E, W, N, H, CancellationToken, B> {
        self.map_hooks(|hooks| hooks.set_cancel(token))
    }

    /// Spends one retry from the shared `budget` before each retry, and deposits into it on
    /// success; when it is empty the loop stops with [`StopReason::BudgetExhausted`].
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

impl<F, Fut, T, E, W, N, H, C, B> Future for Retry<F, Fut, E, W, N, H, C, B>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    W: slot::When<E>,
    N: slot::Notify<E>,
    H: slot::Hint<E>,
    C: slot::Cancel,
    B: slot::Budget,
{
    type Output = Result<T, RetryError<E>>;

    // The first attempt, inlined into the caller: until an attempt fails, a retry loop is the
    // operation's future. Everything after a failure is out of line, so that it costs the
    // common case neither code size nor registers.
    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.as_mut().project();
        if let StateProj::Start = this.state.as_mut().project() {
            // First poll: only now does the loop read the clock (if it has a time budget) and
            // start the first attempt.
            if this.backoff.max_elapsed().is_some() {
                *this.started = Some(Instant::now());
            }
            let attempt = (this.op)();
            this.state.set(State::First { attempt });
        }
        let attempt = match this.state.project() {
            StateProj::First { attempt } => attempt,
            StateProj::Retrying { .. } => return self.poll_retrying(cx),
            StateProj::Start | StateProj::Done => panic!("Retry polled after completion"),
        };
        match ready!(attempt.poll(cx)) {
            Ok(value) => {
                // The finished attempt stays in place until the loop is dropped: one write
                // less on the path every call takes.
                this.hooks.succeeded();
                Poll::Ready(Ok(value))
            }
            Err(error) => self.first_failed(cx, error),
        }
    }
}

impl<F, Fut, T, E, W, N, H, C, B> Retry<F, Fut, E, W, N, H, C, B>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    W: slot::When<E>,
    N: slot::Notify<E>,
    H: slot::Hint<E>,
    C: slot::Cancel,
    B: slot::Budget,
{
    /// The first attempt failed with `error`: give up, or box the retry state and wait.
    #[cold]
    #[inline(never)]
    fn first_failed(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        error: E,
    ) -> Poll<Result<T, RetryError<E>>> {
        let mut this = self.as_mut().project();
        let started = *this.started;
        // Decided before boxing anything, so that a loop that gives up at once never allocates.
        let mut delays = None;
        let progress = Progress {
            backoff: this.backoff,
            delays: &mut delays,
            attempts: 1,
        };
        match this
            .hooks
            .decide(&error, progress, || started.map(|s| s.elapsed()))
        {
            Ok(delay) => {
                let immediate = delay.is_zero();
                let retrying = Retrying {
                    attempt: None,
                    attempts: 1,
                    delays,
                    sleep: (!immediate).then(|| tokio::time::sleep(delay)),
                    immediate,
                    cancelled: this.hooks.cancel.waiter(),
                    error: Some(error),
                };
                this.state.set(State::Retrying {
                    retrying: AfterFailure(Some(Box::pin(retrying))),
                });
                self.poll_retrying(cx)
            }
            Err(reason) => {
                this.state.set(State::Done);
                Poll::Ready(Err(RetryError::new(error, reason, 1)))
            }
        }
    }

    /// The loop after its first failure: waiting out a delay, or running a retry.
    #[cold]
    #[inline(never)]
    fn poll_retrying(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, RetryError<E>>> {
        let this = self.project();
        let StateProj::Retrying {
            retrying: AfterFailure(Some(retrying)),
        } = this.state.project()
        else {
            unreachable!("only a loop that failed retries");
        };
        let mut retrying = retrying.as_mut().project();
        loop {
            if let Some(attempt) = retrying.attempt.as_mut().as_pin_mut() {
                let result = ready!(attempt.poll(cx));
                *retrying.attempts = retrying.attempts.saturating_add(1);
                let error = match result {
                    Ok(value) => {
                        this.hooks.succeeded();
                        return Poll::Ready(Ok(value));
                    }
                    Err(error) => error,
                };
                retrying.attempt.set(None);
                let attempts = *retrying.attempts;
                let started = *this.started;
                let progress = Progress {
                    backoff: this.backoff,
                    delays: retrying.delays,
                    attempts,
                };
                match this
                    .hooks
                    .decide(&error, progress, || started.map(|s| s.elapsed()))
                {
                    Ok(delay) => {
                        *retrying.immediate = delay.is_zero();
                        if !delay.is_zero() {
                            match retrying.sleep.as_mut().as_pin_mut() {
                                Some(sleep) => sleep.reset(deadline(delay)),
                                None => retrying.sleep.set(Some(tokio::time::sleep(delay))),
                            }
                        }
                        *retrying.error = Some(error);
                    }
                    Err(reason) => {
                        return Poll::Ready(Err(RetryError::new(error, reason, attempts)));
                    }
                }
            }
            // Waiting out the delay after a failure.
            if retrying.error.is_none() {
                panic!("Retry polled after completion");
            }
            if let Some(cancelled) = retrying.cancelled.as_mut().as_pin_mut() {
                if cancelled.poll(cx).is_ready() {
                    let attempts = *retrying.attempts;
                    tracing::debug!(attempts, "retry cancelled while waiting");
                    let error = retrying.error.take().expect("checked above");
                    return Poll::Ready(Err(RetryError::new(
                        error,
                        StopReason::Cancelled,
                        attempts,
                    )));
                }
            }
            if *retrying.immediate {
                // No timer, but still a turn of the task's cooperative budget, as a timer would
                // have taken: a long run of immediate failures yields to the scheduler now and
                // then instead of starving the other tasks of its thread.
                ready!(coop_proceed(cx));
            } else if let Some(sleep) = retrying.sleep.as_mut().as_pin_mut() {
                ready!(sleep.poll(cx));
            }
            *retrying.error = None;
            retrying.attempt.set(Some((this.op)()));
        }
    }
}

/// One unit of tokio's cooperative budget: `Pending` (with a wake-up scheduled) once the task
/// has used up its budget for this poll; always `Ready` outside a Tokio runtime.
#[inline]
pub(crate) fn coop_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let progress = ready!(tokio::task::coop::poll_proceed(cx));
    progress.made_progress();
    Poll::Ready(())
}

/// When a sleep of `delay` from now ends, saturating far in the future like `tokio::time::sleep`.
fn deadline(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}
