//! The breaker as a `tower` middleware: [`BreakerLayer`] and [`BreakerService`], whose error is
//! `tower::BoxError` so that it stacks with tower's own middleware.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower::{BoxError, Layer, Service};

use crate::breaker::{Breaker, Permit};
use crate::classify::{Classify, FailOnErr};
use crate::error::Rejected;

/// Wraps services in a [`BreakerService`] sharing one [`Breaker`].
///
/// The service's error is [`tower::BoxError`], like tower's own middleware, so the breaker
/// stacks with them in any order: a rejection is a boxed [`Rejected`], and the inner service's
/// errors pass through boxed as they are, each reachable with `downcast_ref`.
///
/// Responses are classified by the breaker's classifier (see
/// [`Builder::classify`](crate::Builder::classify)) with `Result<S::Response, BoxError>` as its
/// input; the default, [`FailOnErr`], counts every error as a failure. Classify errors by
/// downcasting them — for instance, to count tower's timeouts as failures and ignore a client
/// error of the inner service:
///
/// ```
/// use std::time::Duration;
/// use taskweave_breaker::{Breaker, BreakerLayer, Outcome, Rejected};
/// use tower::{BoxError, ServiceBuilder, ServiceExt, service_fn, timeout::error::Elapsed};
///
/// #[derive(Debug)]
/// struct BadRequest;
/// impl std::fmt::Display for BadRequest {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("bad request")
///     }
/// }
/// impl std::error::Error for BadRequest {}
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let breaker = Breaker::builder()
///     .classify(|result: &Result<String, BoxError>| match result {
///         Ok(_) => Outcome::Success,
///         Err(e) if e.is::<Elapsed>() => Outcome::Failure,
///         Err(e) if e.is::<BadRequest>() => Outcome::Ignored,
///         Err(_) => Outcome::Failure,
///     })
///     .build()?;
/// let service = ServiceBuilder::new()
///     .layer(BreakerLayer::new(breaker))
///     .timeout(Duration::from_secs(1))
///     .service(service_fn(|name: &'static str| async move {
///         if name.is_empty() { Err(BadRequest) } else { Ok(format!("hello, {name}")) }
///     }));
///
/// let error = service.oneshot("").await.unwrap_err();
/// assert!(error.is::<BadRequest>());
/// assert!(error.downcast_ref::<Rejected>().is_none());
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
#[derive(Debug, Clone)]
pub struct BreakerLayer<C = FailOnErr> {
    breaker: Breaker<C>,
}

impl<C> BreakerLayer<C> {
    /// A layer whose services all go through `breaker`.
    pub fn new(breaker: Breaker<C>) -> Self {
        BreakerLayer { breaker }
    }
}

impl<S, C> Layer<S> for BreakerLayer<C> {
    type Service = BreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        BreakerService::new(inner, self.breaker.clone())
    }
}

/// A service whose requests go through a [`Breaker`]: rejected while it is open, recorded
/// otherwise.
///
/// Its error is [`tower::BoxError`]: a boxed [`Rejected`] when the breaker did not admit the
/// request (`err.downcast_ref::<Rejected>()`), otherwise the inner service's error, boxed as it
/// is. See [`BreakerLayer`] for classifying errors by downcasting.
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
#[derive(Debug, Clone)]
pub struct BreakerService<S, C = FailOnErr> {
    inner: S,
    breaker: Breaker<C>,
}

impl<S, C> BreakerService<S, C> {
    /// Wraps `inner` in `breaker`.
    pub fn new(inner: S, breaker: Breaker<C>) -> Self {
        BreakerService { inner, breaker }
    }

    /// The breaker guarding the service.
    pub fn breaker(&self) -> &Breaker<C> {
        &self.breaker
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, C, Request> Service<Request> for BreakerService<S, C>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    /// Readiness is the inner service's: the breaker decides per call, so that a rejection is
    /// immediate instead of a service that never becomes ready.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.breaker.try_acquire() {
            Ok(permit) => ResponseFuture {
                inner: Some(self.inner.call(request)),
                permit: Some(permit),
                rejected: None,
            },
            Err(rejected) => ResponseFuture {
                inner: None,
                permit: None,
                rejected: Some(rejected),
            },
        }
    }
}

pin_project! {
    /// The response future of [`BreakerService`]: records the response's classified outcome
    /// on completion; dropped before that, it records nothing (a half-open trial slot is freed).
    ///
    /// # Panics
    ///
    /// When polled again after it completed, like most futures.
    #[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: Option<F>,
        permit: Option<Permit<C>>,
        rejected: Option<Rejected>,
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<T, BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(rejected) = this.rejected.take() {
            return Poll::Ready(Err(Box::new(rejected)));
        }
        let Some(inner) = this.inner.as_pin_mut() else {
            panic!("ResponseFuture polled after completion");
        };
        // Boxed before classifying, so the classifier sees what the caller will: one error type
        // whatever the inner service, downcastable to the inner error.
        let result = std::task::ready!(inner.poll(cx)).map_err(Into::into);
        if let Some(permit) = this.permit.take() {
            permit.record_result(&result);
        }
        Poll::Ready(result)
    }
}
