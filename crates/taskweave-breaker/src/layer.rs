//! The breaker as a `tower` middleware.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::breaker::{Breaker, Permit};
use crate::classify::{Classify, FailOnErr};
use crate::error::{CallError, Rejected};

/// Wraps services in a [`BreakerService`] sharing one [`Breaker`].
///
/// Responses are classified by the breaker's classifier (see
/// [`Builder::classify`](crate::Builder::classify)), with `Result<S::Response, S::Error>` as its
/// input.
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
    C: Classify<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = CallError<S::Error>;
    type Future = ResponseFuture<S::Future, C>;

    /// Readiness is the inner service's: the breaker decides per call, so that a rejection is
    /// immediate instead of a service that never becomes ready.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(CallError::Operation)
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
    /// The response future of [`BreakerService`].
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
    C: Classify<T, E>,
{
    type Output = Result<T, CallError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(rejected) = this.rejected.take() {
            return Poll::Ready(Err(CallError::Rejected(rejected)));
        }
        let Some(inner) = this.inner.as_pin_mut() else {
            panic!("ResponseFuture polled after completion");
        };
        let result = std::task::ready!(inner.poll(cx));
        if let Some(permit) = this.permit.take() {
            permit.record_result(&result);
        }
        Poll::Ready(result.map_err(CallError::Operation))
    }
}
