//! [`KeyedRateLimitLayer`] and [`KeyedRateLimitService`]: a [`KeyedRateLimiter`] in front of a
//! service, keyed by a function of the request.

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash, RandomState};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use tower::{BoxError, Layer, Service};

use super::WhenLimited;
use super::future::ResponseFuture;
use crate::error::{Closed, ConfigError, Limited};
use crate::keyed::KeyedRateLimiter;
use taskweave_clock::{Clock, DefaultClock};

type Admission = Pin<Box<dyn Future<Output = Result<(), Closed>> + Send>>;

/// How many requests a waiting [`KeyedRateLimitLayer`] lets wait at once unless told otherwise.
pub const DEFAULT_MAX_WAITING: usize = 1_024;

/// A waiting [`KeyedRateLimitService`] refused a request because
/// [`max_waiting`](KeyedRateLimitLayer::max_waiting) requests were already waiting for their
/// keys' rates: the bound that keeps waiting requests from piling up without limit, since the
/// keyed service cannot push back through `poll_ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Overloaded {
    /// The bound that was reached.
    pub max_waiting: usize,
}

impl fmt::Display for Overloaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests are already waiting for their keys' rates; shed this one, retry later, or raise max_waiting",
            self.max_waiting
        )
    }
}

impl std::error::Error for Overloaded {}

/// The requests waiting in the services of one layer, and their bound.
#[derive(Debug)]
struct Waiting {
    now: AtomicUsize,
    max: usize,
}

impl Waiting {
    fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            now: AtomicUsize::new(0),
            max,
        })
    }

    /// A place among the waiting requests, or `None` if all `max` are taken.
    fn enter(self: &Arc<Self>) -> Option<WaitingSlot> {
        self.now
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| WaitingSlot(Arc::clone(self)))
    }
}

/// A request's place among the waiting ones, given back when its wait ends or is dropped.
struct WaitingSlot(Arc<Waiting>);

impl Drop for WaitingSlot {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Applies a [`KeyedRateLimiter`] to a service, keying each request with a function; see
/// [`KeyedRateLimitService`].
pub struct KeyedRateLimitLayer<K, F, C: Clock = DefaultClock, H = RandomState> {
    limiter: KeyedRateLimiter<K, C, H>,
    key: F,
    when: WhenLimited,
    waiting: Arc<Waiting>,
}

impl<K, F: Clone, C: Clock, H> Clone for KeyedRateLimitLayer<K, F, C, H> {
    fn clone(&self) -> Self {
        Self {
            limiter: self.limiter.clone(),
            key: self.key.clone(),
            when: self.when,
            waiting: Arc::clone(&self.waiting),
        }
    }
}

impl<K, F, C: Clock, H> fmt::Debug for KeyedRateLimitLayer<K, F, C, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitLayer")
            .field("limiter", &self.limiter)
            .field("when", &self.when)
            .field("max_waiting", &self.waiting.max)
            .finish_non_exhaustive()
    }
}

impl<K, F, C: Clock, H> KeyedRateLimitLayer<K, F, C, H> {
    /// A layer that waits for `limiter` to admit each request under the key `key(&request)`,
    /// letting at most [`DEFAULT_MAX_WAITING`] requests wait at once (see
    /// [`max_waiting`](Self::max_waiting)).
    pub fn new(limiter: KeyedRateLimiter<K, C, H>, key: F) -> Self {
        Self {
            limiter,
            key,
            when: WhenLimited::Wait,
            waiting: Waiting::new(DEFAULT_MAX_WAITING),
        }
    }

    /// A layer that fails requests whose key is over its rate, with [`Limited::Rate`].
    pub fn rejecting(limiter: KeyedRateLimiter<K, C, H>, key: F) -> Self {
        Self {
            limiter,
            key,
            when: WhenLimited::Reject,
            waiting: Waiting::new(DEFAULT_MAX_WAITING),
        }
    }

    /// Lets at most `max` requests wait for their keys' rates at once, across every service
    /// this layer builds; a request that would have to wait beyond that fails at once with a
    /// boxed [`Overloaded`]. Requests admitted without waiting are not counted.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroMaxWaiting`] if `max` is 0.
    pub fn max_waiting(mut self, max: usize) -> Result<Self, ConfigError> {
        if max == 0 {
            return Err(ConfigError::ZeroMaxWaiting);
        }
        self.waiting = Waiting::new(max);
        Ok(self)
    }
}

impl<S, K, F: Clone, C: Clock, H> Layer<S> for KeyedRateLimitLayer<K, F, C, H> {
    type Service = KeyedRateLimitService<S, K, F, C, H>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedRateLimitService {
            inner,
            limiter: self.limiter.clone(),
            key: self.key.clone(),
            when: self.when,
            waiting: Arc::clone(&self.waiting),
        }
    }
}

/// A service limited per key by a [`KeyedRateLimiter`].
///
/// `poll_ready` is the inner service's: the key is only known in `call`, so no permit can be
/// reserved ahead. In waiting mode a request over its key's rate waits in its response future
/// (holding the ready inner service, which a clone replaces); at most
/// [`max_waiting`](KeyedRateLimitLayer::max_waiting) requests wait at once, and one more fails
/// at once with a boxed [`Overloaded`]. In rejecting mode it fails with a boxed
/// [`Limited::Rate`]. Once the limiter is
/// closed, requests (and waiting ones) fail with a boxed [`Closed`].
pub struct KeyedRateLimitService<S, K, F, C: Clock = DefaultClock, H = RandomState> {
    inner: S,
    limiter: KeyedRateLimiter<K, C, H>,
    key: F,
    when: WhenLimited,
    waiting: Arc<Waiting>,
}

impl<S: Clone, K, F: Clone, C: Clock, H> Clone for KeyedRateLimitService<S, K, F, C, H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            key: self.key.clone(),
            when: self.when,
            waiting: Arc::clone(&self.waiting),
        }
    }
}

impl<S: fmt::Debug, K, F, C: Clock, H> fmt::Debug for KeyedRateLimitService<S, K, F, C, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitService")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .field("when", &self.when)
            .finish_non_exhaustive()
    }
}

impl<S, K, F, C: Clock, H> KeyedRateLimitService<S, K, F, C, H> {
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

impl<S, K, F, C, H, R> Service<R> for KeyedRateLimitService<S, K, F, C, H>
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
    type Future = KeyedResponseFuture<S::Future, S, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        if self.limiter.is_closed() {
            return KeyedResponseFuture::responding(ResponseFuture::failed(Closed));
        }
        let key = (self.key)(&req);
        match self.when {
            WhenLimited::Reject => match self.limiter.check_key(&key) {
                Ok(()) => KeyedResponseFuture::calling(self.inner.call(req)),
                Err(retry) => {
                    KeyedResponseFuture::responding(ResponseFuture::failed(Limited::from(retry)))
                }
            },
            WhenLimited::Wait if self.limiter.try_admit_key(&key) => {
                KeyedResponseFuture::calling(self.inner.call(req))
            }
            WhenLimited::Wait => {
                let Some(slot) = self.waiting.enter() else {
                    let overloaded = Overloaded {
                        max_waiting: self.waiting.max,
                    };
                    return KeyedResponseFuture::responding(ResponseFuture::failed(overloaded));
                };
                let limiter = self.limiter.clone();
                let admission: Admission = Box::pin(async move {
                    // The place is held while the request waits, and given back with it.
                    let _slot = slot;
                    limiter.acquire_key(&key).await
                });
                // The ready instance goes with the request; a clone (to be made ready again
                // before its own `call`) takes its place.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                KeyedResponseFuture {
                    state: KeyedState::Admitting {
                        admission,
                        call: Some((ready, req)),
                    },
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`KeyedRateLimitService`]: a wait for the key's permit, if the
    /// request had to wait, then the inner service's response.
    pub struct KeyedResponseFuture<F, S, R> {
        #[pin]
        state: KeyedState<F, S, R>,
    }
}

pin_project_lite::pin_project! {
    #[project = KeyedStateProj]
    enum KeyedState<F, S, R> {
        Admitting { admission: Admission, call: Option<(S, R)> },
        Responding { #[pin] fut: ResponseFuture<F> },
    }
}

impl<F, S, R> fmt::Debug for KeyedResponseFuture<F, S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            KeyedState::Admitting { .. } => "admitting",
            KeyedState::Responding { .. } => "responding",
        };
        f.debug_struct("KeyedResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<F, S, R> KeyedResponseFuture<F, S, R> {
    fn responding(fut: ResponseFuture<F>) -> Self {
        Self {
            state: KeyedState::Responding { fut },
        }
    }

    fn calling(fut: F) -> Self {
        Self::responding(ResponseFuture::calling(fut, None))
    }
}

impl<F, S, R, T, E> Future for KeyedResponseFuture<F, S, R>
where
    F: Future<Output = Result<T, E>>,
    S: Service<R, Future = F, Response = T, Error = E>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                KeyedStateProj::Admitting { admission, call } => {
                    let admitted = ready!(admission.as_mut().poll(cx));
                    let fut = match (admitted, call.take()) {
                        // `service` is the instance that was ready when `call` ran.
                        (Ok(()), Some((mut service, req))) => {
                            ResponseFuture::calling(service.call(req), None)
                        }
                        (Err(closed), _) => ResponseFuture::failed(closed),
                        (Ok(()), None) => {
                            ResponseFuture::failed("KeyedResponseFuture polled after completion")
                        }
                    };
                    self.as_mut()
                        .project()
                        .state
                        .set(KeyedState::Responding { fut });
                }
                KeyedStateProj::Responding { fut } => return fut.poll(cx),
            }
        }
    }
}
