//! [`ConcurrencyLimit`]: at most N requests in flight, released when the permit drops.

use std::borrow::Cow;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{AtCapacity, ConfigError};
use crate::metrics::{Counters, Metrics};

/// Caps how many requests run at once. Waiters are served in arrival order (Tokio's semaphore
/// is fair); a permit frees its slot when dropped. Clones share the same limit.
///
/// This limits concurrency, not rate: 10 permits allow 10,000 requests per second if each
/// takes 1 ms. Combine with a [`RateLimiter`](crate::RateLimiter) in a
/// [`Limiter`](crate::Limiter) to cap both.
#[derive(Clone)]
pub struct ConcurrencyLimit {
    inner: Arc<ConcurrencyInner>,
}

struct ConcurrencyInner {
    semaphore: Arc<Semaphore>,
    limit: usize,
    counters: Counters,
    waiting: AtomicUsize,
}

/// A slot of a [`ConcurrencyLimit`], given back when dropped.
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct ConcurrencyPermit {
    _permit: OwnedSemaphorePermit,
}

impl fmt::Debug for ConcurrencyPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyPermit").finish_non_exhaustive()
    }
}

impl fmt::Debug for ConcurrencyLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimit")
            .field("name", &self.inner.counters.name())
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl ConcurrencyLimit {
    /// A limit of `limit` requests in flight.
    ///
    /// # Errors
    /// [`ConfigError::MaximumTooLarge`] if `limit` exceeds `tokio::sync::Semaphore::MAX_PERMITS`
    /// (`usize::MAX >> 3`).
    pub fn new(limit: NonZeroUsize) -> Result<Self, ConfigError> {
        Self::named(limit, "concurrency")
    }

    /// Like [`new`](Self::new), named in `tracing` events.
    ///
    /// # Errors
    /// As for [`new`](Self::new).
    pub fn named(
        limit: NonZeroUsize,
        name: impl Into<Cow<'static, str>>,
    ) -> Result<Self, ConfigError> {
        let limit = limit.get();
        if limit > Semaphore::MAX_PERMITS {
            return Err(ConfigError::MaximumTooLarge { max: limit });
        }
        Ok(Self {
            inner: Arc::new(ConcurrencyInner {
                semaphore: Arc::new(Semaphore::new(limit)),
                limit,
                counters: Counters::new("concurrency", name.into()),
                waiting: AtomicUsize::new(0),
            }),
        })
    }

    /// Waits for a free slot (in arrival order) and takes it.
    ///
    /// # Cancel safety
    /// Cancel-safe: a dropped future holds no slot and leaves the queue.
    pub async fn acquire(&self) -> ConcurrencyPermit {
        if let Ok(permit) = self.try_take() {
            return permit;
        }
        let _waiting = WaitingGuard::enter(&self.inner.waiting);
        let permit = Arc::clone(&self.inner.semaphore)
            .acquire_owned()
            .await
            // The semaphore is private and never closed.
            .expect("the semaphore of a ConcurrencyLimit is never closed");
        self.inner.counters.admit(1);
        ConcurrencyPermit { _permit: permit }
    }

    /// Takes a free slot now, if there is one.
    ///
    /// # Errors
    /// [`AtCapacity`] if every slot is in use (or promised to a waiter).
    pub fn try_acquire(&self) -> Result<ConcurrencyPermit, AtCapacity> {
        self.try_take()
            .inspect_err(|_| self.inner.counters.reject(None))
    }

    pub(crate) fn try_take(&self) -> Result<ConcurrencyPermit, AtCapacity> {
        match Arc::clone(&self.inner.semaphore).try_acquire_owned() {
            Ok(permit) => {
                self.inner.counters.admit(1);
                Ok(ConcurrencyPermit { _permit: permit })
            }
            Err(_) => Err(AtCapacity),
        }
    }

    #[cfg(feature = "tower")]
    pub(crate) fn note_rejected(&self) {
        self.inner.counters.reject(None);
    }

    /// The number of slots.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Slots in use right now.
    pub fn in_flight(&self) -> usize {
        self.inner.limit - self.inner.semaphore.available_permits()
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        Metrics {
            admitted: self.inner.counters.admitted(),
            rejected: self.inner.counters.rejected(),
            waiting: self.inner.waiting.load(Ordering::Relaxed),
            limit: self.inner.limit,
            in_flight: self.in_flight(),
        }
    }
}

/// Counts a caller as waiting until it is dropped (admitted or cancelled).
pub(crate) struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    pub(crate) fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
