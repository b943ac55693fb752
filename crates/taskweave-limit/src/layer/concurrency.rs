//! [`ConcurrencyLimitLayer`] and [`ConcurrencyLimitService`]: a [`ConcurrencyLimit`] in front
//! of a service, holding a slot until each response is ready.

use std::fmt;
use std::task::{Context, Poll};

use tokio_util::sync::ReusableBoxFuture;
use tower::{BoxError, Layer, Service};

use super::WhenLimited;
use super::future::ResponseFuture;
use crate::concurrency::{ConcurrencyLimit, ConcurrencyPermit};
use crate::error::{Closed, Limited, TryAcquireError};

/// Applies a [`ConcurrencyLimit`] to a service; see [`ConcurrencyLimitService`].
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    limit: ConcurrencyLimit,
    when: WhenLimited,
}

impl ConcurrencyLimitLayer {
    /// A layer whose services wait in `poll_ready` for a free slot.
    pub fn new(limit: ConcurrencyLimit) -> Self {
        Self {
            limit,
            when: WhenLimited::Wait,
        }
    }

    /// A layer whose services fail requests when every slot is in use, with
    /// [`Limited::Concurrency`].
    pub fn rejecting(limit: ConcurrencyLimit) -> Self {
        Self {
            limit,
            when: WhenLimited::Reject,
        }
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimitService {
            inner,
            limit: self.limit.clone(),
            when: self.when,
            slot: Slot::Idle,
            wait: None,
        }
    }
}

/// A service limited by a [`ConcurrencyLimit`]: each request holds a slot until its response
/// is ready.
///
/// Waiting mode ([`ConcurrencyLimitLayer::new`]): `poll_ready` is pending until a slot is free
/// (in arrival order among all waiters of the limit), which it takes, then until the inner
/// service is ready; `call` hands the slot to the response future. A slot taken by
/// `poll_ready` and not used is freed when the service is dropped. Rejecting mode
/// ([`ConcurrencyLimitLayer::rejecting`]): `call` fails with a boxed [`Limited::Concurrency`]
/// when every slot is in use.
///
/// Once the limit is closed, `poll_ready` is ready and `call` fails with a boxed [`Closed`].
/// A `call` without a slot reserved is decided as in rejecting mode.
pub struct ConcurrencyLimitService<S> {
    inner: S,
    limit: ConcurrencyLimit,
    when: WhenLimited,
    slot: Slot,
    /// The wait for a slot: one allocation per service, reused from one wait to the next.
    wait: Option<ReusableBoxFuture<'static, Result<ConcurrencyPermit, Closed>>>,
}

/// Where a waiting service stands with its next request's slot.
enum Slot {
    Idle,
    Waiting,
    Reserved(ConcurrencyPermit),
    Closed,
}

impl<S: Clone> Clone for ConcurrencyLimitService<S> {
    /// A clone shares the limit but not a slot reserved by this service.
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limit: self.limit.clone(),
            when: self.when,
            slot: Slot::Idle,
            wait: None,
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for ConcurrencyLimitService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slot = match self.slot {
            Slot::Idle => "idle",
            Slot::Waiting => "waiting",
            Slot::Reserved(_) => "reserved",
            Slot::Closed => "closed",
        };
        f.debug_struct("ConcurrencyLimitService")
            .field("inner", &self.inner)
            .field("limit", &self.limit)
            .field("when", &self.when)
            .field("slot", &slot)
            .finish()
    }
}

impl<S> ConcurrencyLimitService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service (a reserved slot is freed).
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Polls for a slot until one is reserved or the limit is closed.
    fn poll_slot(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match self.slot {
                Slot::Idle => match self.limit.take_slot() {
                    Ok(permit) => self.slot = Slot::Reserved(permit),
                    Err(TryAcquireError::Closed) => self.slot = Slot::Closed,
                    Err(TryAcquireError::AtCapacity) => {
                        let limit = self.limit.clone();
                        let wait = async move { limit.acquire_slot().await };
                        match &mut self.wait {
                            Some(boxed) => boxed.set(wait),
                            None => self.wait = Some(ReusableBoxFuture::new(wait)),
                        }
                        self.slot = Slot::Waiting;
                    }
                },
                Slot::Waiting => {
                    let Some(wait) = &mut self.wait else {
                        self.slot = Slot::Idle;
                        continue;
                    };
                    self.slot = match wait.poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(permit)) => Slot::Reserved(permit),
                        Poll::Ready(Err(Closed)) => Slot::Closed,
                    };
                }
                Slot::Reserved(_) | Slot::Closed => return Poll::Ready(()),
            }
        }
    }

    /// The decision of a rejecting layer, and of a `call` without a reserved slot.
    fn take_now(&self) -> Result<ConcurrencyPermit, BoxError> {
        self.limit.take_slot().map_err(|e| match e {
            TryAcquireError::AtCapacity => {
                self.limit.note_rejected();
                Limited::Concurrency.into()
            }
            TryAcquireError::Closed => Closed.into(),
        })
    }
}

impl<S, R> Service<R> for ConcurrencyLimitService<S>
where
    S: Service<R>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.when == WhenLimited::Wait {
            std::task::ready!(self.poll_slot(cx));
            if let Slot::Closed = self.slot {
                // `call` reports it; the inner service is not asked to be ready.
                return Poll::Ready(Ok(()));
            }
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let permit = match std::mem::replace(&mut self.slot, Slot::Idle) {
            Slot::Reserved(permit) => permit,
            Slot::Closed => {
                self.slot = Slot::Closed;
                return ResponseFuture::failed(Closed);
            }
            Slot::Waiting => {
                // Called while still waiting (`poll_ready` was pending): give up that wait,
                // which would otherwise hold the next free slot unused.
                self.wait = None;
                match self.take_now() {
                    Ok(permit) => permit,
                    Err(e) => return ResponseFuture::failed(e),
                }
            }
            Slot::Idle => match self.take_now() {
                Ok(permit) => permit,
                Err(e) => return ResponseFuture::failed(e),
            },
        };
        self.limit.note_admitted();
        ResponseFuture::calling(self.inner.call(req), Some(permit))
    }
}
