//! Where the breaker reads the time: the [`DefaultClock`], or the [`Clock`] given to the
//! builder; and what times a call for slow-call detection ([`CallTimer`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use taskweave_clock::{Clock, CoarseClock, DefaultClock};

/// The breaker's clock, read as nanoseconds since the breaker was built.
///
/// The default clock is a variant of its own so that reading it stays a direct,
/// inlined call; any other clock is called through `dyn Clock` (one indirect call per read,
/// and only on the paths that read the time at all), which keeps `Breaker`, `Permit` and the
/// tower types free of a clock type parameter.
pub(crate) enum TimeSource {
    Default(DefaultClock),
    Custom {
        clock: Arc<dyn Clock>,
        /// The clock's reading when the breaker was built: deadlines are kept in 40 bits of
        /// milliseconds from it, so a clock with a distant origin must not shift them.
        origin: u64,
    },
}

impl TimeSource {
    pub(crate) fn new(clock: Option<Arc<dyn Clock>>) -> TimeSource {
        match clock {
            None => TimeSource::Default(DefaultClock::new()),
            Some(clock) => {
                let origin = clock.now_nanos();
                TimeSource::Custom { clock, origin }
            }
        }
    }

    /// Nanoseconds since the breaker was built.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match self {
            TimeSource::Default(clock) => clock.now_nanos(),
            TimeSource::Custom { clock, origin } => clock.now_nanos().saturating_sub(*origin),
        }
    }
}

impl fmt::Debug for TimeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeSource::Default(clock) => f.debug_tuple("Default").field(clock).finish(),
            TimeSource::Custom { origin, .. } => f
                .debug_struct("Custom")
                .field("origin", origin)
                .finish_non_exhaustive(),
        }
    }
}

/// What times a call for slow-call detection: two readings per call, the hot path's largest
/// cost when slow calls are counted.
#[derive(Debug)]
pub(crate) enum CallTimer {
    /// The breaker's clock ([`TimeSource`]); a call's end reading also serves a time window.
    Breaker,
    /// The kernel's coarse clock, half the cost of a time-stamp-counter read. Its readings step
    /// by one kernel tick, so a measured duration is off by less than a tick: chosen only when
    /// the threshold is at least [`COARSE_TICKS`] ticks, where that is under 2% of it.
    Coarse(CoarseClock),
}

/// How many of the coarse clock's ticks a slow-call threshold must span for calls to be timed
/// on it: with a 4 ms tick, thresholds of 200 ms and more.
pub(crate) const COARSE_TICKS: u32 = 50;

impl CallTimer {
    /// The timer for calls of a breaker with this slow-call `threshold`: the coarse clock when
    /// the breaker reads the default clock, that clock is not Tokio's (which paused-time tests
    /// must drive), and the threshold spans [`COARSE_TICKS`] of the `coarse` clock's ticks;
    /// otherwise the breaker's clock.
    pub(crate) fn choose(
        threshold: Option<Duration>,
        custom_clock: bool,
        follows_tokio: bool,
        coarse: Option<CoarseClock>,
    ) -> CallTimer {
        let (Some(threshold), Some(coarse)) = (threshold, coarse) else {
            return CallTimer::Breaker;
        };
        let long_enough = coarse
            .resolution()
            .checked_mul(COARSE_TICKS)
            .is_some_and(|min| threshold >= min);
        if custom_clock || follows_tokio || !long_enough {
            return CallTimer::Breaker;
        }
        CallTimer::Coarse(coarse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_timed_on_the_coarse_clock_only_for_long_thresholds_on_the_default_clock() {
        let Some(coarse) = CoarseClock::new() else {
            return;
        };
        let tick = coarse.resolution();
        let long = tick * COARSE_TICKS;
        let coarse_chosen = |threshold, custom, tokio| {
            matches!(
                CallTimer::choose(threshold, custom, tokio, Some(coarse)),
                CallTimer::Coarse(_)
            )
        };
        assert!(coarse_chosen(Some(long), false, false));
        assert!(coarse_chosen(Some(Duration::from_secs(3600)), false, false));
        // Too short for a tick's error to stay under 2%.
        assert!(!coarse_chosen(
            Some(long - Duration::from_nanos(1)),
            false,
            false
        ));
        // A clock given to the builder, or Tokio's clock under `test-util`, times every call.
        assert!(!coarse_chosen(Some(long), true, false));
        assert!(!coarse_chosen(Some(long), false, true));
        // No threshold, no coarse clock on this platform.
        assert!(!coarse_chosen(None, false, false));
        assert!(matches!(
            CallTimer::choose(Some(long), false, false, None),
            CallTimer::Breaker
        ));
    }
}
