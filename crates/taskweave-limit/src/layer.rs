//! `tower` layers for rate, keyed rate and concurrency limits.
//!
//! Every layer and service is `Clone` and shares its limiter between clones. Each works in one
//! of two modes ([`WhenLimited`]): wait until the request is admitted (in arrival order), or
//! fail the request at once with a [`Limited`] error (boxed into `tower::BoxError`) that
//! carries the retry-after duration for rate limits.
//!
//! The limiter's metrics say which happened: a request a waiting layer makes wait counts in
//! `waited` (and, once through, `admitted`), never in `rejected`, and does not trigger the
//! "limiter started rejecting" event; only a rejecting layer's refusals do.
//!
//! Limiting happens in `call`, after the inner service is ready: when a request must wait,
//! the ready service moves into the response future and a clone takes its place (the usual
//! tower pattern, hence `S: Clone`).

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tower::{BoxError, Layer, Service};

use crate::clock::{Clock, TokioClock};
use crate::concurrency::{ConcurrencyLimit, ConcurrencyPermit};
use crate::error::Limited;
use crate::keyed::KeyedRateLimiter;
use crate::rate::RateLimiter;

/// What a layer does with a request its limit does not admit now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenLimited {
    /// Wait until it is admitted (the default).
    #[default]
    Wait,
    /// Fail it at once with a [`Limited`] error.
    Reject,
}

type Admission = Pin<Box<dyn Future<Output = Option<ConcurrencyPermit>> + Send>>;

/// Applies a [`RateLimiter`] to a service.
#[derive(Debug)]
pub struct RateLimitLayer<C: Clock = TokioClock> {
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
    /// A layer that waits for `limiter` to admit each request.
    pub fn new(limiter: RateLimiter<C>) -> Self {
        Self {
            limiter,
            when: WhenLimited::Wait,
        }
    }

    /// A layer that fails requests `limiter` does not admit now, with [`Limited::Rate`].
    pub fn rejecting(limiter: RateLimiter<C>) -> Self {
        Self {
            limiter,
            when: WhenLimited::Reject,
        }
    }
}

impl<S, C: Clock> Layer<S> for RateLimitLayer<C> {
    type Service = RateLimit<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            limiter: self.limiter.clone(),
            when: self.when,
        }
    }
}

/// A service limited by a [`RateLimiter`]; see [`RateLimitLayer`].
#[derive(Debug)]
pub struct RateLimit<S, C: Clock = TokioClock> {
    inner: S,
    limiter: RateLimiter<C>,
    when: WhenLimited,
}

impl<S: Clone, C: Clock> Clone for RateLimit<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            when: self.when,
        }
    }
}

impl<S, C: Clock> RateLimit<S, C> {
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

impl<S, C, R> Service<R> for RateLimit<S, C>
where
    S: Service<R> + Clone,
    S::Error: Into<BoxError>,
    C: Clock,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, S, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        match self.when {
            WhenLimited::Reject => match self.limiter.check() {
                Ok(()) => ResponseFuture::calling(self.inner.call(req), None),
                Err(retry) => ResponseFuture::rejected(retry.into()),
            },
            WhenLimited::Wait => {
                if self.limiter.try_admit_fair() {
                    return ResponseFuture::calling(self.inner.call(req), None);
                }
                let limiter = self.limiter.clone();
                let admission: Admission = Box::pin(async move {
                    limiter.acquire().await;
                    None
                });
                ResponseFuture::admitting(admission, take_ready(&mut self.inner), req)
            }
        }
    }
}

/// Applies a [`KeyedRateLimiter`] to a service, keying each request with a function.
pub struct KeyedRateLimitLayer<K, F, C: Clock = TokioClock, H = std::hash::RandomState> {
    limiter: KeyedRateLimiter<K, C, H>,
    key: F,
    when: WhenLimited,
}

impl<K, F: Clone, C: Clock, H> Clone for KeyedRateLimitLayer<K, F, C, H> {
    fn clone(&self) -> Self {
        Self {
            limiter: self.limiter.clone(),
            key: self.key.clone(),
            when: self.when,
        }
    }
}

impl<K, F, C: Clock, H> fmt::Debug for KeyedRateLimitLayer<K, F, C, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitLayer")
            .field("limiter", &self.limiter)
            .field("when", &self.when)
            .finish_non_exhaustive()
    }
}

impl<K, F, C: Clock, H> KeyedRateLimitLayer<K, F, C, H> {
    /// A layer that waits for `limiter` to admit each request under the key `key(&request)`.
    pub fn new(limiter: KeyedRateLimiter<K, C, H>, key: F) -> Self {
        Self {
            limiter,
            key,
            when: WhenLimited::Wait,
        }
    }

    /// A layer that fails requests whose key is over its rate, with [`Limited::Rate`].
    pub fn rejecting(limiter: KeyedRateLimiter<K, C, H>, key: F) -> Self {
        Self {
            limiter,
            key,
            when: WhenLimited::Reject,
        }
    }
}

impl<S, K, F: Clone, C: Clock, H> Layer<S> for KeyedRateLimitLayer<K, F, C, H> {
    type Service = KeyedRateLimit<S, K, F, C, H>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedRateLimit {
            inner,
            limiter: self.limiter.clone(),
            key: self.key.clone(),
            when: self.when,
        }
    }
}

/// A service limited per key by a [`KeyedRateLimiter`]; see [`KeyedRateLimitLayer`].
pub struct KeyedRateLimit<S, K, F, C: Clock = TokioClock, H = std::hash::RandomState> {
    inner: S,
    limiter: KeyedRateLimiter<K, C, H>,
    key: F,
    when: WhenLimited,
}

impl<S: Clone, K, F: Clone, C: Clock, H> Clone for KeyedRateLimit<S, K, F, C, H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            key: self.key.clone(),
            when: self.when,
        }
    }
}

impl<S: fmt::Debug, K, F, C: Clock, H> fmt::Debug for KeyedRateLimit<S, K, F, C, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimit")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .field("when", &self.when)
            .finish_non_exhaustive()
    }
}

impl<S, K, F, C: Clock, H> KeyedRateLimit<S, K, F, C, H> {
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

impl<S, K, F, C, H, R> Service<R> for KeyedRateLimit<S, K, F, C, H>
where
    S: Service<R> + Clone,
    S::Error: Into<BoxError>,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    F: Fn(&R) -> K,
    C: Clock,
    H: BuildHasher + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, S, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let key = (self.key)(&req);
        match self.when {
            WhenLimited::Reject => match self.limiter.check_key(&key) {
                Ok(()) => ResponseFuture::calling(self.inner.call(req), None),
                Err(retry) => ResponseFuture::rejected(retry.into()),
            },
            WhenLimited::Wait if self.limiter.try_admit_key(&key) => {
                ResponseFuture::calling(self.inner.call(req), None)
            }
            WhenLimited::Wait => {
                let limiter = self.limiter.clone();
                let admission: Admission = Box::pin(async move {
                    limiter.acquire_key(&key).await;
                    None
                });
                ResponseFuture::admitting(admission, take_ready(&mut self.inner), req)
            }
        }
    }
}

/// Applies a [`ConcurrencyLimit`] to a service: the slot is held until the response is ready.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    limit: ConcurrencyLimit,
    when: WhenLimited,
}

impl ConcurrencyLimitLayer {
    /// A layer that waits for a free slot for each request.
    pub fn new(limit: ConcurrencyLimit) -> Self {
        Self {
            limit,
            when: WhenLimited::Wait,
        }
    }

    /// A layer that fails requests when every slot is in use, with [`Limited::Concurrency`].
    pub fn rejecting(limit: ConcurrencyLimit) -> Self {
        Self {
            limit,
            when: WhenLimited::Reject,
        }
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimited<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimited {
            inner,
            limit: self.limit.clone(),
            when: self.when,
        }
    }
}

/// A service limited by a [`ConcurrencyLimit`]; see [`ConcurrencyLimitLayer`].
#[derive(Debug, Clone)]
pub struct ConcurrencyLimited<S> {
    inner: S,
    limit: ConcurrencyLimit,
    when: WhenLimited,
}

impl<S> ConcurrencyLimited<S> {
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

impl<S, R> Service<R> for ConcurrencyLimited<S>
where
    S: Service<R> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, S, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        match self.limit.take_slot() {
            Ok(permit) => {
                self.limit.note_admitted();
                ResponseFuture::calling(self.inner.call(req), Some(permit))
            }
            Err(_) if self.when == WhenLimited::Reject => {
                self.limit.note_rejected();
                ResponseFuture::rejected(Limited::Concurrency)
            }
            Err(_) => {
                let limit = self.limit.clone();
                let admission: Admission = Box::pin(async move { Some(limit.acquire().await) });
                ResponseFuture::admitting(admission, take_ready(&mut self.inner), req)
            }
        }
    }
}

/// Moves the ready service out, leaving a fresh clone (which must be driven to readiness
/// again before its own `call`).
fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

pin_project_lite::pin_project! {
    /// The response future of the limiting services.
    pub struct ResponseFuture<F, S, R> {
        #[pin]
        state: State<F, S, R>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, S, R> {
        Admitting { admission: Admission, call: Option<(S, R)> },
        Calling { #[pin] fut: F, permit: Option<ConcurrencyPermit> },
        Rejected { error: Option<Limited> },
    }
}

impl<F, S, R> fmt::Debug for ResponseFuture<F, S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Admitting { .. } => "admitting",
            State::Calling { .. } => "calling",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<F, S, R> ResponseFuture<F, S, R> {
    fn calling(fut: F, permit: Option<ConcurrencyPermit>) -> Self {
        Self {
            state: State::Calling { fut, permit },
        }
    }

    fn rejected(error: Limited) -> Self {
        Self {
            state: State::Rejected { error: Some(error) },
        }
    }

    fn admitting(admission: Admission, service: S, req: R) -> Self {
        Self {
            state: State::Admitting {
                admission,
                call: Some((service, req)),
            },
        }
    }
}

impl<F, S, R, T, E> Future for ResponseFuture<F, S, R>
where
    F: Future<Output = Result<T, E>>,
    S: Service<R, Future = F, Response = T, Error = E>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Admitting { admission, call } => {
                    let permit = ready!(admission.as_mut().poll(cx));
                    let Some((mut service, req)) = call.take() else {
                        return Poll::Ready(Err("ResponseFuture polled after completion".into()));
                    };
                    // `service` is the instance that was ready when `call` ran.
                    let fut = service.call(req);
                    self.as_mut()
                        .project()
                        .state
                        .set(State::Calling { fut, permit });
                }
                StateProj::Calling { fut, .. } => return fut.poll(cx).map_err(Into::into),
                StateProj::Rejected { error } => {
                    let error = error.take().map_or_else(
                        || BoxError::from("ResponseFuture polled after completion"),
                        BoxError::from,
                    );
                    return Poll::Ready(Err(error));
                }
            }
        }
    }
}
