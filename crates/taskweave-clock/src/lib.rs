//! The one clock abstraction of the taskweave crates.
//!
//! Components that read the time on a hot path (a rate limiter's decision, a circuit
//! breaker's slow-call timing) read it through [`Clock`], a single method returning nanoseconds
//! since the clock's origin:
//!
//! - [`TokioClock`], the default everywhere: `tokio::time::Instant`, so `tokio::time::pause`
//!   and `advance` drive every component deterministically in tests;
//! - [`ManualClock`]: moves only when told to, for tests and simulations outside a runtime;
//! - `QuantaClock` (feature `quanta`): the CPU's time-stamp counter, about half the cost of a
//!   Tokio clock read, but not paused by Tokio's test clock.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use taskweave_clock::{Clock, ManualClock, TokioClock};
//!
//! let manual = ManualClock::new();
//! manual.advance(Duration::from_millis(5));
//! assert_eq!(manual.now_nanos(), 5_000_000);
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let tokio_clock = TokioClock::new();
//! tokio::time::advance(Duration::from_secs(1)).await;
//! assert_eq!(tokio_clock.now_nanos(), 1_000_000_000);
//! # }
//! ```
//!
//! # Feature flags
//!
//! - `quanta`: `QuantaClock`.

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonic source of time, read on hot paths (a rate limiter's decision, a breaker's
/// slow-call timing).
///
/// The default everywhere, [`TokioClock`], follows `tokio::time`, so paused-time tests drive
/// every component that reads it. Components that also *wait* (a limiter's `acquire`) sleep on
/// Tokio's timer for the wait the clock computed, so a custom clock must advance at the same
/// pace as Tokio's.
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
/// about half the cost of [`TokioClock`] per read.
///
/// The trade-off: it is not Tokio's clock, so `tokio::time::pause` and `advance` do not move it
/// and a limiter on it cannot be driven by paused-time tests; test with the default
/// [`TokioClock`] (or a [`ManualClock`]) and switch clocks in production only where the check
/// path is hot enough to matter. Components still sleep on Tokio's timer for the waits this
/// clock computes, which is consistent because both follow real time outside paused tests.
/// Where the CPU has no invariant time-stamp counter, quanta falls back to the OS monotonic
/// clock, and the saving disappears. The first `new` in a process calibrates the counter
/// against the OS clock, which takes a few milliseconds.
///
/// ```
/// use taskweave_clock::{Clock, QuantaClock};
///
/// let clock = QuantaClock::new();
/// let a = clock.now_nanos();
/// assert!(clock.now_nanos() >= a);
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

    /// Moves the clock forward by `by`, stopping at `u64::MAX` nanoseconds.
    pub fn advance(&self, by: Duration) {
        let by = duration_nanos(by);
        // Never wraps back to the origin: a clock must not decrease.
        let _ = self
            .nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                Some(now.saturating_add(by))
            });
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

/// `d` in whole nanoseconds, saturating at `u64::MAX` (584 years). Avoids `as_nanos`'s 128-bit
/// arithmetic, which is measurable on hot paths.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(taskweave_clock::duration_nanos(Duration::from_millis(3)), 3_000_000);
/// assert_eq!(taskweave_clock::duration_nanos(Duration::MAX), u64::MAX);
/// ```
#[inline]
pub fn duration_nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}
