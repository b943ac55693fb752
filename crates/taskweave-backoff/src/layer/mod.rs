//! A tower `Layer` that retries a `Service` with a taskweave policy, predicate and budget.
//!
//! `mod.rs` holds the layer and the service, `future.rs` the response future that runs the
//! retry loop of one call.

mod future;

use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::{BoxError, Layer, Service};

pub use future::RetryFuture;

use crate::budget::RetryBudget;
use crate::policy::Backoff;
use crate::schedule::Hooks;

/// Wraps a service in a [`RetryService`] that retries failed calls with a [`Backoff`].
///
/// The request must be `Clone` (each attempt sends a clone) and so must the service (a call
/// keeps its own handle for the retries). The inner service's error must convert into a
/// [`BoxError`], and the service's error is a `BoxError`, like tower's own middleware, so that
/// it stacks with `Timeout`, `Buffer`, `ConcurrencyLimit` and the other taskweave layers:
///
/// - an error that is not retried (the predicate said no, or the inner service's `poll_ready`
///   failed before the first call) passes through **as it is**, so
///   `err.downcast_ref::<tower::timeout::error::Elapsed>()` still finds an inner timeout;
/// - a call that was retried and then given up on fails with a [`GaveUp`](crate::GaveUp)
///   (`err.downcast_ref::<GaveUp>()`), which says why ([`StopReason`](crate::StopReason)) and
///   after how many attempts, and holds the last inner error as its
///   [`source`](std::error::Error::source) and [`error`](crate::GaveUp::error).
///
/// The predicate, hook and hint work as on [`Retry`](crate::Retry), over that `&BoxError`:
/// classify by downcasting (`|e: &BoxError| e.is::<Elapsed>()`), as a `BoxError` can be any
/// inner error. Responses are never retried: a service that reports failures in its responses
/// (an HTTP 503) should turn them into errors first.
///
/// ```
/// use std::time::Duration;
/// use taskweave_backoff::{Backoff, GaveUp, RetryLayer, StopReason};
/// use tower::{BoxError, Layer, Service, ServiceExt, service_fn};
///
/// #[derive(Debug, PartialEq)]
/// struct Busy;
/// impl std::fmt::Display for Busy {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("busy: try again later")
///     }
/// }
/// impl std::error::Error for Busy {}
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = Backoff::constant(Duration::from_millis(10)).max_attempts(3).build().unwrap();
/// let layer = RetryLayer::new(policy).when(|e: &BoxError| e.is::<Busy>());
/// let mut svc = layer.layer(service_fn(|n: u32| async move {
///     if n == 0 { Err::<u32, BoxError>("bad request".into()) } else { Err(Busy.into()) }
/// }));
///
/// let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
/// let gave_up = err.downcast_ref::<GaveUp>().expect("retried, then gave up");
/// assert_eq!((gave_up.reason(), gave_up.attempts()), (StopReason::Exhausted, 3));
/// assert!(gave_up.error().is::<Busy>());
///
/// // Not retryable: the inner error comes back as it is.
/// let err = svc.ready().await.unwrap().call(0).await.unwrap_err();
/// assert_eq!(err.to_string(), "bad request");
/// # }
/// ```
pub struct RetryLayer<
    W = fn(&BoxError) -> bool,
    N = fn(&BoxError, u32, Duration),
    H = fn(&BoxError) -> Option<Duration>,
> {
    backoff: Backoff,
    hooks: Hooks<W, N, H>,
}

impl RetryLayer {
    /// A layer retrying every error with `backoff`.
    pub fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            hooks: Hooks::new(),
        }
    }
}

impl<W, N, H> RetryLayer<W, N, H> {
    /// Retries only the errors for which `retryable` returns `true`; any other error passes
    /// through as it is. Classify by downcasting the [`BoxError`]:
    ///
    /// ```text
    /// |e: &BoxError| e.is::<Elapsed>() || e.downcast_ref().is_some_and(MyError::is_transient)
    /// ```
    pub fn when<W2>(self, retryable: W2) -> RetryLayer<W2, N, H>
    where
        W2: FnMut(&BoxError) -> bool + Clone,
    {
        RetryLayer {
            backoff: self.backoff,
            hooks: self.hooks.set_when(retryable),
        }
    }

    /// Calls `hook(error, attempt, delay)` before each sleep.
    pub fn notify<N2>(self, hook: N2) -> RetryLayer<W, N2, H>
    where
        N2: FnMut(&BoxError, u32, Duration) + Clone,
    {
        RetryLayer {
            backoff: self.backoff,
            hooks: self.hooks.set_notify(hook),
        }
    }

    /// Lets the error choose the delay, still clamped to the policy's cap and time budget.
    pub fn retry_after<H2>(self, hint: H2) -> RetryLayer<W, N, H2>
    where
        H2: FnMut(&BoxError) -> Option<Duration> + Clone,
    {
        RetryLayer {
            backoff: self.backoff,
            hooks: self.hooks.set_hint(hint),
        }
    }

    /// Stops retrying when `token` is cancelled, gracefully, as
    /// [`Retry::cancellation_token`](crate::Retry::cancellation_token) does: a wait ends at once
    /// and a call in flight is left to finish. A failure the token stopped from being retried
    /// is a [`GaveUp`](crate::GaveUp) whose reason is
    /// [`StopReason::Cancelled`](crate::StopReason::Cancelled).
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.hooks.cancel = Some(token);
        self
    }

    /// Spends from, and deposits into, a shared retry budget.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.hooks.budget = Some(budget);
        self
    }
}

impl<W: Clone, N: Clone, H: Clone> Clone for RetryLayer<W, N, H> {
    fn clone(&self) -> Self {
        Self {
            backoff: self.backoff,
            hooks: self.hooks.clone(),
        }
    }
}

impl<W, N, H> fmt::Debug for RetryLayer<W, N, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("backoff", &self.backoff)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl<S, W: Clone, N: Clone, H: Clone> Layer<S> for RetryLayer<W, N, H> {
    type Service = RetryService<S, W, N, H>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            backoff: self.backoff,
            hooks: self.hooks.clone(),
        }
    }
}

/// A service that retries failed calls of its inner service; made by [`RetryLayer`], whose
/// documentation says which errors come back as they are and which as a
/// [`GaveUp`](crate::GaveUp).
pub struct RetryService<
    S,
    W = fn(&BoxError) -> bool,
    N = fn(&BoxError, u32, Duration),
    H = fn(&BoxError) -> Option<Duration>,
> {
    inner: S,
    backoff: Backoff,
    hooks: Hooks<W, N, H>,
}

impl<S, W, N, H> RetryService<S, W, N, H> {
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

impl<S: Clone, W: Clone, N: Clone, H: Clone> Clone for RetryService<S, W, N, H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            backoff: self.backoff,
            hooks: self.hooks.clone(),
        }
    }
}

impl<S: fmt::Debug, W, N, H> fmt::Debug for RetryService<S, W, N, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryService")
            .field("inner", &self.inner)
            .field("backoff", &self.backoff)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl<S, Req, W, N, H> Service<Req> for RetryService<S, W, N, H>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    Req: Clone,
    W: FnMut(&BoxError) -> bool + Clone,
    N: FnMut(&BoxError, u32, Duration) + Clone,
    H: FnMut(&BoxError) -> Option<Duration> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = RetryFuture<S, Req, W, N, H>;

    /// An error here is the inner service's, before any call, passed through as it is.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        // Call the instance that was polled ready; keep a clone in its place for the next call.
        let clone = self.inner.clone();
        let mut service = std::mem::replace(&mut self.inner, clone);
        let fut = service.call(request.clone());
        let started = self.backoff.max_elapsed().map(|_| Instant::now());
        RetryFuture::new(
            service,
            request,
            self.hooks.clone(),
            self.backoff,
            started,
            fut,
        )
    }
}
