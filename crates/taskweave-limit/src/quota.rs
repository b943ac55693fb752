//! Quotas: "N per period, with a burst".

use std::time::Duration;

use crate::error::ConfigError;
use crate::gcra::Params;

/// A rate quota: `count` requests per `period`, of which up to `burst` may arrive at once.
///
/// The burst defaults to `count`, so `Quota::per_second(100)` admits 100 at once after a quiet
/// second and then one every 10 ms. Over any window of length `W` a limiter admits at most
/// `burst + W × count / period` permits. Values are checked when the limiter is built.
///
/// With the `serde` feature a quota reads and writes as
/// `{ count = 100, period = "1s", burst = 20 }` (`burst` optional, the period a human
/// duration); it is validated, with a typed [`ConfigError`], when a limiter is built from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct Quota {
    count: u32,
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    period: Duration,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    burst: Option<u32>,
}

/// [`Quota::MAX_TOLERANCE`] in nanoseconds.
const MAX_TOLERANCE_NANOS: u64 = 3_155_760_000 * 1_000_000_000;

impl Quota {
    /// The longest burst tolerance a quota may have: `burst × period / count` of at most 100
    /// (Julian) years. A longer one is refused with [`ConfigError::BurstTooLong`].
    ///
    /// The bound keeps GCRA's arithmetic exact: a limiter's state is a 64-bit count of
    /// nanoseconds (584 years), and the theoretical arrival time runs at most this far ahead
    /// of the clock, so decisions stay exact for the first 484 years of a limiter's clock
    /// (past that, a request the state cannot record is refused, never admitted).
    pub const MAX_TOLERANCE: Duration = Duration::from_nanos(MAX_TOLERANCE_NANOS);

    /// `count` requests per `period`.
    pub const fn new(count: u32, period: Duration) -> Self {
        Self {
            count,
            period,
            burst: None,
        }
    }

    /// `count` requests per second.
    pub const fn per_second(count: u32) -> Self {
        Self::new(count, Duration::from_secs(1))
    }

    /// `count` requests per minute.
    pub const fn per_minute(count: u32) -> Self {
        Self::new(count, Duration::from_secs(60))
    }

    /// `count` requests per hour.
    pub const fn per_hour(count: u32) -> Self {
        Self::new(count, Duration::from_secs(3600))
    }

    /// Sets how many requests may arrive at once (default: `count`).
    pub const fn with_burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// Requests per period.
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// The period.
    pub const fn period(&self) -> Duration {
        self.period
    }

    /// The burst: `with_burst`'s value, or `count`.
    pub const fn burst(&self) -> u32 {
        match self.burst {
            Some(b) => b,
            None => self.count,
        }
    }

    /// The steady spacing between two requests, `period / count`, rounded **up** to whole
    /// nanoseconds, as the limiter uses it: a limiter never admits more than its quota, and
    /// where `period / count` is not a whole number of nanoseconds it admits slightly less.
    /// That is negligible below about 10 million per second (under 1%), but grows near the
    /// finest rate, one per nanosecond: 600 million per second is enforced as one per 2 ns
    /// (500 million per second).
    ///
    /// # Errors
    /// As for building a limiter with this quota.
    pub fn emission_interval(&self) -> Result<Duration, ConfigError> {
        self.params().map(|p| Duration::from_nanos(p.interval))
    }

    pub(crate) fn params(&self) -> Result<Params, ConfigError> {
        if self.count == 0 {
            return Err(ConfigError::ZeroRate);
        }
        if self.period.is_zero() {
            return Err(ConfigError::ZeroPeriod);
        }
        let burst = self.burst();
        if burst == 0 {
            return Err(ConfigError::ZeroBurst);
        }
        // A period beyond 64-bit nanoseconds is beyond any tolerance we accept anyway.
        let period =
            u64::try_from(self.period.as_nanos()).map_err(|_| ConfigError::BurstTooLong)?;
        if period < u64::from(self.count) {
            return Err(ConfigError::RateTooHigh {
                count: self.count,
                period: self.period,
            });
        }
        // Rounded up: a shorter interval would admit more than the quota.
        let interval = period.div_ceil(u64::from(self.count));
        let tolerance = interval
            .checked_mul(u64::from(burst))
            .filter(|&t| t <= MAX_TOLERANCE_NANOS)
            .ok_or(ConfigError::BurstTooLong)?;
        Ok(Params {
            interval,
            tolerance,
            burst,
        })
    }
}
