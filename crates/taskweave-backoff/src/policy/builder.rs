//! Configuring a policy: one builder per shape, validated by `build`.

use std::time::Duration;

use super::jitter::Jitter;
use super::meta::{Meta, SeedMode, Shape, fixed_factor, nanos};
use super::{Backoff, DEFAULT_MAX_ATTEMPTS};
use crate::error::ConfigError;

/// Shape marker of [`Backoff::constant`].
#[derive(Debug, Clone, Copy)]
pub struct Constant(pub(super) ());

/// Shape marker of [`Backoff::linear`], holding its step.
#[derive(Debug, Clone, Copy)]
pub struct Linear {
    pub(super) step: Option<Duration>,
}

/// Shape marker of [`Backoff::exponential`], holding its factor.
#[derive(Debug, Clone, Copy)]
pub struct Exponential {
    pub(super) factor: f64,
}

/// Shape marker of [`Backoff::fibonacci`].
#[derive(Debug, Clone, Copy)]
pub struct Fibonacci(pub(super) ());

/// Shape marker of [`Backoff::decorrelated`], holding its factor.
#[derive(Debug, Clone, Copy)]
pub struct Decorrelated {
    pub(super) factor: f64,
}

/// Configures a [`Backoff`]; [`build`](BackoffBuilder::build) validates it.
///
/// Defaults: no cap on a single delay (delays saturate rather than overflow), no jitter,
/// [`DEFAULT_MAX_ATTEMPTS`] attempts, no total time budget, a fresh random seed per loop.
///
/// Every setting is bounded by its type and saturates instead of overflowing: durations are
/// kept in nanoseconds up to `u64::MAX` (about 584 years, longer ones act as that), factors of
/// 2^32 and above act as 2^32, attempts are a `u32`. Nothing is allocated per attempt or in
/// proportion to a setting.
#[derive(Debug, Clone, Copy)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct BackoffBuilder<S> {
    shape: S,
    base: Duration,
    max_delay: Option<Duration>,
    jitter: Jitter,
    max_attempts: u32,
    max_elapsed: Option<Duration>,
    seed: Option<u64>,
    seed_mode: SeedMode,
}

impl<S> BackoffBuilder<S> {
    pub(super) fn new(shape: S, base: Duration) -> Self {
        Self {
            shape,
            base,
            max_delay: None,
            jitter: Jitter::None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_elapsed: None,
            seed: None,
            seed_mode: SeedMode::Random,
        }
    }

    /// Caps every single delay, before jitter (so jitter never exceeds it) and for server hints.
    pub fn max_delay(mut self, cap: Duration) -> Self {
        self.max_delay = Some(cap);
        self
    }

    /// Randomises each delay (default [`Jitter::None`]; [`Jitter::Full`] is the one to use for a
    /// fleet of clients).
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// How many times the operation may run in total, the first call included (default
    /// [`DEFAULT_MAX_ATTEMPTS`]); `1` disables retries, `0` is a configuration error.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// A total time budget for a retry loop: no sleep starts that would end after it, counted
    /// from the first call. Setting it costs one clock read per call; without it the loop never
    /// reads the clock.
    pub fn max_elapsed(mut self, budget: Duration) -> Self {
        self.max_elapsed = Some(budget);
        self
    }

    /// Seeds the jitter of the built policy's loops: each loop mixes `seed` with a process-wide
    /// loop number, so loops of one policy still draw different delays (no lock-step retries),
    /// and a deterministic program sees the same delays run after run. Replay one loop with
    /// [`Backoff::iter_seeded`], or give every loop the same sequence with
    /// [`fixed_seed`](Self::fixed_seed). A fleet should still keep distinct seeds per process.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self.seed_mode = SeedMode::PerLoop;
        self
    }

    /// Gives every loop of the built policy the same jitter, drawn from `seed`: fully
    /// reproducible, and for that reason in lock-step. Meant for unit tests that check exact
    /// delays; use [`seed`](Self::seed) for anything with more than one loop.
    pub fn fixed_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self.seed_mode = SeedMode::Fixed;
        self
    }

    /// Validates the settings for `shape`, whose `param` is the linear step or the factor.
    fn validate(self, shape: Shape, param: Param) -> Result<Backoff, ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::ZeroAttempts);
        }
        if self.max_elapsed == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroTimeBudget);
        }
        let (param, shift) = match param {
            Param::None => (0, 0),
            Param::Step(step) => (nanos(step), 0),
            Param::Factor(factor) => {
                if !factor.is_finite() {
                    return Err(ConfigError::FactorNotFinite(factor));
                }
                if factor < 1.0 {
                    return Err(ConfigError::FactorBelowOne(factor));
                }
                fixed_factor(factor)
            }
        };
        let base = nanos(self.base);
        let cap = self.max_delay.map_or(u64::MAX, nanos);
        let zero_base = match shape {
            Shape::Constant => false,
            Shape::Linear => base == 0 && param == 0,
            Shape::Exponential | Shape::Fibonacci | Shape::Decorrelated => base == 0,
        };
        if zero_base {
            return Err(ConfigError::ZeroBase);
        }
        if let Some(cap) = self.max_delay {
            if cap < self.base {
                return Err(ConfigError::CapBelowBase {
                    base: self.base,
                    cap,
                });
            }
        }
        let shift = if shape == Shape::Exponential {
            shift
        } else {
            0
        };
        // The last n with base << (n · shift) <= cap: 2^m <= cap / base for m up to
        // floor(log2(cap / base)), of which n · shift may use all.
        let last_step = if shift == 0 {
            0
        } else {
            (63 - (cap / base).leading_zeros()) / u32::from(shift)
        };
        Ok(Backoff {
            base,
            cap,
            param,
            max_elapsed: self.max_elapsed.map_or(0, nanos),
            seed: self.seed.unwrap_or(0),
            meta: Meta::new(
                self.max_attempts,
                shape,
                self.jitter,
                shift,
                self.seed_mode,
                last_step as u8,
            ),
        })
    }
}

/// The shape-specific setting handed to `validate`.
enum Param {
    None,
    Step(Duration),
    Factor(f64),
}

impl BackoffBuilder<Linear> {
    /// How much each delay grows over the previous one (default: the base delay).
    pub fn step(mut self, step: Duration) -> Self {
        self.shape.step = Some(step);
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the base and step are both zero, the cap is below the base, or
    /// `max_attempts` or `max_elapsed` is zero.
    pub fn build(self) -> Result<Backoff, ConfigError> {
        let step = self.shape.step.unwrap_or(self.base);
        self.validate(Shape::Linear, Param::Step(step))
    }
}

impl BackoffBuilder<Exponential> {
    /// What each delay is multiplied by (default 2.0); must be finite and at least 1.0. It is
    /// kept with 32 fractional bits, and factors of 2^32 and above act as 2^32 (delays reach
    /// any cap at once either way). Powers of two take the fastest path.
    pub fn factor(mut self, factor: f64) -> Self {
        self.shape.factor = factor;
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the base is zero, the factor is below 1.0 or not finite, the cap is
    /// below the base, or `max_attempts` or `max_elapsed` is zero.
    pub fn build(self) -> Result<Backoff, ConfigError> {
        let factor = self.shape.factor;
        self.validate(Shape::Exponential, Param::Factor(factor))
    }
}

impl BackoffBuilder<Decorrelated> {
    /// The upper bound of each delay as a multiple of the previous one (default 3.0); must be
    /// finite and at least 1.0 (kept with 32 fractional bits, like the exponential factor).
    pub fn factor(mut self, factor: f64) -> Self {
        self.shape.factor = factor;
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the base is zero, the factor is below 1.0 or not finite, the cap is
    /// below the base, or `max_attempts` or `max_elapsed` is zero.
    pub fn build(self) -> Result<Backoff, ConfigError> {
        let factor = self.shape.factor;
        self.validate(Shape::Decorrelated, Param::Factor(factor))
    }
}

impl BackoffBuilder<Constant> {
    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the cap is below the delay, or `max_attempts` or `max_elapsed` is
    /// zero.
    pub fn build(self) -> Result<Backoff, ConfigError> {
        self.validate(Shape::Constant, Param::None)
    }
}

impl BackoffBuilder<Fibonacci> {
    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the base is zero, the cap is below the base, or `max_attempts` or
    /// `max_elapsed` is zero.
    pub fn build(self) -> Result<Backoff, ConfigError> {
        self.validate(Shape::Fibonacci, Param::None)
    }
}
