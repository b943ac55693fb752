//! Error types: configuration errors and the ways a request can be refused.

use std::fmt;
use std::time::Duration;

/// A limiter's configuration was rejected by its builder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A quota allows 0 requests per period.
    ZeroRate,
    /// A quota's period is zero.
    ZeroPeriod,
    /// A quota's burst is 0, so no request could ever conform.
    ZeroBurst,
    /// A quota asks for more than one request per nanosecond, finer than the clock can tell.
    RateTooHigh {
        /// Requests per period.
        count: u32,
        /// The period.
        period: Duration,
    },
    /// A quota's burst tolerance, `burst × (period / count)`, is longer than
    /// [`Quota::MAX_TOLERANCE`](crate::Quota::MAX_TOLERANCE) (100 years), or its period does
    /// not fit in 64-bit nanoseconds.
    BurstTooLong,
    /// A rate limiter was given more quotas than
    /// [`RateLimiter::MAX_QUOTAS`](crate::RateLimiter::MAX_QUOTAS).
    TooManyQuotas {
        /// The number of quotas given.
        count: usize,
    },
    /// [`spin_wait`](crate::RateLimiterBuilder::spin_wait) is longer than
    /// [`RateLimiter::MAX_SPIN_WAIT`](crate::RateLimiter::MAX_SPIN_WAIT).
    SpinWaitTooLong {
        /// The spin asked for.
        spin: Duration,
    },
    /// A rate limiter was built without any quota.
    NoQuota,
    /// A keyed limiter was given `max_keys = 0`.
    ZeroMaxKeys,
    /// A keyed limiter was given a zero
    /// [`sweep_interval`](crate::KeyedRateLimiterBuilder::sweep_interval), which would make
    /// every call sweep its shard.
    ZeroSweepInterval,
    /// A concurrency limit of 0 slots, which could admit nothing.
    ZeroLimit,
    /// A waiting keyed layer allowed 0 requests to wait, which would refuse every request that
    /// has to wait.
    ZeroMaxWaiting,
    /// A keyed limiter was given more than
    /// [`KeyedRateLimiter::MAX_KEYS`](crate::KeyedRateLimiter::MAX_KEYS) keys.
    MaxKeysTooLarge {
        /// The bound asked for.
        max_keys: usize,
    },
    /// An adaptive limit's minimum is 0.
    ZeroMinimum,
    /// An adaptive limit's minimum is above its maximum.
    AdaptiveBoundsInverted {
        /// The minimum limit asked for.
        min: usize,
        /// The maximum limit asked for.
        max: usize,
    },
    /// A concurrency limit (or an adaptive limit's maximum) is above
    /// [`ConcurrencyLimit::MAX_LIMIT`](crate::ConcurrencyLimit::MAX_LIMIT), what a Tokio
    /// semaphore can hold.
    MaximumTooLarge {
        /// The limit asked for.
        max: usize,
    },
    /// An adaptive limit's initial value lies outside `min..=max`.
    InitialOutOfBounds {
        /// The initial limit asked for.
        initial: usize,
        /// The minimum limit.
        min: usize,
        /// The maximum limit.
        max: usize,
    },
    /// An adaptive limit's backoff ratio is not strictly between 0 and 1.
    InvalidBackoff,
    /// An adaptive limit's latency target is zero.
    ZeroLatencyTarget,
    /// A [`Limiter`](crate::Limiter) was built with neither a rate nor a concurrency limit.
    EmptyLimiter,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroRate => f.write_str("quota allows 0 requests per period; use a count of at least 1"),
            Self::ZeroPeriod => f.write_str("quota period is zero; use a period of at least 1 ns"),
            Self::ZeroBurst => f.write_str("quota burst is 0, so nothing could ever be admitted; use a burst of at least 1"),
            Self::RateTooHigh { count, period } => write!(
                f,
                "quota of {count} per {period:?} is more than one per nanosecond; use a longer period or a smaller count"
            ),
            Self::BurstTooLong => f.write_str(
                "quota burst times the emission interval is longer than 100 years; use a smaller burst or a shorter period",
            ),
            Self::TooManyQuotas { count } => write!(
                f,
                "rate limiter has {count} quotas, more than the {} allowed; merge quotas that overlap",
                crate::RateLimiter::MAX_QUOTAS
            ),
            Self::SpinWaitTooLong { spin } => write!(
                f,
                "spin_wait of {spin:?} would keep a worker busy for longer than the {:?} allowed; use about 2 ms, or a larger burst",
                crate::RateLimiter::MAX_SPIN_WAIT
            ),
            Self::NoQuota => f.write_str("rate limiter has no quota; add one with `quota(..)`"),
            Self::ZeroMaxKeys => f.write_str("keyed limiter with max_keys = 0 could track no key; use at least 1"),
            Self::ZeroSweepInterval => f.write_str(
                "keyed limiter sweep_interval is zero, which would sweep on every call; use a positive interval (default 1s)",
            ),
            Self::ZeroLimit => f.write_str("concurrency limit of 0 could admit nothing; use a limit of at least 1"),
            Self::ZeroMaxWaiting => f.write_str(
                "keyed layer max_waiting is zero, which refuses every request that must wait; allow at least 1 (default 1024), or use KeyedRateLimitLayer::rejecting",
            ),
            Self::MaxKeysTooLarge { max_keys } => write!(
                f,
                "keyed limiter max_keys {max_keys} is above the {} allowed; use a smaller bound",
                crate::keyed::MAX_KEYS
            ),
            Self::ZeroMinimum => f.write_str("adaptive limit minimum is 0; use a minimum of at least 1"),
            Self::AdaptiveBoundsInverted { min, max } => write!(
                f,
                "adaptive limit minimum {min} is above its maximum {max}; swap them or widen the range"
            ),
            Self::MaximumTooLarge { max } => write!(
                f,
                "concurrency limit {max} is above tokio's Semaphore::MAX_PERMITS; use a smaller limit"
            ),
            Self::InitialOutOfBounds { initial, min, max } => write!(
                f,
                "adaptive limit initial value {initial} lies outside {min}..={max}; pick one inside the bounds"
            ),
            Self::InvalidBackoff => f.write_str(
                "adaptive limit backoff ratio must lie strictly between 0 and 1 (e.g. 0.9)",
            ),
            Self::ZeroLatencyTarget => f.write_str("adaptive limit latency target is zero; use a positive duration"),
            Self::EmptyLimiter => f.write_str(
                "limiter has neither a rate nor a concurrency limit; add `rate(..)` or `concurrency(..)`",
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The request does not conform yet: it would conform after [`RetryAfter::duration`], if nothing
/// else is admitted in between. Suitable for an HTTP `Retry-After` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RetryAfter(Duration);

impl RetryAfter {
    pub(crate) fn new(wait: Duration) -> Self {
        Self(wait)
    }

    /// How long until the request would conform.
    pub fn duration(self) -> Duration {
        self.0
    }

    /// The wait rounded up to whole seconds, as an HTTP `Retry-After` header wants it.
    pub fn as_secs_ceil(self) -> u64 {
        self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0)
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate limited; retry after {:?}", self.0)
    }
}

impl std::error::Error for RetryAfter {}

/// A request for more permits than the burst: it could never conform, so it fails at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExceedsBurst {
    /// Permits asked for.
    pub requested: u32,
    /// The largest request the limiter can ever admit (the smallest burst of its quotas).
    pub burst: u32,
}

impl ExceedsBurst {
    /// `Ok` if a request for `requested` permits can ever fit a burst of `burst`.
    #[inline]
    pub(crate) fn check(requested: u32, burst: u32) -> Result<(), ExceedsBurst> {
        if requested > burst {
            Err(ExceedsBurst { requested, burst })
        } else {
            Ok(())
        }
    }
}

impl fmt::Display for ExceedsBurst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request for {} permits exceeds the burst of {}; split it or raise the burst",
            self.requested, self.burst
        )
    }
}

impl std::error::Error for ExceedsBurst {}

/// Why `check_n` refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckError {
    /// Not yet: the request would conform after the given wait.
    RetryAfter(RetryAfter),
    /// Never: the request is larger than the burst.
    ExceedsBurst(ExceedsBurst),
}

impl CheckError {
    /// The wait before the request would conform, or `None` if it never will.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RetryAfter(r) => Some(r.0),
            Self::ExceedsBurst(_) => None,
        }
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RetryAfter(r) => r.fmt(f),
            Self::ExceedsBurst(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CheckError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::RetryAfter(r) => Some(r),
            Self::ExceedsBurst(e) => Some(e),
        }
    }
}

impl From<RetryAfter> for CheckError {
    fn from(r: RetryAfter) -> Self {
        Self::RetryAfter(r)
    }
}

impl From<ExceedsBurst> for CheckError {
    fn from(e: ExceedsBurst) -> Self {
        Self::ExceedsBurst(e)
    }
}

/// The limiter was closed ([`close`](crate::RateLimiter::close), its cancellation token, or
/// `drain`): it admits nothing more, and every caller that was waiting has been let go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "limiter is closed and admits nothing more; stop sending requests through it (the service is shutting down) or build a new one",
        )
    }
}

impl std::error::Error for Closed {}

/// Why a concurrency limit's `try_acquire` returned no permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryAcquireError {
    /// Every slot is in use (or promised to a waiter).
    AtCapacity,
    /// The limit was closed.
    Closed,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AtCapacity => f.write_str(
                "concurrency limit reached; retry when a request in flight completes, or wait with `acquire`",
            ),
            Self::Closed => Closed.fmt(f),
        }
    }
}

impl std::error::Error for TryAcquireError {}

impl From<Closed> for TryAcquireError {
    fn from(_: Closed) -> Self {
        Self::Closed
    }
}

/// Why a waiting `acquire_n` / `acquire_key_n` returned without its permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcquireError {
    /// The request is larger than the burst and could never conform (reported at once).
    ExceedsBurst(ExceedsBurst),
    /// The limiter was closed before the request conformed.
    Closed,
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ExceedsBurst(e) => e.fmt(f),
            Self::Closed => Closed.fmt(f),
        }
    }
}

impl std::error::Error for AcquireError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ExceedsBurst(e) => Some(e),
            Self::Closed => None,
        }
    }
}

impl From<ExceedsBurst> for AcquireError {
    fn from(e: ExceedsBurst) -> Self {
        Self::ExceedsBurst(e)
    }
}

impl From<Closed> for AcquireError {
    fn from(_: Closed) -> Self {
        Self::Closed
    }
}

/// Why a [`Limiter`](crate::Limiter) (or a `tower` layer in rejecting mode) refused a request.
///
/// The `tower` layers report a closed limiter with [`Closed`] itself, not [`Limited::Closed`],
/// so that `err.downcast_ref::<Limited>()` always means "limited, retry later".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limited {
    /// The rate limit refused it; it would conform after `retry_after`.
    Rate {
        /// How long until the request would conform.
        retry_after: Duration,
    },
    /// The request asked for more permits than the burst and can never conform.
    ExceedsBurst(ExceedsBurst),
    /// Every concurrency permit is in use.
    Concurrency,
    /// The limiter was closed ([`Closed`]).
    Closed,
}

impl Limited {
    /// The wait before a retry could succeed, when the limiter can tell (rate limits).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Rate { retry_after } => Some(*retry_after),
            Self::ExceedsBurst(_) | Self::Concurrency | Self::Closed => None,
        }
    }
}

impl fmt::Display for Limited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rate { retry_after } => write!(f, "rate limited; retry after {retry_after:?}"),
            Self::ExceedsBurst(e) => e.fmt(f),
            Self::Concurrency => TryAcquireError::AtCapacity.fmt(f),
            Self::Closed => Closed.fmt(f),
        }
    }
}

impl std::error::Error for Limited {}

impl From<RetryAfter> for Limited {
    fn from(r: RetryAfter) -> Self {
        Self::Rate { retry_after: r.0 }
    }
}

impl From<CheckError> for Limited {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::RetryAfter(r) => r.into(),
            CheckError::ExceedsBurst(e) => Self::ExceedsBurst(e),
        }
    }
}

impl From<TryAcquireError> for Limited {
    fn from(e: TryAcquireError) -> Self {
        match e {
            TryAcquireError::AtCapacity => Self::Concurrency,
            TryAcquireError::Closed => Self::Closed,
        }
    }
}

impl From<Closed> for Limited {
    fn from(_: Closed) -> Self {
        Self::Closed
    }
}
