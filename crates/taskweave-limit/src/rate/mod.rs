//! [`RateLimiter`]: GCRA quotas, non-waiting checks and fair, cancel-safe waiting.

mod wait;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use self::wait::{Acquire, WaitQueue};
use crate::error::{AcquireError, CheckError, Closed, ConfigError, ExceedsBurst, RetryAfter};
use crate::gcra::Gate;
use crate::lifecycle::{Close, Watches, close_on_cancel};
use crate::metrics::{Counters, Metrics};
use crate::quota::Quota;
use taskweave_clock::{Clock, DefaultClock, duration_nanos};

/// A pending `acquire` that owns its limiter: what a waiting `tower` layer keeps between two
/// calls of `poll_ready`.
#[cfg(feature = "tower")]
pub(crate) type Reservation<C> = Acquire<Arc<Inner<C>>, C>;

/// A rate limiter: one or more [`Quota`]s, all of which a request must satisfy.
///
/// The state of a single quota is one atomic word (GCRA), so [`check`](Self::check) is a clock
/// read and a compare-and-swap: no lock, no background task, no refill timer. Clones share the
/// same limit.
///
/// [`acquire`](Self::acquire) waits in a FIFO queue: only the oldest waiter sleeps (until the
/// moment its request conforms); when it is served, the waiters behind it whose requests also
/// conform are served in order and woken together. Nobody is overtaken, and capacity wakes
/// the tasks it can serve, not a herd. The non-waiting [`check`](Self::check) does not queue
/// and may take capacity ahead of waiters.
///
/// Waiting sleeps on Tokio's timer, which has 1 ms ticks and can fire up to ~2 ms late; while
/// a waiter oversleeps, capacity beyond the burst is lost. When the quota's burst absorbs that
/// (2 ms of the rate or more), waiters just sleep. When it does not, a wait shorter than 50 µs
/// is spent yielding to the scheduler and checking again instead (at most 256 times per
/// `acquire`, and never on a clock that stands still, such as paused Tokio time), so that
/// high rates with small bursts are still delivered in full. Longer waits on such a quota may
/// lose capacity; see [`spin_wait`](RateLimiterBuilder::spin_wait).
///
/// Waiters are told apart by their place in the queue, never by their waker, so a future
/// polled with a different waker each time (moved between tasks, wrapped in `select!`) waits
/// without spinning.
///
/// [`close`](Self::close) (or the builder's
/// [`cancellation_token`](RateLimiterBuilder::cancellation_token)) lets every waiter go with
/// [`Closed`] and refuses later `acquire`s; the non-waiting [`check`](Self::check) ignores it
/// (see there). Dropping the last handle needs no close: a waiter holds a handle, so nobody
/// can be waiting then.
pub struct RateLimiter<C: Clock = DefaultClock> {
    inner: Arc<Inner<C>>,
}

pub(crate) struct Inner<C> {
    gate: Gate,
    counters: Counters,
    burst: u32,
    clock: C,
    queue: WaitQueue,
    /// Nanoseconds at the end of a wait spent yielding rather than sleeping.
    spin: u64,
    /// Set once by `close`; read by waiters (under the queue's lock when they join it), never
    /// by `check`.
    closed: AtomicBool,
    watches: Watches,
}

impl<C: Clock> Close for Inner<C> {
    fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let woken = self.queue.close();
        tracing::debug!(
            limiter = %self.counters.name(),
            kind = "rate",
            waiters_released = woken,
            "limiter closed"
        );
    }

    fn watches(&self) -> &Watches {
        &self.watches
    }
}

impl<C: Clock> Clone for RateLimiter<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: Clock> fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.inner.counters.name())
            .field("gate", &self.inner.gate)
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl RateLimiter {
    /// The most quotas one limiter may have. Every decision checks them all under a lock, so
    /// the bound keeps that critical section short; quotas that overlap can be merged.
    pub const MAX_QUOTAS: usize = 16;

    /// The longest [`spin_wait`](RateLimiterBuilder::spin_wait): 10 ms, five times the
    /// lateness of Tokio's timer that spinning exists to hide.
    pub const MAX_SPIN_WAIT: Duration = Duration::from_millis(10);

    /// A limiter with one quota on the [`DefaultClock`].
    ///
    /// # Errors
    /// [`ConfigError`] if the quota is invalid (zero count, period or burst; rate finer than
    /// 1 ns; tolerance beyond [`Quota::MAX_TOLERANCE`]).
    pub fn new(quota: Quota) -> Result<Self, ConfigError> {
        Self::builder().quota(quota).build()
    }

    /// A builder for several quotas, a name for tracing, or another clock.
    pub fn builder() -> RateLimiterBuilder {
        RateLimiterBuilder {
            quotas: Vec::new(),
            name: Cow::Borrowed("rate"),
            clock: DefaultClock::new(),
            spin: Duration::ZERO,
            token: None,
        }
    }
}

impl<C: Clock> RateLimiter<C> {
    /// Admits one permit now, or says how long until one would conform. Never waits.
    ///
    /// `check` ignores [`close`](Self::close): it is the hot path (a clock read and a
    /// compare-and-swap), and its answer is a retry-after, not a lifecycle state. Callers that
    /// must stop at shutdown test [`is_closed`](Self::is_closed) themselves; waiters observe
    /// the close on their own.
    ///
    /// # Errors
    /// [`RetryAfter`] with the wait until the request would conform.
    #[inline]
    pub fn check(&self) -> Result<(), RetryAfter> {
        let inner = &*self.inner;
        let now = inner.clock.now_nanos();
        match inner.gate.try_consume(now, 1) {
            Ok(_) => {
                inner.counters.admit(1);
                Ok(())
            }
            Err(wait) => Err(inner.rejected(wait)),
        }
    }

    /// Admits `n` permits at once (all or none), or says why not. Never waits. Like
    /// [`check`](Self::check), it ignores [`close`](Self::close).
    ///
    /// # Errors
    /// [`CheckError::RetryAfter`] if they would conform later; [`CheckError::ExceedsBurst`] if
    /// `n` is larger than the burst and never will.
    #[inline]
    pub fn check_n(&self, n: u32) -> Result<(), CheckError> {
        let inner = &*self.inner;
        inner.fits(n)?;
        if n == 0 {
            return Ok(());
        }
        let now = inner.clock.now_nanos();
        match inner.gate.try_consume(now, n) {
            Ok(_) => {
                inner.counters.admit(n);
                Ok(())
            }
            Err(wait) => Err(inner.rejected(wait).into()),
        }
    }

    /// Waits until one permit conforms and takes it.
    ///
    /// A caller that cannot be admitted at once counts as waiting ([`Metrics::waited`],
    /// [`Metrics::waiting`]), never as rejected.
    ///
    /// # Errors
    /// [`Closed`] if the limiter is closed, at once for a new call and as soon as it closes for
    /// a waiting one. A waiter that had already been served when the limiter closed keeps its
    /// permit and returns `Ok`.
    ///
    /// # Cancel safety
    /// Cancel-safe: a dropped future leaves the queue (waking the next waiter if it was first)
    /// and consumes nothing. If it was dropped after being served but before being polled, its
    /// permit is refunded, exactly, as long as that happens before the burst tolerance has
    /// elapsed since the grant; later than that it stays consumed (erring on the side of the
    /// limit), which is logged at `debug`.
    ///
    /// # Panics
    /// If it has to wait outside a Tokio runtime with time enabled (it sleeps on Tokio's
    /// timer). A future that outlives the runtime it was first polled on finishes on the
    /// runtime that polls it next.
    pub async fn acquire(&self) -> Result<(), Closed> {
        Acquire::new(&*self.inner, 1).await
    }

    /// Waits until `n` permits conform and takes them all at once. Waiters are served in
    /// arrival order, so a large request is not starved by small ones arriving after it.
    ///
    /// # Errors
    /// [`AcquireError::ExceedsBurst`] at once, without waiting, if `n` is larger than the
    /// burst; [`AcquireError::Closed`] as for [`acquire`](Self::acquire).
    ///
    /// # Cancel safety
    /// Cancel-safe, as [`acquire`](Self::acquire).
    ///
    /// # Panics
    /// As [`acquire`](Self::acquire).
    pub async fn acquire_n(&self, n: u32) -> Result<(), AcquireError> {
        self.inner.fits(n)?;
        if n > 0 {
            Acquire::new(&*self.inner, n).await?;
        } else if self.is_closed() {
            return Err(AcquireError::Closed);
        }
        Ok(())
    }

    /// Stops intake: every caller waiting in `acquire` returns [`Closed`] at once, and later
    /// `acquire` calls are refused with it. Idempotent; returns at once. [`check`](Self::check)
    /// ignores it. A rate limiter has nothing in progress to wait for (a permit is spent when
    /// it is taken), so there is no `drain`, and nothing to abort.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether [`close`](Self::close) was called (or the cancellation token cancelled).
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Relaxed)
    }

    /// Closes the limiter when `token` is cancelled (for a [`Limiter`](crate::Limiter)'s token).
    pub(crate) fn close_on_cancel(&self, token: CancellationToken) {
        close_on_cancel(&self.inner, token);
    }

    /// A pending `acquire` of one permit that owns a handle to the limiter.
    #[cfg(feature = "tower")]
    pub(crate) fn reserve(&self) -> Reservation<C> {
        Acquire::new(Arc::clone(&self.inner), 1)
    }

    /// Admits one permit if it conforms now and nobody is queued in `acquire` ahead; counts
    /// nothing otherwise (the caller goes on to wait in `acquire`).
    #[cfg(feature = "tower")]
    pub(crate) fn try_admit_fair(&self) -> bool {
        let inner = &*self.inner;
        if inner.queue.len() > 0 || inner.gate.try_consume(inner.clock.now_nanos(), 1).is_err() {
            return false;
        }
        inner.counters.admit(1);
        true
    }

    /// The largest request that can ever be admitted: the smallest burst among the quotas.
    pub fn burst(&self) -> u32 {
        self.inner.burst
    }

    /// A snapshot of the counters; `limit` is the burst.
    pub fn metrics(&self) -> Metrics {
        Metrics {
            admitted: self.inner.counters.admitted(),
            rejected: self.inner.counters.rejected(),
            waited: self.inner.counters.waited(),
            waiting: self.inner.queue.len(),
            limit: self.inner.burst as usize,
            in_flight: 0,
            keys: 0,
            max_keys: 0,
            evicted_idle: 0,
            evicted_early: 0,
        }
    }
}

impl<C: Clock> Inner<C> {
    #[inline]
    fn fits(&self, n: u32) -> Result<(), ExceedsBurst> {
        ExceedsBurst::check(n, self.burst)
    }

    fn rejected(&self, wait_nanos: u64) -> RetryAfter {
        self.counters.reject_for(wait_nanos)
    }
}

/// Builds a [`RateLimiter`]; see [`RateLimiter::builder`].
#[derive(Debug)]
pub struct RateLimiterBuilder<C = DefaultClock> {
    quotas: Vec<Quota>,
    name: Cow<'static, str>,
    clock: C,
    spin: Duration,
    token: Option<CancellationToken>,
}

impl<C: Clock> RateLimiterBuilder<C> {
    /// Adds a quota. A request must conform to every quota; one that fails any consumes none.
    pub fn quota(mut self, quota: Quota) -> Self {
        self.quotas.push(quota);
        self
    }

    /// Names the limiter in its `tracing` events (default `"rate"`).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Reads time from `clock` instead of the [`DefaultClock`](crate::DefaultClock).
    pub fn clock<C2: Clock>(self, clock: C2) -> RateLimiterBuilder<C2> {
        RateLimiterBuilder {
            quotas: self.quotas,
            name: self.name,
            clock,
            spin: self.spin,
            token: self.token,
        }
    }

    /// Closes the limiter when `token` is cancelled: exactly what [`RateLimiter::close`]
    /// does (waiters let go with [`Closed`], later `acquire`s refused). Graceful; nothing is
    /// aborted. Needs no runtime and no task.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Spends the last `spin` of each wait in `acquire` yielding to the scheduler and checking
    /// again, instead of on Tokio's timer (default: zero, never).
    ///
    /// Tokio's timer has 1 ms ticks, so a waiter can oversleep by up to ~2 ms, and capacity
    /// accrued beyond the burst meanwhile is lost. By default only waits shorter than 50 µs
    /// are yielded through, and only on quotas whose burst is under 2 ms of the rate; a wait
    /// of, say, 0.5 ms at 2,000/s with a burst of 1 still sleeps and loses. Spinning the last
    /// ~2 ms makes every wait precise, at the cost of keeping one worker busy while the
    /// limiter is saturated. Prefer a larger burst when the downstream allows it. Ignored
    /// while the clock stands still (paused Tokio time), where yielding cannot help. At most
    /// [`RateLimiter::MAX_SPIN_WAIT`] (10 ms); `build` refuses more.
    pub fn spin_wait(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Validates the quotas and builds the limiter.
    ///
    /// # Errors
    /// [`ConfigError::NoQuota`] without a quota, [`ConfigError::TooManyQuotas`] with more
    /// than [`RateLimiter::MAX_QUOTAS`], [`ConfigError::SpinWaitTooLong`] for a spin above
    /// [`RateLimiter::MAX_SPIN_WAIT`], or the first invalid quota's error.
    pub fn build(self) -> Result<RateLimiter<C>, ConfigError> {
        if self.quotas.is_empty() {
            return Err(ConfigError::NoQuota);
        }
        if self.quotas.len() > RateLimiter::MAX_QUOTAS {
            return Err(ConfigError::TooManyQuotas {
                count: self.quotas.len(),
            });
        }
        if self.spin > RateLimiter::MAX_SPIN_WAIT {
            return Err(ConfigError::SpinWaitTooLong { spin: self.spin });
        }
        let params = self
            .quotas
            .iter()
            .map(Quota::params)
            .collect::<Result<Vec<_>, _>>()?;
        let gate = Gate::new(params);
        let inner = Arc::new(Inner {
            burst: gate.burst(),
            gate,
            clock: self.clock,
            counters: Counters::new("rate", self.name),
            queue: WaitQueue::default(),
            spin: duration_nanos(self.spin),
            closed: AtomicBool::new(false),
            watches: Watches::default(),
        });
        if let Some(token) = self.token {
            close_on_cancel(&inner, token);
        }
        Ok(RateLimiter { inner })
    }
}
