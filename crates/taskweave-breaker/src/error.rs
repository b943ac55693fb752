//! The breaker's errors: invalid configuration, rejected calls, and a call's combined error.

use std::fmt;
use std::time::Duration;

use crate::state::State;

/// A setting given to [`Builder`](crate::Builder) is out of range.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `failure_rate_threshold` is not in (0, 1].
    FailureRateThreshold(f64),
    /// `slow_call_rate_threshold` is not in (0, 1].
    SlowCallRateThreshold(f64),
    /// `slow_call_duration` is zero.
    ZeroSlowCallDuration,
    /// `count_window` is zero.
    ZeroCountWindow,
    /// `count_window` is above [`MAX_COUNT_WINDOW`](crate::MAX_COUNT_WINDOW).
    CountWindowTooLarge(usize),
    /// `time_window` has more than [`MAX_TIME_WINDOW_BUCKETS`](crate::MAX_TIME_WINDOW_BUCKETS)
    /// buckets.
    TimeWindowBuckets(usize),
    /// `time_window` has zero buckets, or buckets shorter than a millisecond.
    TimeWindow {
        /// The window length given.
        length: Duration,
        /// The bucket count given.
        buckets: usize,
    },
    /// `minimum_calls` is zero.
    ZeroMinimumCalls,
    /// `minimum_calls` is above [`MAX_MINIMUM_CALLS`](crate::MAX_MINIMUM_CALLS).
    MinimumCallsTooLarge(usize),
    /// `minimum_calls` exceeds the count window, so the breaker could never trip.
    MinimumCallsExceedWindow {
        /// The minimum given.
        minimum_calls: usize,
        /// The count window given.
        window: usize,
    },
    /// `wait_duration` is zero.
    ZeroWaitDuration,
    /// The `wait_growth` multiplier is below 1 or not finite.
    WaitGrowthMultiplier(f64),
    /// The `wait_growth` cap is shorter than `wait_duration`.
    WaitCapBelowWait {
        /// The cap given.
        cap: Duration,
        /// The wait duration given.
        wait: Duration,
    },
    /// `half_open_calls` is zero or above [`MAX_HALF_OPEN_CALLS`](crate::MAX_HALF_OPEN_CALLS).
    HalfOpenCalls(usize),
    /// `event_capacity` is zero or above [`MAX_EVENT_CAPACITY`](crate::MAX_EVENT_CAPACITY).
    EventCapacity(usize),
    /// `max_wait_in_half_open` is zero.
    ZeroMaxWaitInHalfOpen,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::FailureRateThreshold(r) => write!(
                f,
                "failure_rate_threshold must be in (0, 1], got {r}: pass a fraction, e.g. 0.5 for 50%"
            ),
            ConfigError::SlowCallRateThreshold(r) => write!(
                f,
                "slow_call_rate_threshold must be in (0, 1], got {r}: pass a fraction, e.g. 0.8 for 80%"
            ),
            ConfigError::ZeroSlowCallDuration => f.write_str(
                "slow_call_duration must be greater than zero: leave it unset to not count slow calls",
            ),
            ConfigError::ZeroCountWindow => {
                f.write_str("count_window must hold at least one call, e.g. 100")
            }
            ConfigError::CountWindowTooLarge(n) => write!(
                f,
                "count_window of {n} calls is above the maximum of {}: use a time_window for \
                 rates over that many calls",
                crate::MAX_COUNT_WINDOW
            ),
            ConfigError::TimeWindowBuckets(n) => write!(
                f,
                "time_window has {n} buckets, above the maximum of {}: use fewer, longer \
                 buckets (e.g. 1 h in 720 buckets of 5 s)",
                crate::MAX_TIME_WINDOW_BUCKETS
            ),
            ConfigError::TimeWindow { length, buckets } => write!(
                f,
                "time_window of {length:?} in {buckets} buckets is invalid: use at least one \
                 bucket, each at least 1 ms long (e.g. 60 s in 60 buckets)"
            ),
            ConfigError::ZeroMinimumCalls => {
                f.write_str("minimum_calls must be at least 1, e.g. 10")
            }
            ConfigError::MinimumCallsTooLarge(n) => write!(
                f,
                "minimum_calls of {n} is above the maximum of {}: a breaker that needs more \
                 calls than that before it can trip never protects anything",
                crate::MAX_MINIMUM_CALLS
            ),
            ConfigError::MinimumCallsExceedWindow {
                minimum_calls,
                window,
            } => write!(
                f,
                "minimum_calls ({minimum_calls}) exceeds the count window ({window}), so the \
                 breaker could never trip: lower minimum_calls or widen the window"
            ),
            ConfigError::ZeroWaitDuration => f.write_str(
                "wait_duration must be greater than zero, e.g. 30 s: it is how long the breaker \
                 stays open",
            ),
            ConfigError::WaitGrowthMultiplier(m) => write!(
                f,
                "the wait_growth multiplier must be a finite number of at least 1, got {m}"
            ),
            ConfigError::WaitCapBelowWait { cap, wait } => write!(
                f,
                "the wait_growth cap ({cap:?}) is shorter than wait_duration ({wait:?}): raise \
                 the cap"
            ),
            ConfigError::HalfOpenCalls(n) => write!(
                f,
                "half_open_calls must be between 1 and {}, got {n}",
                crate::MAX_HALF_OPEN_CALLS
            ),
            ConfigError::EventCapacity(n) => write!(
                f,
                "event_capacity must be between 1 and {}, got {n}: it bounds how many \
                 transitions a slow subscriber can fall behind, e.g. 64",
                crate::MAX_EVENT_CAPACITY
            ),
            ConfigError::ZeroMaxWaitInHalfOpen => f.write_str(
                "max_wait_in_half_open must be greater than zero, e.g. 60 s: it is how long \
                 unfinished trial calls may keep the breaker half-open (Duration::MAX waits for \
                 ever)",
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A call was not admitted: the breaker is open, forced open, or half-open with every trial
/// call already taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    pub(crate) state: State,
    pub(crate) retry_after: Option<Duration>,
}

impl Rejected {
    /// The state that rejected the call.
    pub fn state(&self) -> State {
        self.state
    }

    /// How long until the breaker admits trial calls, when known: set in `Open` state, `None`
    /// when forced open (it stays so until a manual transition) or half-open (it depends on the
    /// trial calls in flight).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.state, self.retry_after) {
            (State::HalfOpen, _) => f.write_str(
                "circuit breaker is half-open and all its trial calls are in flight; retry shortly",
            ),
            (state, Some(after)) => write!(
                f,
                "circuit breaker is {state}: retry in {after:?}, when it admits trial calls"
            ),
            (state, None) => write!(
                f,
                "circuit breaker is {state} until it is reset or disabled by hand: do not retry \
                 before then"
            ),
        }
    }
}

impl std::error::Error for Rejected {}

/// The error of a call made through the breaker: rejected, or the operation's own error.
///
/// Non-exhaustive: match the two variants and add a `_` arm, or use
/// [`as_rejected`](CallError::as_rejected) and [`into_operation`](CallError::into_operation).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError<E> {
    /// The breaker did not admit the call; the operation was not run.
    Rejected(Rejected),
    /// The operation ran and returned this error.
    Operation(E),
}

impl<E> CallError<E> {
    /// Whether the breaker rejected the call.
    pub fn is_rejected(&self) -> bool {
        matches!(self, CallError::Rejected(_))
    }

    /// The rejection, if the breaker did not admit the call: for its
    /// [`retry_after`](Rejected::retry_after).
    pub fn as_rejected(&self) -> Option<&Rejected> {
        match self {
            CallError::Rejected(r) => Some(r),
            CallError::Operation(_) => None,
        }
    }

    /// The operation's error, if it ran and failed.
    pub fn into_operation(self) -> Option<E> {
        match self {
            CallError::Operation(e) => Some(e),
            CallError::Rejected(_) => None,
        }
    }
}

impl<E> From<Rejected> for CallError<E> {
    fn from(rejected: Rejected) -> Self {
        CallError::Rejected(rejected)
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(r) => r.fmt(f),
            CallError::Operation(e) => e.fmt(f),
        }
    }
}

impl<E> std::error::Error for CallError<E>
where
    E: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // Display is transparent, so the source is the wrapped error's source.
        match self {
            CallError::Rejected(_) => None,
            CallError::Operation(e) => e.source(),
        }
    }
}
