//! The one clock abstraction of the taskweave crates.
//!
//! Components that read the time on a hot path (a rate limiter's decision, a circuit
//! breaker's slow-call timing) read it through [`Clock`], a single method returning nanoseconds
//! since the clock's origin:
//!
//! - [`DefaultClock`], what every component reads unless told otherwise: the CPU's time-stamp
//!   counter ([`QuantaClock`], the clock governor reads), or Tokio's clock when the `test-util`
//!   feature is on, so that paused-time tests drive every component;
//! - [`TokioClock`]: `tokio::time::Instant`, so `tokio::time::pause` and `advance` move it,
//!   at two to three times the cost of a time-stamp-counter read;
//! - [`QuantaClock`]: the time-stamp counter, cheap to read but not paused by Tokio's test clock;
//! - [`CoarseClock`]: the kernel's clock of the last timer tick (Linux), half the cost of a
//!   time-stamp-counter read, for durations that are long next to a tick;
//! - [`ManualClock`]: moves only when told to, for tests and simulations outside a runtime.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use taskweave_clock::{Clock, ManualClock, TokioClock};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let manual = ManualClock::new();
//! manual.advance(Duration::from_millis(5));
//! assert_eq!(manual.now_nanos(), 5_000_000);
//!
//! let tokio_clock = TokioClock::new();
//! tokio::time::advance(Duration::from_secs(1)).await;
//! assert_eq!(tokio_clock.now_nanos(), 1_000_000_000);
//! # }
//! ```
//!
//! # Feature flags
//!
//! - `test-util`: [`DefaultClock`] reads Tokio's clock instead of the time-stamp counter, so that
//!   `tokio::time::pause` and `advance` drive the components that read it. Enable it in your
//!   `[dev-dependencies]`, as you enable Tokio's feature of the same name; the crates that take
//!   a clock (`taskweave-limit`, `taskweave-breaker`, `taskweave-shutdown`) forward a `test-util`
//!   feature to it.

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A monotonic source of time, read on hot paths (a rate limiter's decision, a breaker's
/// slow-call timing).
///
/// Components read [`DefaultClock`] unless given another. Components that also *wait* (a
/// limiter's `acquire`) sleep on Tokio's timer for the wait the clock computed, so a custom
/// clock must advance at the same pace as Tokio's.
pub trait Clock: Send + Sync + 'static {
    /// Nanoseconds elapsed since the clock's origin. Must never decrease.
    fn now_nanos(&self) -> u64;
}

/// Tokio's clock (`tokio::time::Instant`): honours `tokio::time::pause` and `advance`.
///
/// Outside a paused runtime this reads the OS monotonic clock, 20–40 ns per read on common
/// x86-64 hosts (more on virtual machines), which is most of the cost of a limiter's `check`.
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
/// a third to a half of the cost of a [`TokioClock`] read. It is what [`DefaultClock`] reads
/// without the `test-util` feature.
///
/// The trade-off: it is not Tokio's clock, so `tokio::time::pause` and `advance` do not move it
/// and a component on it cannot be driven by paused-time tests. Components still sleep on
/// Tokio's timer for the waits this clock computes, which is consistent because both follow
/// real time outside paused tests.
/// Where the CPU has no invariant time-stamp counter, quanta falls back to the OS monotonic
/// clock, and the saving disappears. The first `new` in a process calibrates the counter
/// against the OS clock, which takes about a millisecond; later ones copy that clock.
///
/// ```
/// use taskweave_clock::{Clock, QuantaClock};
///
/// let clock = QuantaClock::new();
/// let a = clock.now_nanos();
/// assert!(clock.now_nanos() >= a);
/// ```
#[derive(Debug, Clone)]
pub struct QuantaClock {
    clock: quanta::Clock,
    /// The raw counter value at the origin; reads scale only the difference to nanoseconds.
    origin: u64,
}

impl QuantaClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        // One `quanta::Clock` per process, copied: building one probes the CPU each time
        // (about 15 µs on a virtual machine, where the probe traps to the hypervisor), and
        // every limiter, breaker and shutdown phase builds a clock.
        static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
        let clock = CLOCK.get_or_init(quanta::Clock::new).clone();
        let origin = clock.raw();
        Self { clock, origin }
    }
}

impl Default for QuantaClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for QuantaClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        // Zero for a reading before the origin (another core's counter lagging by a few
        // cycles), which GCRA treats like any earlier instant.
        self.clock.delta_as_nanos(self.origin, self.clock.raw())
    }
}

/// The clock components read unless given another: [`QuantaClock`] (the CPU's time-stamp
/// counter), or [`TokioClock`] when the `test-util` feature is on.
///
/// The time-stamp counter makes the hot paths cheap: a limiter's `check` or a breaker's
/// slow-call timing reads it in about a third of the time of an OS clock read. Tests that pause
/// Tokio's time need the components to follow it, so the `test-util` feature, meant for
/// `[dev-dependencies]` like Tokio's, switches this clock to Tokio's. Which one a build reads is
/// fixed at compile time, so reading it costs no branch.
///
/// ```
/// use taskweave_clock::{Clock, DefaultClock};
///
/// let clock = DefaultClock::new();
/// let a = clock.now_nanos();
/// assert!(clock.now_nanos() >= a);
/// // Without `test-util` this is the time-stamp counter, with it Tokio's clock.
/// assert_eq!(DefaultClock::FOLLOWS_TOKIO, cfg!(feature = "test-util"));
/// ```
#[derive(Debug, Clone)]
pub struct DefaultClock {
    #[cfg(not(feature = "test-util"))]
    clock: QuantaClock,
    #[cfg(feature = "test-util")]
    clock: TokioClock,
}

impl DefaultClock {
    /// Whether this build's default clock is Tokio's (the `test-util` feature is on), so that
    /// `tokio::time::pause` and `advance` move it.
    pub const FOLLOWS_TOKIO: bool = cfg!(feature = "test-util");

    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            #[cfg(not(feature = "test-util"))]
            clock: QuantaClock::new(),
            #[cfg(feature = "test-util")]
            clock: TokioClock::new(),
        }
    }
}

impl Default for DefaultClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for DefaultClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        self.clock.now_nanos()
    }
}

/// The kernel's coarse monotonic clock (`CLOCK_MONOTONIC_COARSE`): the time of the last timer
/// tick, for measuring durations that are long next to a tick. Linux and Android only.
///
/// Reading it copies a value the kernel updates at every tick, without touching the time-stamp
/// counter: about half the cost of a [`QuantaClock`] read. Its readings step by
/// [`resolution`](CoarseClock::resolution), the kernel's tick (1 to 10 ms, fixed when the kernel
/// was built), so a duration measured on it is off by less than one tick either way. The
/// kernel keeps it current even when no thread reads it, and it needs no thread of ours.
///
/// `tokio::time::pause` does not move it. [`new`](CoarseClock::new) returns `None` on other
/// platforms.
///
/// ```
/// use taskweave_clock::{Clock, CoarseClock};
///
/// if let Some(clock) = CoarseClock::new() {
///     let a = clock.now_nanos();
///     assert!(clock.now_nanos() >= a);
///     assert!(clock.resolution() <= std::time::Duration::from_millis(100));
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CoarseClock {
    /// The kernel clock's reading at the origin, in nanoseconds.
    origin: u64,
    resolution: Duration,
}

impl CoarseClock {
    /// A coarse clock whose origin is now, or `None` where the platform has none (any but Linux
    /// and Android).
    pub fn new() -> Option<Self> {
        coarse::resolution().map(|resolution| Self {
            origin: coarse::now(),
            resolution,
        })
    }

    /// How far apart the clock's readings step: the kernel's timer tick.
    pub fn resolution(&self) -> Duration {
        self.resolution
    }
}

impl Clock for CoarseClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        coarse::now().saturating_sub(self.origin)
    }
}

/// The kernel's coarse clock, where it exists, read through rustix: it calls the vDSO directly,
/// a nanosecond and more cheaper per read than going through libc's `clock_gettime`.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod coarse {
    use std::time::Duration;

    use rustix::time::{ClockId, Timespec, clock_getres, clock_gettime};

    /// The tick, if the kernel has the clock (every kernel since Linux 2.6.32 does).
    pub(super) fn resolution() -> Option<Duration> {
        let res = clock_getres(ClockId::MonotonicCoarse);
        let res = Duration::new(
            u64::try_from(res.tv_sec).ok()?,
            u32::try_from(res.tv_nsec).ok()?,
        );
        (!res.is_zero()).then_some(res)
    }

    /// Nanoseconds on the kernel's coarse monotonic clock.
    #[inline]
    pub(super) fn now() -> u64 {
        nanos(clock_gettime(ClockId::MonotonicCoarse))
    }

    #[inline]
    fn nanos(ts: Timespec) -> u64 {
        // A monotonic clock counts from boot: both fields are non-negative, and the
        // nanoseconds overflow only after 584 years of uptime.
        (ts.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec as u64)
    }
}

/// Other platforms have no coarse clock: `CoarseClock::new` returns `None`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod coarse {
    use std::time::Duration;

    pub(super) fn resolution() -> Option<Duration> {
        None
    }

    pub(super) fn now() -> u64 {
        0
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
