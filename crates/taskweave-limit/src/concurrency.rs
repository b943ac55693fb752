//! [`ConcurrencyLimit`]: at most N requests in flight, released when the permit drops.

use std::borrow::Cow;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{AtCapacity, ConfigError};
use crate::metrics::{Counters, Metrics, WaitGuard};

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
            }),
        })
    }

    /// Waits for a free slot (in arrival order) and takes it.
    ///
    /// A caller that finds every slot in use counts as waiting ([`Metrics::waited`],
    /// [`Metrics::waiting`]), never as rejected.
    ///
    /// # Cancel safety
    /// Cancel-safe: a dropped future holds no slot and leaves the queue.
    pub async fn acquire(&self) -> ConcurrencyPermit {
        let permit = self.acquire_slot().await;
        self.inner.counters.admit(1);
        permit
    }

    /// Takes a free slot now, if there is one.
    ///
    /// # Errors
    /// [`AtCapacity`] if every slot is in use (or promised to a waiter).
    pub fn try_acquire(&self) -> Result<ConcurrencyPermit, AtCapacity> {
        match self.take_slot() {
            Ok(permit) => {
                self.inner.counters.admit(1);
                Ok(permit)
            }
            Err(e) => {
                self.note_rejected();
                Err(e)
            }
        }
    }

    /// Takes a free slot now without counting anything: a caller that goes on to wait, or
    /// whose request may still be refused by another limit, decides what to count.
    pub(crate) fn take_slot(&self) -> Result<ConcurrencyPermit, AtCapacity> {
        Arc::clone(&self.inner.semaphore)
            .try_acquire_owned()
            .map(|permit| ConcurrencyPermit { _permit: permit })
            .map_err(|_| AtCapacity)
    }

    /// Takes a slot, waiting in line if needed (counted as a wait, not an admission).
    pub(crate) async fn acquire_slot(&self) -> ConcurrencyPermit {
        if let Ok(permit) = self.take_slot() {
            return permit;
        }
        let _waiting = WaitGuard::begin(&self.inner.counters, None);
        let permit = Arc::clone(&self.inner.semaphore)
            .acquire_owned()
            .await
            // The semaphore is private and never closed.
            .expect("the semaphore of a ConcurrencyLimit is never closed");
        ConcurrencyPermit { _permit: permit }
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
        self.inner.limit - self.inner.semaphore.available_permits()
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
        }
    }
}
