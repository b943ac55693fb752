//! The response future of a [`RetryService`](super::RetryService): one call's retry loop.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tower::{BoxError, Service};

use crate::error::{GaveUp, StopReason};
use crate::policy::{Backoff, Delays};
use crate::schedule::{Hooks, Progress};

pin_project! {
    /// The response future of a [`RetryService`](super::RetryService): the retry loop of one
    /// call.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the call in flight and makes no further attempt.
    #[must_use = "futures do nothing unless polled"]
    pub struct RetryFuture<S, Req, W, N, H>
    where
        S: Service<Req>,
    {
        service: S,
        request: Req,
        hooks: Hooks<W, N, H>,
        backoff: Backoff,
        delays: Option<Delays>,
        attempts: u32,
        started: Option<Instant>,
        last_error: Option<BoxError>,
        #[pin]
        state: TowerState<S::Future>,
    }
}

pin_project! {
    #[project = TowerStateProj]
    enum TowerState<Fut> {
        Calling { #[pin] fut: Fut },
        Sleeping {
            #[pin] sleep: Sleep,
            #[pin] cancelled: Option<WaitForCancellationFutureOwned>,
        },
        // A zero delay: retry without a timer, after one unit of the task's cooperative budget.
        Immediate,
        Readying,
        Done,
    }
}

impl<S, Req, W, N, H> RetryFuture<S, Req, W, N, H>
where
    S: Service<Req>,
{
    /// The loop of a call whose first attempt, `fut`, is already running.
    pub(super) fn new(
        service: S,
        request: Req,
        hooks: Hooks<W, N, H>,
        backoff: Backoff,
        started: Option<Instant>,
        fut: S::Future,
    ) -> Self {
        Self {
            service,
            request,
            hooks,
            backoff,
            delays: None,
            attempts: 0,
            started,
            last_error: None,
            state: TowerState::Calling { fut },
        }
    }
}

impl<S, Req, W, N, H> fmt::Debug for RetryFuture<S, Req, W, N, H>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryFuture")
            .field("backoff", &self.backoff)
            .field("attempts", &self.attempts)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl<S, Req, W, N, H> Future for RetryFuture<S, Req, W, N, H>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Req: Clone,
    W: FnMut(&BoxError) -> bool,
    N: FnMut(&BoxError, u32, Duration),
    H: FnMut(&BoxError) -> Option<Duration>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            // Readiness failures go through the same decision as call failures: they are the
            // inner service's errors too.
            let result = match this.state.as_mut().project() {
                TowerStateProj::Calling { fut } => ready!(fut.poll(cx)),
                TowerStateProj::Readying => match ready!(this.service.poll_ready(cx)) {
                    Ok(()) => {
                        let fut = this.service.call(this.request.clone());
                        this.state.set(TowerState::Calling { fut });
                        continue;
                    }
                    Err(error) => Err(error),
                },
                TowerStateProj::Sleeping { sleep, cancelled } => {
                    if let Some(cancelled) = cancelled.as_pin_mut() {
                        if cancelled.poll(cx).is_ready() {
                            this.state.set(TowerState::Done);
                            let error = this
                                .last_error
                                .take()
                                .expect("a sleep always follows a failure");
                            let attempts = *this.attempts;
                            tracing::debug!(attempts, "retry cancelled while waiting");
                            return Poll::Ready(Err(give_up(
                                error,
                                StopReason::Cancelled,
                                attempts,
                            )));
                        }
                    }
                    ready!(sleep.poll(cx));
                    *this.last_error = None;
                    this.state.set(TowerState::Readying);
                    continue;
                }
                TowerStateProj::Immediate => {
                    ready!(crate::retry::coop_proceed(cx));
                    *this.last_error = None;
                    this.state.set(TowerState::Readying);
                    continue;
                }
                TowerStateProj::Done => panic!("RetryFuture polled after completion"),
            };
            *this.attempts = this.attempts.saturating_add(1);
            let attempts = *this.attempts;
            let error: BoxError = match result {
                Ok(response) => {
                    this.hooks.succeeded();
                    this.state.set(TowerState::Done);
                    return Poll::Ready(Ok(response));
                }
                Err(error) => error.into(),
            };
            let started = *this.started;
            let progress = Progress {
                backoff: this.backoff,
                delays: this.delays,
                attempts,
            };
            match this
                .hooks
                .decide(&error, progress, || started.map(|s| s.elapsed()))
            {
                Ok(delay) if delay.is_zero() => {
                    this.state.set(TowerState::Immediate);
                    *this.last_error = Some(error);
                }
                Ok(delay) => {
                    let cancelled = this
                        .hooks
                        .cancel
                        .clone()
                        .map(CancellationToken::cancelled_owned);
                    this.state.set(TowerState::Sleeping {
                        sleep: tokio::time::sleep(delay),
                        cancelled,
                    });
                    *this.last_error = Some(error);
                }
                Err(reason) => {
                    this.state.set(TowerState::Done);
                    return Poll::Ready(Err(give_up(error, reason, attempts)));
                }
            }
        }
    }
}

/// The service's error when the loop stops after `attempts` with `error`: the error as it is if
/// the predicate did not retry it, else a [`GaveUp`] around it.
fn give_up(error: BoxError, reason: StopReason, attempts: u32) -> BoxError {
    if reason == StopReason::NotRetryable {
        error
    } else {
        Box::new(GaveUp::new(error, reason, attempts))
    }
}
