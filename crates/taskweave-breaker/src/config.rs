//! The breaker's settings as plain data ([`BreakerConfig`], loadable with the `serde` feature),
//! their limits, and their validation into the breaker's internal `Config`.

use std::time::Duration;

use crate::breaker::Breaker;
use crate::builder::Builder;
use crate::classify::FailOnErr;
use crate::error::ConfigError;
use crate::state::MAX_TRIAL_CALLS;

/// The largest [`count_window`](Builder::count_window): 65,536 calls. The window keeps the
/// position of every failure and slow call among its last `n` calls, 16 bytes per call, so this
/// bounds it at 1 MiB; for rates over more calls, use a [`time_window`](Builder::time_window).
pub const MAX_COUNT_WINDOW: usize = 1 << 16;

/// The most buckets a [`time_window`](Builder::time_window) may have: 1,024. Each bucket is one
/// counter per stripe (up to 64 stripes, twice the cores), and every evaluation reads them all;
/// a long window needs longer buckets, not more (an hour in 720 buckets of 5 s, say).
pub const MAX_TIME_WINDOW_BUCKETS: usize = 1 << 10;

/// The largest [`minimum_calls`](Builder::minimum_calls): 2^32 − 1. With a count window, the
/// minimum must also fit in the window.
pub const MAX_MINIMUM_CALLS: usize = u32::MAX as usize;

/// The most trial calls a half-open breaker can admit, [`half_open_calls`](Builder::half_open_calls):
/// 1,023 (the trial counters share one atomic word with the state).
pub const MAX_HALF_OPEN_CALLS: usize = MAX_TRIAL_CALLS as usize;

/// The largest [`event_capacity`](Builder::event_capacity): 65,536 transitions.
pub const MAX_EVENT_CAPACITY: usize = 1 << 16;

/// The default [`max_wait_in_half_open`](Builder::max_wait_in_half_open): 60 s.
pub const DEFAULT_MAX_WAIT_IN_HALF_OPEN: Duration = Duration::from_secs(60);

/// The sliding window the failure and slow-call rates are computed over.
///
/// In TOML (feature `serde`): `window = { kind = "count", calls = 100 }` or
/// `window = { kind = "time", length = "60s", buckets = 60 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum SlidingWindow {
    /// The last `calls` recorded calls; see [`Builder::count_window`].
    Count {
        /// How many calls, 1 to [`MAX_COUNT_WINDOW`].
        calls: usize,
    },
    /// The calls recorded in the last `length`, kept in `buckets` buckets; see
    /// [`Builder::time_window`].
    Time {
        /// How far back the window reaches.
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        length: Duration,
        /// Into how many buckets it is cut, 1 to [`MAX_TIME_WINDOW_BUCKETS`], each ≥ 1 ms.
        buckets: usize,
    },
}

/// How the wait grows over consecutive trips; see [`Builder::wait_growth`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct WaitGrowth {
    /// The factor each consecutive trip multiplies the wait by; finite and at least 1.
    pub multiplier: f64,
    /// The longest wait; at least `wait_duration`.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub cap: Duration,
}

impl WaitGrowth {
    /// Grows the wait by `multiplier` per consecutive trip, up to `cap`.
    pub fn new(multiplier: f64, cap: Duration) -> Self {
        WaitGrowth { multiplier, cap }
    }
}

/// A breaker's settings as plain data: what [`Builder`] collects, and what a configuration file
/// holds (with the `serde` feature; durations in a human format such as `"250ms"` or `"2m"`).
///
/// [`Default`] gives the builder's defaults, and every field may be left out of a file. The
/// ranges are checked when a breaker is built from it — [`build`](BreakerConfig::build) or
/// [`Builder::from_config`] — which returns the builder's typed [`ConfigError`];
/// [`validate`](BreakerConfig::validate) checks them without building. Deserialising checks
/// the shape: an unknown field or a malformed duration is an error of the format.
///
/// ```
/// # #[cfg(feature = "serde")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use taskweave_breaker::BreakerConfig;
///
/// let config: BreakerConfig = toml::from_str(r#"
///     window = { kind = "count", calls = 50 }
///     minimum_calls = 20
///     wait_duration = "30s"
/// "#)?;
/// let breaker = config.build()?;
/// # drop(breaker);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "serde"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct BreakerConfig {
    /// Names the breaker in its `tracing` events; see [`Builder::name`].
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub name: Option<String>,
    /// The window the rates are computed over. Default: the last 100 calls.
    pub window: SlidingWindow,
    /// Calls the window must hold before the rates can trip it; see [`Builder::minimum_calls`].
    pub minimum_calls: usize,
    /// See [`Builder::failure_rate_threshold`].
    pub failure_rate_threshold: f64,
    /// See [`Builder::slow_call_rate_threshold`].
    pub slow_call_rate_threshold: f64,
    /// See [`Builder::slow_call_duration`]; `None` does not count slow calls.
    #[cfg_attr(
        feature = "serde",
        serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")
    )]
    pub slow_call_duration: Option<Duration>,
    /// How long the breaker stays open; see [`Builder::wait_duration`].
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub wait_duration: Duration,
    /// See [`Builder::wait_growth`]; `None` keeps the wait constant.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub wait_growth: Option<WaitGrowth>,
    /// Trial calls admitted when half-open; see [`Builder::half_open_calls`].
    pub half_open_calls: usize,
    /// See [`Builder::max_wait_in_half_open`].
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub max_wait_in_half_open: Duration,
    /// See [`Builder::event_capacity`].
    pub event_capacity: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            name: None,
            window: SlidingWindow::Count { calls: 100 },
            minimum_calls: 100,
            failure_rate_threshold: 0.5,
            slow_call_rate_threshold: 1.0,
            slow_call_duration: None,
            wait_duration: Duration::from_secs(60),
            wait_growth: None,
            half_open_calls: 10,
            max_wait_in_half_open: DEFAULT_MAX_WAIT_IN_HALF_OPEN,
            event_capacity: 64,
        }
    }
}

impl BreakerConfig {
    /// A builder holding these settings, to add a classifier or a clock before building.
    pub fn builder(self) -> Builder<FailOnErr> {
        Builder::from_config(self)
    }

    /// Builds a breaker with these settings, the default classifier and the default clock.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first setting out of range, as [`Builder::build`].
    pub fn build(self) -> Result<Breaker<FailOnErr>, ConfigError> {
        self.builder().build()
    }

    /// Checks every setting as [`Builder::build`] does, without building anything.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first setting out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.clone().checked().map(drop)
    }

    /// Checks the settings; nothing is allocated before the sizes are.
    pub(crate) fn checked(self) -> Result<Config, ConfigError> {
        if !is_rate(self.failure_rate_threshold) {
            return Err(ConfigError::FailureRateThreshold(
                self.failure_rate_threshold,
            ));
        }
        if !is_rate(self.slow_call_rate_threshold) {
            return Err(ConfigError::SlowCallRateThreshold(
                self.slow_call_rate_threshold,
            ));
        }
        if self.slow_call_duration == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroSlowCallDuration);
        }
        match self.window {
            SlidingWindow::Count { calls: 0 } => return Err(ConfigError::ZeroCountWindow),
            SlidingWindow::Count { calls } if calls > MAX_COUNT_WINDOW => {
                return Err(ConfigError::CountWindowTooLarge(calls));
            }
            SlidingWindow::Count { calls } if self.minimum_calls > calls => {
                return Err(ConfigError::MinimumCallsExceedWindow {
                    minimum_calls: self.minimum_calls,
                    window: calls,
                });
            }
            SlidingWindow::Time { buckets, .. } if buckets > MAX_TIME_WINDOW_BUCKETS => {
                return Err(ConfigError::TimeWindowBuckets(buckets));
            }
            // `buckets` fits a u32 now: it is at most MAX_TIME_WINDOW_BUCKETS.
            SlidingWindow::Time { length, buckets }
                if buckets == 0 || length / (buckets as u32) < Duration::from_millis(1) =>
            {
                return Err(ConfigError::TimeWindow { length, buckets });
            }
            _ => {}
        }
        if self.minimum_calls == 0 {
            return Err(ConfigError::ZeroMinimumCalls);
        }
        if self.minimum_calls > MAX_MINIMUM_CALLS {
            return Err(ConfigError::MinimumCallsTooLarge(self.minimum_calls));
        }
        if self.wait_duration.is_zero() {
            return Err(ConfigError::ZeroWaitDuration);
        }
        if let Some(WaitGrowth { multiplier, cap }) = self.wait_growth {
            if !multiplier.is_finite() || multiplier < 1.0 {
                return Err(ConfigError::WaitGrowthMultiplier(multiplier));
            }
            if cap < self.wait_duration {
                return Err(ConfigError::WaitCapBelowWait {
                    cap,
                    wait: self.wait_duration,
                });
            }
        }
        let half_open_calls = u32::try_from(self.half_open_calls)
            .ok()
            .filter(|n| (1..=MAX_TRIAL_CALLS).contains(n))
            .ok_or(ConfigError::HalfOpenCalls(self.half_open_calls))?;
        if self.max_wait_in_half_open.is_zero() {
            return Err(ConfigError::ZeroMaxWaitInHalfOpen);
        }
        if !(1..=MAX_EVENT_CAPACITY).contains(&self.event_capacity) {
            return Err(ConfigError::EventCapacity(self.event_capacity));
        }
        Ok(Config {
            name: self.name,
            failure_rate_threshold: self.failure_rate_threshold,
            slow_call_rate_threshold: self.slow_call_rate_threshold,
            slow_call_duration: self.slow_call_duration,
            window: self.window,
            minimum_calls: self.minimum_calls as u64,
            wait_duration: self.wait_duration,
            wait_growth: self.wait_growth,
            half_open_calls,
            max_wait_in_half_open: self.max_wait_in_half_open,
            event_capacity: self.event_capacity,
        })
    }
}

fn is_rate(r: f64) -> bool {
    r > 0.0 && r <= 1.0
}

/// The validated settings of a breaker.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) name: Option<String>,
    pub(crate) failure_rate_threshold: f64,
    pub(crate) slow_call_rate_threshold: f64,
    pub(crate) slow_call_duration: Option<Duration>,
    pub(crate) window: SlidingWindow,
    pub(crate) minimum_calls: u64,
    pub(crate) wait_duration: Duration,
    pub(crate) wait_growth: Option<WaitGrowth>,
    pub(crate) half_open_calls: u32,
    pub(crate) max_wait_in_half_open: Duration,
    pub(crate) event_capacity: usize,
}

impl Config {
    /// How long the breaker stays open after its `trips`-th consecutive trip (0 = the first).
    pub(crate) fn wait_after(&self, trips: u64) -> Duration {
        match self.wait_growth {
            None => self.wait_duration,
            Some(_) if trips == 0 => self.wait_duration,
            Some(WaitGrowth { multiplier, cap }) => {
                let exp = i32::try_from(trips).unwrap_or(i32::MAX);
                let secs = self.wait_duration.as_secs_f64() * multiplier.powi(exp);
                // An infinite product, or one that rounds above `Duration::MAX` (a cap near it
                // converts to 2^64 s), is past the cap anyway.
                Duration::try_from_secs_f64(secs).map_or(cap, |wait| wait.min(cap))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn growing(wait: Duration, multiplier: f64, cap: Duration) -> Config {
        BreakerConfig {
            wait_duration: wait,
            wait_growth: Some(WaitGrowth::new(multiplier, cap)),
            ..BreakerConfig::default()
        }
        .checked()
        .unwrap()
    }

    #[test]
    fn the_wait_grows_by_the_multiplier_up_to_the_cap() {
        let config = growing(Duration::from_secs(10), 2.0, Duration::from_secs(50));
        let waits: Vec<u64> = (0..5).map(|k| config.wait_after(k).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 50, 50]);
        assert_eq!(config.wait_after(u64::MAX), Duration::from_secs(50));
    }

    #[test]
    fn waits_near_duration_max_saturate_at_the_cap_instead_of_panicking() {
        // `Duration::MAX.as_secs_f64()` rounds up to 2^64 s, which `from_secs_f64` rejects.
        let config = growing(Duration::MAX, 2.0, Duration::MAX);
        for trips in [0, 1, 2, 1_000, u64::MAX] {
            assert_eq!(config.wait_after(trips), Duration::MAX);
        }
        let config = growing(Duration::from_secs(1), 1e300, Duration::MAX);
        assert_eq!(config.wait_after(3), Duration::MAX);
    }
}
