//! The retry loop's state machine: the first attempt inline, everything after a failure boxed
//! and out of line.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::Retry;
use crate::error::{RetryError, StopReason};
use crate::policy::Delays;
use crate::schedule::Progress;
use crate::slot;

pin_project! {
    /// Where a loop stands. One discriminant says it all, so that a call that succeeds at once
    /// writes one word of state besides the operation's future, and drops after one test.
    #[project = StateProj]
    pub(super) enum State<Fut, E> {
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
    pub(super) fn attempts(&self) -> u32 {
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
