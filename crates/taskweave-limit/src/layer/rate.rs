//! [`RateLimitLayer`] and [`RateLimitService`]: a [`RateLimiter`] in front of a service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower::{BoxError, Layer, Service};

use super::WhenLimited;
use super::future::ResponseFuture;
use crate::error::{Closed, Limited};
use crate::rate::{RateLimiter, Reservation};
use taskweave_clock::{Clock, DefaultClock};

/// Applies a [`RateLimiter`] to a service; see [`RateLimitService`].
#[derive(Debug)]
pub struct RateLimitLayer<C: Clock = DefaultClock> {
    limiter: RateLimiter<C>,
    when: WhenLimited,
}

impl<C: Clock> Clone for RateLimitLayer<C> {
    fn clone(&self) -> Self {
        Self {
            limiter: self.limiter.clone(),
            when: self.when,
        }
    }
}

impl<C: Clock> RateLimitLayer<C> {
    /// A layer whose services wait in `poll_ready` until `limiter` admits a request.
    pub fn new(limiter: RateLimiter<C>) -> Self {
        Self {
            limiter,
            when: WhenLimited::Wait,
        }
    }

    /// A layer whose services fail requests `limiter` does not admit now, with
    /// [`Limited::Rate`] (and carrying the retry-after).
    pub fn rejecting(limiter: RateLimiter<C>) -> Self {
        Self {
            limiter,
            when: WhenLimited::Reject,
        }
    }
}

impl<S, C: Clock> Layer<S> for RateLimitLayer<C> {
    type Service = RateLimitService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limiter: self.limiter.clone(),
            when: self.when,
            state: Reserve::Idle,
        }
    }
}

/// A service limited by a [`RateLimiter`].
///
/// Waiting mode ([`RateLimitLayer::new`]): `poll_ready` is pending until the limiter admits a
/// permit (queued fairly with every other waiter of the limiter), then until the inner
/// service is ready; `call` spends that permit. A permit reserved by `poll_ready` and never
/// used (the service dropped before `call`) stays spent, as with tower's `RateLimit`.
/// Rejecting mode ([`RateLimitLayer::rejecting`]): `poll_ready` is the inner service's, and
/// `call` fails with a boxed [`Limited::Rate`] when the limiter does not admit the request.
///
/// Once the limiter is closed, `poll_ready` is ready and `call` fails with a boxed [`Closed`].
/// A `call` without a permit reserved (`poll_ready` not called first) is decided as in
/// rejecting mode rather than waiting.
pub struct RateLimitService<S, C: Clock = DefaultClock> {
    inner: S,
    limiter: RateLimiter<C>,
    when: WhenLimited,
    state: Reserve<C>,
}

/// Where a waiting service stands with its next request's permit.
enum Reserve<C: Clock> {
    Idle,
    Waiting(Reservation<C>),
    Reserved,
    Closed,
}

impl<S: Clone, C: Clock> Clone for RateLimitService<S, C> {
    /// A clone shares the limiter but not a permit reserved by this service.
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            when: self.when,
            state: Reserve::Idle,
        }
    }
}

impl<S: fmt::Debug, C: Clock> fmt::Debug for RateLimitService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            Reserve::Idle => "idle",
            Reserve::Waiting(_) => "waiting",
            Reserve::Reserved => "reserved",
            Reserve::Closed => "closed",
        };
        f.debug_struct("RateLimitService")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .field("when", &self.when)
            .field("state", &state)
            .finish()
    }
}

impl<S, C: Clock> RateLimitService<S, C> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service (a reserved permit stays spent).
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The decision of a rejecting layer, and of a `call` without a reserved permit.
    fn admit_now(&self) -> Result<(), BoxError> {
        if self.limiter.is_closed() {
            return Err(Closed.into());
        }
        self.limiter
            .check()
            .map_err(|retry| Limited::from(retry).into())
    }
}

impl<S, C, R> Service<R> for RateLimitService<S, C>
where
    S: Service<R>,
    S::Error: Into<BoxError>,
    C: Clock,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.when == WhenLimited::Wait {
            loop {
                match &mut self.state {
                    Reserve::Idle if self.limiter.try_admit_fair() => {
                        self.state = Reserve::Reserved;
                    }
                    Reserve::Idle => self.state = Reserve::Waiting(self.limiter.reserve()),
                    Reserve::Waiting(wait) => match Pin::new(wait).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(())) => self.state = Reserve::Reserved,
                        Poll::Ready(Err(Closed)) => self.state = Reserve::Closed,
                    },
                    Reserve::Reserved => break,
                    // `call` reports it; the inner service is not asked to be ready.
                    Reserve::Closed => return Poll::Ready(Ok(())),
                }
            }
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        match std::mem::replace(&mut self.state, Reserve::Idle) {
            Reserve::Reserved => ResponseFuture::calling(self.inner.call(req), None),
            Reserve::Closed => {
                self.state = Reserve::Closed;
                ResponseFuture::failed(Closed)
            }
            Reserve::Idle | Reserve::Waiting(_) => match self.admit_now() {
                Ok(()) => ResponseFuture::calling(self.inner.call(req), None),
                Err(e) => ResponseFuture::failed(e),
            },
        }
    }
}
