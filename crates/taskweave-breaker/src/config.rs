//! The breaker's settings and their validating builder.

use std::time::Duration;

use crate::breaker::Breaker;
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

/// The shape of the sliding window the failure and slow-call rates are computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WindowShape {
    /// The last `n` recorded calls.
    Count(usize),
    /// The calls recorded in the last `length`, kept in `buckets` buckets.
    Time { length: Duration, buckets: usize },
}

/// The validated settings of a breaker.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) name: Option<String>,
    pub(crate) failure_rate_threshold: f64,
    pub(crate) slow_call_rate_threshold: f64,
    pub(crate) slow_call_duration: Option<Duration>,
    pub(crate) window: WindowShape,
    pub(crate) minimum_calls: u64,
    pub(crate) wait_duration: Duration,
    pub(crate) wait_growth: Option<(f64, Duration)>,
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
            Some((multiplier, cap)) => {
                let exp = i32::try_from(trips).unwrap_or(i32::MAX);
                let secs = self.wait_duration.as_secs_f64() * multiplier.powi(exp);
                // An infinite product, or one that rounds above `Duration::MAX` (a cap near it
                // converts to 2^64 s), is past the cap anyway.
                Duration::try_from_secs_f64(secs).map_or(cap, |wait| wait.min(cap))
            }
        }
    }
}

/// Builds a [`Breaker`]; every setting has a default, and [`build`](Builder::build) checks them.
///
/// The defaults follow Resilience4j: a count window of 100 calls, trip at a 50% failure rate once
/// 100 calls were recorded, stay open 60 s, then admit 10 trial calls. Slow calls are not
/// counted until [`slow_call_duration`](Builder::slow_call_duration) is set. One default differs:
/// a half-open breaker whose trial calls are all held and unrecorded re-opens after
/// [`max_wait_in_half_open`](Builder::max_wait_in_half_open) (60 s) instead of waiting for ever.
///
/// Every size has an upper bound ([`MAX_COUNT_WINDOW`], [`MAX_TIME_WINDOW_BUCKETS`],
/// [`MAX_MINIMUM_CALLS`], [`MAX_HALF_OPEN_CALLS`], [`MAX_EVENT_CAPACITY`]), checked by
/// [`build`](Builder::build) before anything is allocated.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<C = FailOnErr> {
    config: BuilderConfig,
    classifier: C,
}

/// The settings as given, before validation.
#[derive(Debug, Clone)]
struct BuilderConfig {
    name: Option<String>,
    failure_rate_threshold: f64,
    slow_call_rate_threshold: f64,
    slow_call_duration: Option<Duration>,
    window: WindowShape,
    minimum_calls: usize,
    wait_duration: Duration,
    wait_growth: Option<(f64, Duration)>,
    half_open_calls: usize,
    max_wait_in_half_open: Duration,
    event_capacity: usize,
}

impl Default for Builder<FailOnErr> {
    fn default() -> Self {
        Builder {
            config: BuilderConfig {
                name: None,
                failure_rate_threshold: 0.5,
                slow_call_rate_threshold: 1.0,
                slow_call_duration: None,
                window: WindowShape::Count(100),
                minimum_calls: 100,
                wait_duration: Duration::from_secs(60),
                wait_growth: None,
                half_open_calls: 10,
                max_wait_in_half_open: DEFAULT_MAX_WAIT_IN_HALF_OPEN,
                event_capacity: 64,
            },
            classifier: FailOnErr,
        }
    }
}

impl Builder<FailOnErr> {
    /// A builder with the default settings.
    pub fn new() -> Self {
        Builder::default()
    }
}

impl<C> Builder<C> {
    /// Names the breaker in its `tracing` events (field `breaker`). Default: unnamed.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = Some(name.into());
        self
    }

    /// The failure rate, a fraction in (0, 1], at or above which the closed breaker opens.
    /// Default: 0.5.
    pub fn failure_rate_threshold(mut self, rate: f64) -> Self {
        self.config.failure_rate_threshold = rate;
        self
    }

    /// The slow-call rate, a fraction in (0, 1], at or above which the closed breaker opens.
    /// Only matters once [`slow_call_duration`](Builder::slow_call_duration) is set. Default: 1.0.
    pub fn slow_call_rate_threshold(mut self, rate: f64) -> Self {
        self.config.slow_call_rate_threshold = rate;
        self
    }

    /// A call that takes at least this long is slow, whether it succeeded or failed. Setting it
    /// makes every call read the clock twice. Default: unset, slow calls are not counted.
    pub fn slow_call_duration(mut self, threshold: Duration) -> Self {
        self.config.slow_call_duration = Some(threshold);
        self
    }

    /// Computes the rates over the last `calls` recorded calls, 1 to [`MAX_COUNT_WINDOW`].
    /// Default: 100.
    pub fn count_window(mut self, calls: usize) -> Self {
        self.config.window = WindowShape::Count(calls);
        self
    }

    /// Computes the rates over the calls recorded in the last `length`, kept in `buckets`
    /// buckets of `length / buckets` each: a whole bucket leaves the window at once, so more
    /// buckets give a smoother window. `buckets` is 1 to [`MAX_TIME_WINDOW_BUCKETS`], each at
    /// least 1 ms long. Makes every call read the clock once.
    pub fn time_window(mut self, length: Duration, buckets: usize) -> Self {
        self.config.window = WindowShape::Time { length, buckets };
        self
    }

    /// How many calls the window must hold before the rates can trip the breaker, so that one
    /// early failure does not open it; 1 to [`MAX_MINIMUM_CALLS`], and at most the count window.
    /// Default: 100.
    pub fn minimum_calls(mut self, calls: usize) -> Self {
        self.config.minimum_calls = calls;
        self
    }

    /// How long the breaker stays open before it admits trial calls. Default: 60 s. Waits
    /// beyond about 34 years (`Duration::MAX`, say) are cut to that: in effect, open until a
    /// manual transition.
    pub fn wait_duration(mut self, wait: Duration) -> Self {
        self.config.wait_duration = wait;
        self
    }

    /// Grows the wait each time the breaker re-opens from half-open without having closed in
    /// between: the `k`-th consecutive trip waits `wait_duration * multiplier^k`, at most `cap`.
    /// Closing resets the growth. Default: no growth.
    pub fn wait_growth(mut self, multiplier: f64, cap: Duration) -> Self {
        self.config.wait_growth = Some((multiplier, cap));
        self
    }

    /// How many trial calls the half-open breaker admits; once all are recorded, it closes if
    /// their failure and slow rates are below the thresholds, and re-opens otherwise; 1 to
    /// [`MAX_HALF_OPEN_CALLS`]. Default: 10.
    pub fn half_open_calls(mut self, calls: usize) -> Self {
        self.config.half_open_calls = calls;
        self
    }

    /// How long the breaker may stay half-open with every trial slot held by a call that has
    /// not recorded — a hung call, a leaked permit — before it gives up on those trials and opens
    /// again (Resilience4j's `maxWaitDurationInHalfOpenState`). Default:
    /// [`DEFAULT_MAX_WAIT_IN_HALF_OPEN`], 60 s.
    ///
    /// There is no timer: the first call that arrives at least `max_wait` after the breaker
    /// turned half-open and finds every trial slot taken re-opens it, for the next wait (a
    /// consecutive trip, so [`wait_growth`](Builder::wait_growth) applies), and is rejected.
    /// While a trial slot is free, a call takes it instead, so light traffic that fills the
    /// trials slowly is never cut off. The abandoned trials' permits stay valid objects, but
    /// whatever they record later is dropped as stale and counted in
    /// [`Metrics::stale_outcomes`](crate::Metrics::stale_outcomes).
    ///
    /// Resilience4j waits for ever by default; this breaker does not, so that one call without a
    /// timeout cannot keep it half-open for good. Pass `Duration::MAX` to wait for ever.
    pub fn max_wait_in_half_open(mut self, max_wait: Duration) -> Self {
        self.config.max_wait_in_half_open = max_wait;
        self
    }

    /// How many transitions a [`subscribe`](Breaker::subscribe)r may fall behind before it
    /// is told it lagged; 1 to [`MAX_EVENT_CAPACITY`]. Default: 64.
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.config.event_capacity = capacity;
        self
    }

    /// Sets the classifier deciding whether a result is a success, a failure or ignored; used by
    /// [`Breaker::call`], [`Permit::record_result`](crate::Permit::record_result) and the tower
    /// layer. Default: [`FailOnErr`].
    pub fn classify<D>(self, classifier: D) -> Builder<D> {
        Builder {
            config: self.config,
            classifier,
        }
    }

    /// Checks the settings and builds the breaker, closed.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first setting out of range: a rate outside (0, 1], an empty
    /// or too large window, `minimum_calls` of zero, above the count window or above
    /// [`MAX_MINIMUM_CALLS`], a zero wait, a growth multiplier below 1, a cap below the wait, zero
    /// or too many half-open calls, a zero `max_wait_in_half_open`, or an event capacity out of
    /// range. Nothing is allocated before the sizes are checked.
    pub fn build(self) -> Result<Breaker<C>, ConfigError> {
        let config = self.config.validate()?;
        Ok(Breaker::from_parts(config, self.classifier))
    }
}

fn is_rate(r: f64) -> bool {
    r > 0.0 && r <= 1.0
}

impl BuilderConfig {
    fn validate(self) -> Result<Config, ConfigError> {
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
            WindowShape::Count(0) => return Err(ConfigError::ZeroCountWindow),
            WindowShape::Count(window) if window > MAX_COUNT_WINDOW => {
                return Err(ConfigError::CountWindowTooLarge(window));
            }
            WindowShape::Count(window) if self.minimum_calls > window => {
                return Err(ConfigError::MinimumCallsExceedWindow {
                    minimum_calls: self.minimum_calls,
                    window,
                });
            }
            WindowShape::Time { buckets, .. } if buckets > MAX_TIME_WINDOW_BUCKETS => {
                return Err(ConfigError::TimeWindowBuckets(buckets));
            }
            // `buckets` fits a u32 now: it is at most MAX_TIME_WINDOW_BUCKETS.
            WindowShape::Time { length, buckets }
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
        if let Some((multiplier, cap)) = self.wait_growth {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn growing(wait: Duration, multiplier: f64, cap: Duration) -> Config {
        Builder::new()
            .wait_duration(wait)
            .wait_growth(multiplier, cap)
            .config
            .validate()
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
