//! Where rate limiters read the time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonic source of time for rate limiters, read once per decision.
///
/// The default, [`TokioClock`], follows `tokio::time`, so paused-time tests drive limiters.
/// Waiting (`acquire`) always sleeps on Tokio's timer for the wait the clock computed, so a
/// custom clock must advance at the same pace as Tokio's.
pub trait Clock: Send + Sync + 'static {
    /// Nanoseconds elapsed since the clock's origin. Must never decrease.
    fn now_nanos(&self) -> u64;
}

/// Tokio's clock (`tokio::time::Instant`): honours `tokio::time::pause` and `advance`.
///
/// Outside a paused runtime this reads the OS monotonic clock, about 20–30 ns per read on
/// common x86-64 hosts, which is most of the cost of a `check`.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        duration_nanos(tokio::time::Instant::now().saturating_duration_since(self.origin))
    }
}

/// A clock read from the CPU's time-stamp counter through [`quanta`], the clock governor uses:
/// about half the cost of [`TokioClock`] per read, which is most of a `check`.
///
/// The trade-off: it is not Tokio's clock, so `tokio::time::pause` and `advance` do not move it
/// and a limiter on it cannot be driven by paused-time tests; test with the default
/// [`TokioClock`] (or a [`ManualClock`]) and switch clocks in production only where the check
/// path is hot enough to matter. `acquire` still sleeps on Tokio's timer for the wait this
/// clock computes, which is consistent because both follow real time outside paused tests.
/// Where the CPU has no invariant time-stamp counter, quanta falls back to the OS monotonic
/// clock, and the saving disappears. The first `new` in a process calibrates the counter
/// against the OS clock, which takes a few milliseconds.
///
/// ```
/// use taskweave_limit::{QuantaClock, Quota, RateLimiter};
///
/// let limiter = RateLimiter::builder()
///     .quota(Quota::per_second(1_000))
///     .clock(QuantaClock::new())
///     .build()?;
/// assert!(limiter.check().is_ok());
/// # Ok::<(), taskweave_limit::ConfigError>(())
/// ```
#[cfg(feature = "quanta")]
#[cfg_attr(docsrs, doc(cfg(feature = "quanta")))]
#[derive(Debug, Clone)]
pub struct QuantaClock {
    clock: quanta::Clock,
    /// The raw counter value at the origin; reads scale only the difference to nanoseconds.
    origin: u64,
}

#[cfg(feature = "quanta")]
impl QuantaClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        let clock = quanta::Clock::new();
        let origin = clock.raw();
        Self { clock, origin }
    }
}

#[cfg(feature = "quanta")]
impl Default for QuantaClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "quanta")]
impl Clock for QuantaClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        // Zero for a reading before the origin (another core's counter lagging by a few
        // cycles), which GCRA treats like any earlier instant.
        self.clock.delta_as_nanos(self.origin, self.clock.raw())
    }
}

/// A clock that only moves when told to: for tests and simulations outside a runtime.
///
/// Clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at its origin (time zero).
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(duration_nanos(by), Ordering::Relaxed);
    }

    /// The time elapsed since the origin.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::Relaxed)
    }
}

/// `d` in whole nanoseconds, saturating (after 584 years). Avoids `as_nanos`'s 128-bit
/// arithmetic, which is measurable on the check path.
#[inline]
pub(crate) fn duration_nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}
