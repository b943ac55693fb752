//! Where the breaker reads the time: the [`DefaultClock`], or the [`Clock`] given to the builder.

use std::fmt;
use std::sync::Arc;

use taskweave_clock::{Clock, DefaultClock};

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
