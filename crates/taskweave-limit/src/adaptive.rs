//! [`AdaptiveLimit`]: a concurrency limit that finds its own size (AIMD).

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError as SemaphoreFull};
use tokio_util::sync::CancellationToken;

use crate::error::{Closed, ConfigError, TryAcquireError};
use crate::lifecycle::{Close, Watches, close_on_cancel};
use crate::metrics::{Counters, Metrics, WaitGuard};

/// A concurrency limit that adapts to the service behind it with AIMD (additive increase,
/// multiplicative decrease), like TCP's congestion window or Netflix's concurrency-limits:
///
/// - a request that succeeds within the latency target, while at least half the limit is in
///   use, raises the limit by 1 (up to `max`);
/// - a request reported as overloaded (an error, a timeout, a 503) or slower than the target
///   multiplies the limit by the backoff ratio (default 0.9, at least −1, down to `min`).
///
/// Report each outcome with [`AdaptivePermit::success`] or [`AdaptivePermit::overload`];
/// dropping a permit without a report releases the slot and leaves the limit alone. Shrinking
/// never interrupts requests in flight: slots above the new limit disappear as they are
/// released. [`current_limit`](Self::current_limit) shows the limit at any time.
///
/// The lifecycle is [`ConcurrencyLimit`](crate::ConcurrencyLimit)'s: [`close`](Self::close)
/// lets waiters go with [`Closed`] and refuses later requests, [`drain`](Self::drain) also
/// waits for the permits handed out to come back.
#[derive(Clone)]
pub struct AdaptiveLimit {
    inner: Arc<AdaptiveInner>,
}

struct AdaptiveInner {
    semaphore: Arc<Semaphore>,
    aimd: Mutex<Aimd>,
    /// Mirror of `aimd.limit` for lock-free reads.
    limit: AtomicUsize,
    in_flight: AtomicUsize,
    min: usize,
    max: usize,
    latency_target: Duration,
    backoff: f64,
    counters: Counters,
    /// Notified when a permit comes back to a closed limit, for `drain`.
    returned: Notify,
    watches: Watches,
}

impl Close for AdaptiveInner {
    fn close(&self) {
        if self.semaphore.is_closed() {
            return;
        }
        self.semaphore.close();
        tracing::debug!(
            limiter = %self.counters.name(),
            kind = "adaptive",
            in_flight = self.in_flight.load(Ordering::Relaxed),
            "limiter closed"
        );
        self.returned.notify_waiters();
    }

    fn watches(&self) -> &Watches {
        &self.watches
    }
}

struct Aimd {
    limit: usize,
    /// Slots to retire when permits come back, after a decrease found them in use.
    debt: usize,
}

impl fmt::Debug for AdaptiveLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimit")
            .field("name", &self.inner.counters.name())
            .field("min", &self.inner.min)
            .field("max", &self.inner.max)
            .field("latency_target", &self.inner.latency_target)
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// Default starting limit.
pub(crate) const DEFAULT_INITIAL: usize = 10;
/// Default lowest limit.
pub(crate) const DEFAULT_MIN: usize = 1;
/// Default highest limit.
pub(crate) const DEFAULT_MAX: usize = 1000;
/// Default factor applied on overload.
pub(crate) const DEFAULT_BACKOFF: f64 = 0.9;

impl AdaptiveLimit {
    /// A builder; requests slower than `latency_target` count as overload.
    pub fn builder(latency_target: Duration) -> AdaptiveLimitBuilder {
        AdaptiveLimitBuilder {
            latency_target,
            initial: DEFAULT_INITIAL,
            min: DEFAULT_MIN,
            max: DEFAULT_MAX,
            backoff: DEFAULT_BACKOFF,
            name: Cow::Borrowed("adaptive"),
            token: None,
        }
    }

    /// Waits for a free slot (in arrival order) and takes it.
    ///
    /// A caller that finds the limit reached counts as waiting ([`Metrics::waited`],
    /// [`Metrics::waiting`]), never as rejected.
    ///
    /// # Errors
    /// [`Closed`] if the limit is closed, at once for a new call and as soon as it closes for
    /// a waiting one.
    ///
    /// # Cancel safety
    /// Cancel-safe: a dropped future holds no slot and leaves the queue.
    pub async fn acquire(&self) -> Result<AdaptivePermit, Closed> {
        match self.try_take() {
            Ok(permit) => return Ok(permit),
            Err(TryAcquireError::Closed) => return Err(Closed),
            Err(TryAcquireError::AtCapacity) => {}
        }
        let _waiting = WaitGuard::begin(&self.inner.counters, None);
        let permit = Arc::clone(&self.inner.semaphore)
            .acquire_owned()
            .await
            .map_err(|_| Closed)?;
        Ok(self.admitted(permit))
    }

    /// Takes a free slot now, if there is one.
    ///
    /// # Errors
    /// [`TryAcquireError::AtCapacity`] if the current limit is reached,
    /// [`TryAcquireError::Closed`] if the limit is closed.
    pub fn try_acquire(&self) -> Result<AdaptivePermit, TryAcquireError> {
        self.try_take().inspect_err(|e| {
            if *e == TryAcquireError::AtCapacity {
                self.inner.counters.reject(None);
            }
        })
    }

    fn try_take(&self) -> Result<AdaptivePermit, TryAcquireError> {
        match Arc::clone(&self.inner.semaphore).try_acquire_owned() {
            Ok(permit) => Ok(self.admitted(permit)),
            Err(SemaphoreFull::NoPermits) => Err(TryAcquireError::AtCapacity),
            Err(SemaphoreFull::Closed) => Err(TryAcquireError::Closed),
        }
    }

    /// Stops intake: every caller waiting in `acquire` returns [`Closed`] at once, and later
    /// `acquire`/`try_acquire` calls are refused with it. Permits already held stay valid
    /// (and still report their outcome). Idempotent; returns at once.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether [`close`](Self::close) was called (or the cancellation token cancelled).
    pub fn is_closed(&self) -> bool {
        self.inner.semaphore.is_closed()
    }

    /// [`close`](Self::close)s the limit, then waits until every permit handed out has been
    /// dropped or reported. Never aborts anything.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future does not undo the close; call `drain` again to wait.
    pub async fn drain(&self) {
        self.close();
        crate::concurrency::until_all_returned(&self.inner.returned, || self.in_flight()).await;
    }

    fn admitted(&self, permit: OwnedSemaphorePermit) -> AdaptivePermit {
        self.inner.counters.admit(1);
        self.inner.in_flight.fetch_add(1, Ordering::Relaxed);
        AdaptivePermit {
            permit: Some(permit),
            inner: Arc::clone(&self.inner),
            started: tokio::time::Instant::now(),
        }
    }

    /// The limit right now.
    pub fn current_limit(&self) -> usize {
        self.inner.limit.load(Ordering::Relaxed)
    }

    /// Slots in use right now.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    /// A snapshot of the counters; `limit` is the current limit.
    pub fn metrics(&self) -> Metrics {
        Metrics {
            admitted: self.inner.counters.admitted(),
            rejected: self.inner.counters.rejected(),
            waited: self.inner.counters.waited(),
            waiting: self.inner.counters.waiting(),
            limit: self.current_limit(),
            in_flight: self.in_flight(),
            keys: 0,
            max_keys: 0,
            evicted_idle: 0,
            evicted_early: 0,
        }
    }
}

impl AdaptiveInner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Aimd> {
        // The critical sections below are integer updates that cannot panic halfway.
        self.aimd.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn on_sample(&self, ok: bool) {
        let mut aimd = self.lock();
        let old = aimd.limit;
        if ok {
            // Only grow when the limit is actually being used; otherwise success says nothing
            // about whether more concurrency would be served as well.
            let in_flight = self.in_flight.load(Ordering::Relaxed);
            if old >= self.max || in_flight * 2 < old {
                return;
            }
            aimd.limit = old + 1;
            if aimd.debt > 0 {
                aimd.debt -= 1;
            } else {
                self.semaphore.add_permits(1);
            }
        } else {
            if old <= self.min {
                return;
            }
            let scaled = (old as f64 * self.backoff).floor() as usize;
            let new = scaled.min(old - 1).max(self.min);
            let shrink = old - new;
            let retired = self.semaphore.forget_permits(shrink);
            aimd.debt += shrink - retired;
            aimd.limit = new;
        }
        let new = aimd.limit;
        self.limit.store(new, Ordering::Relaxed);
        drop(aimd);
        tracing::debug!(
            limiter = %self.counters.name(),
            old_limit = old,
            new_limit = new,
            "adaptive concurrency limit {}",
            if new > old { "raised" } else { "lowered" }
        );
    }
}

/// A slot of an [`AdaptiveLimit`]. Report how the request went with [`success`](Self::success)
/// or [`overload`](Self::overload); dropping it without a report just frees the slot.
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct AdaptivePermit {
    permit: Option<OwnedSemaphorePermit>,
    inner: Arc<AdaptiveInner>,
    started: tokio::time::Instant,
}

impl fmt::Debug for AdaptivePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptivePermit")
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl AdaptivePermit {
    /// The request succeeded: the limit grows if it was also within the latency target (measured
    /// from acquisition until now), and shrinks if it was slower.
    pub fn success(self) {
        let fast = self.started.elapsed() <= self.inner.latency_target;
        self.inner.on_sample(fast);
    }

    /// The service was overloaded (error, timeout, rejection): the limit shrinks.
    pub fn overload(self) {
        self.inner.on_sample(false);
    }
}

impl Drop for AdaptivePermit {
    fn drop(&mut self) {
        self.inner.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(permit) = self.permit.take() {
            let mut aimd = self.inner.lock();
            if aimd.debt > 0 {
                aimd.debt -= 1;
                permit.forget();
            }
            // Otherwise the permit returns to the semaphore as it drops here.
        }
        if self.inner.semaphore.is_closed() {
            self.inner.returned.notify_waiters();
        }
    }
}

/// Builds an [`AdaptiveLimit`]; see [`AdaptiveLimit::builder`].
#[derive(Debug)]
pub struct AdaptiveLimitBuilder {
    latency_target: Duration,
    initial: usize,
    min: usize,
    max: usize,
    backoff: f64,
    name: Cow<'static, str>,
    token: Option<CancellationToken>,
}

impl AdaptiveLimitBuilder {
    /// The starting limit (default 10).
    pub fn initial(mut self, initial: usize) -> Self {
        self.initial = initial;
        self
    }

    /// The lowest the limit can go (default 1; must be at least 1).
    pub fn min(mut self, min: usize) -> Self {
        self.min = min;
        self
    }

    /// The highest the limit can go (default 1000).
    pub fn max(mut self, max: usize) -> Self {
        self.max = max;
        self
    }

    /// The factor applied on overload, strictly between 0 and 1 (default 0.9).
    pub fn backoff(mut self, ratio: f64) -> Self {
        self.backoff = ratio;
        self
    }

    /// Names the limiter in its `tracing` events (default `"adaptive"`).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Closes the limit when `token` is cancelled: exactly what [`AdaptiveLimit::close`] does.
    /// Graceful; permits held stay valid. Needs no runtime and no task.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Validates the configuration and builds the limit.
    ///
    /// # Errors
    /// [`ConfigError::ZeroMinimum`], [`ConfigError::AdaptiveBoundsInverted`],
    /// [`ConfigError::MaximumTooLarge`], [`ConfigError::InitialOutOfBounds`],
    /// [`ConfigError::InvalidBackoff`] or [`ConfigError::ZeroLatencyTarget`].
    pub fn build(self) -> Result<AdaptiveLimit, ConfigError> {
        let Self {
            latency_target,
            initial,
            min,
            max,
            backoff,
            name,
            token,
        } = self;
        if min == 0 {
            return Err(ConfigError::ZeroMinimum);
        }
        if min > max {
            return Err(ConfigError::AdaptiveBoundsInverted { min, max });
        }
        if max > crate::ConcurrencyLimit::MAX_LIMIT {
            return Err(ConfigError::MaximumTooLarge { max });
        }
        if !(min..=max).contains(&initial) {
            return Err(ConfigError::InitialOutOfBounds { initial, min, max });
        }
        if !(backoff > 0.0 && backoff < 1.0) {
            return Err(ConfigError::InvalidBackoff);
        }
        if latency_target.is_zero() {
            return Err(ConfigError::ZeroLatencyTarget);
        }
        let inner = Arc::new(AdaptiveInner {
            semaphore: Arc::new(Semaphore::new(initial)),
            aimd: Mutex::new(Aimd {
                limit: initial,
                debt: 0,
            }),
            limit: AtomicUsize::new(initial),
            in_flight: AtomicUsize::new(0),
            min,
            max,
            latency_target,
            backoff,
            counters: Counters::new("adaptive", name),
            returned: Notify::new(),
            watches: Watches::default(),
        });
        if let Some(token) = token {
            close_on_cancel(&inner, token);
        }
        Ok(AdaptiveLimit { inner })
    }
}
