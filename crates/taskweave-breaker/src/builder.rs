//! The validating builder of a [`Breaker`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use taskweave_clock::Clock;

use crate::breaker::Breaker;
use crate::classify::FailOnErr;
use crate::config::{BreakerConfig, SlidingWindow, WaitGrowth};
use crate::error::ConfigError;

/// Builds a [`Breaker`]; every setting has a default, and [`build`](Builder::build) checks them.
///
/// The defaults follow Resilience4j: a count window of 100 calls, trip at a 50% failure rate once
/// 100 calls were recorded, stay open 60 s, then admit 10 trial calls. Slow calls are not
/// counted until [`slow_call_duration`](Builder::slow_call_duration) is set. One default differs:
/// a half-open breaker whose trial calls are all held and unrecorded re-opens after
/// [`max_wait_in_half_open`](Builder::max_wait_in_half_open) (60 s) instead of waiting for ever.
///
/// Every size has an upper bound ([`MAX_COUNT_WINDOW`](crate::MAX_COUNT_WINDOW), [`MAX_TIME_WINDOW_BUCKETS`](crate::MAX_TIME_WINDOW_BUCKETS),
/// [`MAX_MINIMUM_CALLS`](crate::MAX_MINIMUM_CALLS), [`MAX_HALF_OPEN_CALLS`](crate::MAX_HALF_OPEN_CALLS), [`MAX_EVENT_CAPACITY`](crate::MAX_EVENT_CAPACITY)), checked by
/// [`build`](Builder::build) before anything is allocated. The settings other than the
/// classifier and the clock can also come from a [`BreakerConfig`]
/// ([`from_config`](Builder::from_config)).
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<C = FailOnErr> {
    config: BreakerConfig,
    classifier: C,
    clock: Option<Arc<dyn Clock>>,
}

impl<C: fmt::Debug> fmt::Debug for Builder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .field("classifier", &self.classifier)
            .field(
                "clock",
                &if self.clock.is_some() {
                    "custom"
                } else {
                    "tokio"
                },
            )
            .finish()
    }
}

impl Default for Builder<FailOnErr> {
    fn default() -> Self {
        Builder::from_config(BreakerConfig::default())
    }
}

impl Builder<FailOnErr> {
    /// A builder with the default settings.
    pub fn new() -> Self {
        Builder::default()
    }

    /// A builder with `config`'s settings, the default classifier and the default clock. Nothing is
    /// checked until [`build`](Builder::build).
    pub fn from_config(config: BreakerConfig) -> Self {
        Builder {
            config,
            classifier: FailOnErr,
            clock: None,
        }
    }
}

impl<C> Builder<C> {
    /// The settings given so far, as plain data (to log them, or to save them as a file with
    /// the `serde` feature).
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

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

    /// A call that takes at least this long is slow, whether it succeeded or failed. Default:
    /// unset, slow calls are not counted.
    ///
    /// Setting it makes every call read a clock twice, when it starts and when it ends. With the
    /// default clock and a threshold of at least 50 ticks of the kernel's coarse clock
    /// ([`CoarseClock`](crate::CoarseClock), Linux: 200 ms with a 4 ms tick), calls are timed
    /// on that clock, which costs half a time-stamp-counter read and steps by a tick: only a
    /// call within a tick of the threshold (2% of it) may be classified either way. Shorter
    /// thresholds, other platforms, the `test-util` feature and a clock set with
    /// [`clock`](Builder::clock) time calls on the breaker's clock.
    pub fn slow_call_duration(mut self, threshold: Duration) -> Self {
        self.config.slow_call_duration = Some(threshold);
        self
    }

    /// Computes the rates over the last `calls` recorded calls, 1 to [`MAX_COUNT_WINDOW`](crate::MAX_COUNT_WINDOW).
    /// Default: 100.
    pub fn count_window(mut self, calls: usize) -> Self {
        self.config.window = SlidingWindow::Count { calls };
        self
    }

    /// Computes the rates over the calls recorded in the last `length`, kept in `buckets`
    /// buckets of `length / buckets` each: a whole bucket leaves the window at once, so more
    /// buckets give a smoother window. `buckets` is 1 to [`MAX_TIME_WINDOW_BUCKETS`](crate::MAX_TIME_WINDOW_BUCKETS), each at
    /// least 1 ms long. Makes every call read the clock once.
    pub fn time_window(mut self, length: Duration, buckets: usize) -> Self {
        self.config.window = SlidingWindow::Time { length, buckets };
        self
    }

    /// How many calls the window must hold before the rates can trip the breaker, so that one
    /// early failure does not open it; 1 to [`MAX_MINIMUM_CALLS`](crate::MAX_MINIMUM_CALLS), and at most the count window.
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
        self.config.wait_growth = Some(WaitGrowth::new(multiplier, cap));
        self
    }

    /// How many trial calls the half-open breaker admits; once all are recorded, it closes if
    /// their failure and slow rates are below the thresholds, and re-opens otherwise; 1 to
    /// [`MAX_HALF_OPEN_CALLS`](crate::MAX_HALF_OPEN_CALLS). Default: 10.
    pub fn half_open_calls(mut self, calls: usize) -> Self {
        self.config.half_open_calls = calls;
        self
    }

    /// How long the breaker may stay half-open with every trial slot held by a call that has
    /// not recorded — a hung call, a leaked permit — before it gives up on those trials and opens
    /// again (Resilience4j's `maxWaitDurationInHalfOpenState`). Default:
    /// [`DEFAULT_MAX_WAIT_IN_HALF_OPEN`](crate::DEFAULT_MAX_WAIT_IN_HALF_OPEN), 60 s.
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
    /// is told it lagged; 1 to [`MAX_EVENT_CAPACITY`](crate::MAX_EVENT_CAPACITY). Default: 64.
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.config.event_capacity = capacity;
        self
    }

    /// The clock the breaker reads for slow-call timing, the time window and its open and
    /// half-open deadlines. Default: [`DefaultClock`](crate::DefaultClock), the time-stamp
    /// counter, or Tokio's clock with the `test-util` feature so that paused-time tests drive
    /// the breaker; long slow-call thresholds are timed on the coarse clock instead (see
    /// [`slow_call_duration`](Builder::slow_call_duration)). A clock set here times every call.
    ///
    /// Times are measured from the clock's reading when the breaker is built, so a clock with
    /// any origin serves. A [`ManualClock`](crate::ManualClock) makes the breaker's timing
    /// deterministic without a runtime; [`TokioClock`](crate::TokioClock) follows paused time
    /// whatever the features. The clock must never go backwards.
    /// [`Transition::at`](crate::Transition::at) stays on Tokio's clock whichever is chosen.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Sets the classifier deciding whether a result is a success, a failure or ignored; used by
    /// [`Breaker::call`], [`Permit::record_result`](crate::Permit::record_result) and the tower
    /// layer. Default: [`FailOnErr`].
    pub fn classify<D>(self, classifier: D) -> Builder<D> {
        Builder {
            config: self.config,
            classifier,
            clock: self.clock,
        }
    }

    /// Checks the settings and builds the breaker, closed.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first setting out of range: a rate outside (0, 1], an empty
    /// or too large window, `minimum_calls` of zero, above the count window or above
    /// [`MAX_MINIMUM_CALLS`](crate::MAX_MINIMUM_CALLS), a zero wait, a growth multiplier below 1, a cap below the wait, zero
    /// or too many half-open calls, a zero `max_wait_in_half_open`, or an event capacity out of
    /// range. Nothing is allocated before the sizes are checked.
    pub fn build(self) -> Result<Breaker<C>, ConfigError> {
        let config = self.config.checked()?;
        Ok(Breaker::from_parts(config, self.classifier, self.clock))
    }
}
