//! [`ConcurrencyLimit`]: at most N requests in flight, released when the permit drops.

use std::borrow::Cow;
use std::fmt;
use std::pin::pin;
use std::sync::Arc;

use tokio::sync::{Notify, Semaphore, TryAcquireError as SemaphoreFull};
use tokio_util::sync::CancellationToken;

use crate::error::{Closed, ConfigError, TryAcquireError};
use crate::lifecycle::{Close, Watches, close_on_cancel};
use crate::metrics::{Counters, Metrics, WaitGuard};

/// Caps how many requests run at once. Waiters are served in arrival order (Tokio's semaphore
/// is fair); a permit frees its slot when dropped. Clones share the same limit.
///
/// This limits concurrency, not rate: 10 permits allow 10,000 requests per second if each
/// takes 1 ms. Combine with a [`RateLimiter`](crate::RateLimiter) in a
/// [`Limiter`](crate::Limiter) to cap both.
///
/// [`close`](Self::close) lets every waiter go with [`Closed`] and refuses later requests;
/// permits already handed out stay valid, and [`drain`](Self::drain) waits for them to come
/// back. Permits belong to their callers, so there is nothing to abort. Dropping the last
/// handle needs no close: a waiter holds a handle, so nobody can be waiting then, and the
/// permits still out keep what they need alive.
#[derive(Clone)]
pub struct ConcurrencyLimit {
    inner: Arc<ConcurrencyInner>,
}

struct ConcurrencyInner {
    semaphore: Semaphore,
    limit: usize,
    counters: Counters,
    /// Notified when a permit comes back to a closed limit, for `drain`.
    returned: Notify,
    watches: Watches,
}

impl Close for ConcurrencyInner {
    fn close(&self) {
        if self.semaphore.is_closed() {
            return;
        }
        self.semaphore.close();
        tracing::debug!(
            limiter = %self.counters.name(),
            kind = "concurrency",
            in_flight = self.limit - self.semaphore.available_permits().min(self.limit),
            "limiter closed"
        );
        // A drain that started before the close may already be waiting on an empty limit.
        self.returned.notify_waiters();
    }

    fn watches(&self) -> &Watches {
        &self.watches
    }
}

/// A slot of a [`ConcurrencyLimit`], given back when dropped.
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct ConcurrencyPermit {
    inner: Arc<ConcurrencyInner>,
}

impl fmt::Debug for ConcurrencyPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyPermit").finish_non_exhaustive()
    }
}

impl Drop for ConcurrencyPermit {
    fn drop(&mut self) {
        // Taken with `forget`, so it is given back by hand (to the next waiter, if any).
        self.inner.semaphore.add_permits(1);
        if self.inner.semaphore.is_closed() {
            self.inner.returned.notify_waiters();
        }
    }
}

impl fmt::Debug for ConcurrencyLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimit")
            .field("name", &self.inner.counters.name())
            .field("closed", &self.is_closed())
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl ConcurrencyLimit {
    /// The largest limit: Tokio's `Semaphore::MAX_PERMITS` (`usize::MAX >> 3`).
    pub const MAX_LIMIT: usize = Semaphore::MAX_PERMITS;

    /// A limit of `limit` requests in flight.
    ///
    /// # Errors
    /// [`ConfigError::ZeroLimit`] for 0, [`ConfigError::MaximumTooLarge`] above
    /// [`MAX_LIMIT`](Self::MAX_LIMIT).
    pub fn new(limit: usize) -> Result<Self, ConfigError> {
        Self::builder(limit).build()
    }

    /// A builder, to name the limit or close it with a cancellation token.
    pub fn builder(limit: usize) -> ConcurrencyLimitBuilder {
        ConcurrencyLimitBuilder {
            limit,
            name: Cow::Borrowed("concurrency"),
            token: None,
        }
    }

    /// Waits for a free slot (in arrival order) and takes it.
    ///
    /// A caller that finds every slot in use counts as waiting ([`Metrics::waited`],
    /// [`Metrics::waiting`]), never as rejected.
    ///
    /// # Errors
    /// [`Closed`] if the limit is closed, at once for a new call and as soon as it closes for
    /// a waiting one.
    ///
    /// # Cancel safety
    /// Cancel-safe: a dropped future holds no slot and leaves the queue.
    pub async fn acquire(&self) -> Result<ConcurrencyPermit, Closed> {
        let permit = self.acquire_slot().await?;
        self.inner.counters.admit(1);
        Ok(permit)
    }

    /// Takes a free slot now, if there is one.
    ///
    /// # Errors
    /// [`TryAcquireError::AtCapacity`] if every slot is in use (or promised to a waiter),
    /// [`TryAcquireError::Closed`] if the limit is closed.
    pub fn try_acquire(&self) -> Result<ConcurrencyPermit, TryAcquireError> {
        match self.take_slot() {
            Ok(permit) => {
                self.inner.counters.admit(1);
                Ok(permit)
            }
            Err(e) => {
                if e == TryAcquireError::AtCapacity {
                    self.note_rejected();
                }
                Err(e)
            }
        }
    }

    /// Stops intake: every caller waiting in `acquire` returns [`Closed`] at once, and later
    /// `acquire`/`try_acquire` calls are refused with it. Permits already held stay valid
    /// until dropped. Idempotent; returns at once.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether [`close`](Self::close) was called (or the cancellation token cancelled).
    pub fn is_closed(&self) -> bool {
        self.inner.semaphore.is_closed()
    }

    /// [`close`](Self::close)s the limit, then waits until every permit handed out has been
    /// dropped. Never aborts anything.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future does not undo the close; call `drain` again to wait.
    pub async fn drain(&self) {
        self.close();
        crate::concurrency::until_all_returned(&self.inner.returned, || self.in_flight()).await;
    }

    /// Closes the limit when `token` is cancelled (for a [`Limiter`](crate::Limiter)'s token).
    pub(crate) fn close_on_cancel(&self, token: CancellationToken) {
        close_on_cancel(&self.inner, token);
    }

    /// Takes a free slot now without counting anything: a caller that goes on to wait, or
    /// whose request may still be refused by another limit, decides what to count.
    pub(crate) fn take_slot(&self) -> Result<ConcurrencyPermit, TryAcquireError> {
        match self.inner.semaphore.try_acquire() {
            Ok(permit) => {
                permit.forget();
                Ok(self.permit())
            }
            Err(SemaphoreFull::NoPermits) => Err(TryAcquireError::AtCapacity),
            Err(SemaphoreFull::Closed) => Err(TryAcquireError::Closed),
        }
    }

    /// Takes a slot, waiting in line if needed (counted as a wait, not an admission).
    pub(crate) async fn acquire_slot(&self) -> Result<ConcurrencyPermit, Closed> {
        match self.take_slot() {
            Ok(permit) => return Ok(permit),
            Err(TryAcquireError::Closed) => return Err(Closed),
            Err(TryAcquireError::AtCapacity) => {}
        }
        let _waiting = WaitGuard::begin(&self.inner.counters, None);
        let permit = self.inner.semaphore.acquire().await.map_err(|_| Closed)?;
        permit.forget();
        Ok(self.permit())
    }

    fn permit(&self) -> ConcurrencyPermit {
        ConcurrencyPermit {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Counts an admission of a request holding a slot from [`take_slot`](Self::take_slot) or
    /// [`acquire_slot`](Self::acquire_slot).
    pub(crate) fn note_admitted(&self) {
        self.inner.counters.admit(1);
    }

    /// Counts a request refused because every slot is in use.
    pub(crate) fn note_rejected(&self) {
        self.inner.counters.reject(None);
    }

    /// The number of slots.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Slots in use right now.
    pub fn in_flight(&self) -> usize {
        self.inner
            .limit
            .saturating_sub(self.inner.semaphore.available_permits())
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        Metrics {
            admitted: self.inner.counters.admitted(),
            rejected: self.inner.counters.rejected(),
            waited: self.inner.counters.waited(),
            waiting: self.inner.counters.waiting(),
            limit: self.inner.limit,
            in_flight: self.in_flight(),
            keys: 0,
            max_keys: 0,
            evicted_idle: 0,
            evicted_early: 0,
        }
    }
}

/// Builds a [`ConcurrencyLimit`]; see [`ConcurrencyLimit::builder`].
#[derive(Debug)]
pub struct ConcurrencyLimitBuilder {
    limit: usize,
    name: Cow<'static, str>,
    token: Option<CancellationToken>,
}

impl ConcurrencyLimitBuilder {
    /// Names the limit in its `tracing` events (default `"concurrency"`).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Closes the limit when `token` is cancelled: exactly what [`ConcurrencyLimit::close`]
    /// does. Graceful; permits held stay valid. Needs no runtime and no task.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Validates the limit and builds it.
    ///
    /// # Errors
    /// [`ConfigError::ZeroLimit`] for 0, [`ConfigError::MaximumTooLarge`] above
    /// [`ConcurrencyLimit::MAX_LIMIT`].
    pub fn build(self) -> Result<ConcurrencyLimit, ConfigError> {
        let limit = self.limit;
        if limit == 0 {
            return Err(ConfigError::ZeroLimit);
        }
        if limit > ConcurrencyLimit::MAX_LIMIT {
            return Err(ConfigError::MaximumTooLarge { max: limit });
        }
        let inner = Arc::new(ConcurrencyInner {
            semaphore: Semaphore::new(limit),
            limit,
            counters: Counters::new("concurrency", self.name),
            returned: Notify::new(),
            watches: Watches::default(),
        });
        if let Some(token) = self.token {
            close_on_cancel(&inner, token);
        }
        Ok(ConcurrencyLimit { inner })
    }
}

/// Waits until `in_flight()` reads zero, woken by `returned` each time a permit comes back.
pub(crate) async fn until_all_returned(returned: &Notify, in_flight: impl Fn() -> usize) {
    loop {
        let mut notified = pin!(returned.notified());
        // Registered before the count is read, so that a permit returned in between wakes it.
        notified.as_mut().enable();
        if in_flight() == 0 {
            return;
        }
        notified.await;
    }
}
