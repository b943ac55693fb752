//! A tower `Layer` that retries a `Service` with a taskweave policy, predicate and budget.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tower::{Layer, Service};

use crate::budget::RetryBudget;
use crate::error::{RetryError, StopReason};
use crate::policy::{Backoff, Delays};
use crate::schedule::{Hooks, Progress};

/// Wraps a service in a [`RetryService`] that retries failed calls with a [`Backoff`].
///
/// The request must be `Clone` (each attempt sends a clone) and so must the service (a call
/// keeps its own handle for the retries). The predicate, hook and hint work as on
/// [`Retry`](crate::Retry), over the service's error type `E`; annotate the closure's argument
/// (`|e: &MyError| …`) since the layer does not know the service yet. Responses are never
/// retried: a service that reports failures in its responses (an HTTP 503) should turn them
/// into errors first.
///
/// ```
/// use std::time::Duration;
/// use taskweave_backoff::{Backoff, RetryLayer, StopReason};
/// use tower::{Layer, Service, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = Backoff::constant(Duration::from_millis(10)).max_attempts(3).build().unwrap();
/// let layer = RetryLayer::new(policy).when(|e: &&str| *e == "busy");
/// let mut svc = layer.layer(service_fn(|n: u32| async move {
///     if n == 0 { Err::<u32, _>("bad request") } else { Err("busy") }
/// }));
/// let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
/// assert_eq!((err.reason(), err.attempts()), (StopReason::Exhausted, 3));
/// let err = svc.ready().await.unwrap().call(0).await.unwrap_err();
/// assert_eq!((err.reason(), err.attempts()), (StopReason::NotRetryable, 1));
/// # }
/// ```
pub struct RetryLayer<
    E,
    W = fn(&E) -> bool,
    N = fn(&E, u32, Duration),
    H = fn(&E) -> Option<Duration>,
> {
    backoff: Backoff,
    hooks: Hooks<W, N, H>,
    error: PhantomData<fn(&E)>,
}

impl<E> RetryLayer<E> {
    /// A layer retrying every error with `backoff`.
    pub fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            hooks: Hooks::new(),
            error: PhantomData,
        }
    }
}

impl<E, W, N, H> RetryLayer<E, W, N, H> {
    /// Retries only the errors for which `retryable` returns `true`.
    pub fn when<W2>(self, retryable: W2) -> RetryLayer<E, W2, N, H>
    where
        W2: FnMut(&E) -> bool + Clone,
    {
        RetryLayer {
            backoff: self.backoff,
            hooks: self.hooks.set_when(retryable),
            error: PhantomData,
        }
    }

    /// Calls `hook(error, attempt, delay)` before each sleep.
    pub fn notify<N2>(self, hook: N2) -> RetryLayer<E, W, N2, H>
    where
        N2: FnMut(&E, u32, Duration) + Clone,
    {
        RetryLayer {
            backoff: self.backoff,
            hooks: self.hooks.set_notify(hook),
            error: PhantomData,
        }
    }

    /// Lets the error choose the delay, still clamped to the policy's cap and time budget.
    pub fn retry_after<H2>(self, hint: H2) -> RetryLayer<E, W, N, H2>
    where
        H2: FnMut(&E) -> Option<Duration> + Clone,
    {
        RetryLayer {
            backoff: self.backoff,
            hooks: self.hooks.set_hint(hint),
            error: PhantomData,
        }
    }

    /// Stops retrying (and ends waits at once) when `token` is cancelled.
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.hooks.cancel = Some(token);
        self
    }

    /// Spends from, and deposits into, a shared retry budget.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.hooks.budget = Some(budget);
        self
    }
}

impl<E, W: Clone, N: Clone, H: Clone> Clone for RetryLayer<E, W, N, H> {
    fn clone(&self) -> Self {
        Self {
            backoff: self.backoff,
            hooks: self.hooks.clone(),
            error: PhantomData,
        }
    }
}

impl<E, W, N, H> fmt::Debug for RetryLayer<E, W, N, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("backoff", &self.backoff)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl<S, E, W: Clone, N: Clone, H: Clone> Layer<S> for RetryLayer<E, W, N, H> {
    type Service = RetryService<S, E, W, N, H>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            backoff: self.backoff,
            hooks: self.hooks.clone(),
            error: PhantomData,
        }
    }
}

/// A service that retries failed calls of its inner service; made by [`RetryLayer`].
pub struct RetryService<S, E, W, N, H> {
    inner: S,
    backoff: Backoff,
    hooks: Hooks<W, N, H>,
    error: PhantomData<fn(&E)>,
}

impl<S, E, W, N, H> RetryService<S, E, W, N, H> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Takes the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, E, W: Clone, N: Clone, H: Clone> Clone for RetryService<S, E, W, N, H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            backoff: self.backoff,
            hooks: self.hooks.clone(),
            error: PhantomData,
        }
    }
}

impl<S: fmt::Debug, E, W, N, H> fmt::Debug for RetryService<S, E, W, N, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryService")
            .field("inner", &self.inner)
            .field("backoff", &self.backoff)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl<S, Req, E, W, N, H> Service<Req> for RetryService<S, E, W, N, H>
where
    S: Service<Req, Error = E> + Clone,
    Req: Clone,
    W: FnMut(&E) -> bool + Clone,
    N: FnMut(&E, u32, Duration) + Clone,
    H: FnMut(&E) -> Option<Duration> + Clone,
{
    type Response = S::Response;
    type Error = RetryError<E>;
    type Future = ResponseFuture<S, Req, W, N, H>;

    /// An error here is the inner service's, with no attempt made:
    /// [`StopReason::NotRetryable`] and [`attempts`](RetryError::attempts) `== 0`.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|e| RetryError::new(e, StopReason::NotRetryable, 0))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        // Call the instance that was polled ready; keep a clone in its place for the next call.
        let clone = self.inner.clone();
        let mut service = std::mem::replace(&mut self.inner, clone);
        let fut = service.call(request.clone());
        ResponseFuture {
            service,
            request,
            hooks: self.hooks.clone(),
            backoff: self.backoff,
            delays: None,
            attempts: 0,
            started: self.backoff.max_elapsed().map(|_| Instant::now()),
            last_error: None,
            state: TowerState::Calling { fut },
        }
    }
}

pin_project! {
    /// The response future of a [`RetryService`].
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the call in flight and makes no further attempt.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<S, Req, W, N, H>
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
        last_error: Option<S::Error>,
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

impl<S, Req, W, N, H> fmt::Debug for ResponseFuture<S, Req, W, N, H>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("backoff", &self.backoff)
            .field("attempts", &self.attempts)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl<S, Req, E, W, N, H> Future for ResponseFuture<S, Req, W, N, H>
where
    S: Service<Req, Error = E>,
    Req: Clone,
    W: FnMut(&E) -> bool,
    N: FnMut(&E, u32, Duration),
    H: FnMut(&E) -> Option<Duration>,
{
    type Output = Result<S::Response, RetryError<E>>;

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
                            return Poll::Ready(Err(RetryError::new(
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
                TowerStateProj::Done => panic!("ResponseFuture polled after completion"),
            };
            *this.attempts = this.attempts.saturating_add(1);
            let attempts = *this.attempts;
            let error = match result {
                Ok(response) => {
                    this.hooks.succeeded();
                    this.state.set(TowerState::Done);
                    return Poll::Ready(Ok(response));
                }
                Err(error) => error,
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
                    return Poll::Ready(Err(RetryError::new(error, reason, attempts)));
                }
            }
        }
    }
}
