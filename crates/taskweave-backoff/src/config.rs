//! Configuration as plain data: a policy or a retry budget that a config file can hold.
//!
//! The builders are the way to configure in code; these structs are the way to configure from
//! a file. Each one builds through its builder, so a bad value fails with the same
//! [`ConfigError`] as in code. With the `serde` feature they implement `Serialize` and
//! `Deserialize`, reject unknown fields, and write durations in a human format (`"250ms"`,
//! `"1s"`, `"2m"`).

use std::time::Duration;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

use crate::budget::{DEFAULT_CAPACITY, DEFAULT_RATIO, RetryBudget};
use crate::error::ConfigError;
use crate::policy::{Backoff, BackoffBuilder, DEFAULT_MAX_ATTEMPTS, Jitter};

/// The shape of a policy's delays: which [`Backoff`] constructor a [`BackoffConfig`] uses.
///
/// Written in lower case in a config file: `strategy = "exponential"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(Serialize, Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Strategy {
    /// [`Backoff::constant`]: the same delay every time.
    Constant,
    /// [`Backoff::linear`]: one `step` more each time.
    Linear,
    /// [`Backoff::exponential`]: multiplied by `factor` each time (the default).
    #[default]
    Exponential,
    /// [`Backoff::fibonacci`]: the base times the Fibonacci numbers.
    Fibonacci,
    /// [`Backoff::decorrelated`]: uniform in `[base, previous · factor]`.
    Decorrelated,
}

impl Strategy {
    /// The name used in config files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Constant => "constant",
            Self::Linear => "linear",
            Self::Exponential => "exponential",
            Self::Fibonacci => "fibonacci",
            Self::Decorrelated => "decorrelated",
        }
    }
}

/// A [`Backoff`] policy as plain data, for config files; [`build`](BackoffConfig::build) makes
/// the policy through its builder.
///
/// Every field has a default, so a file names only what it changes. The defaults are those of
/// [`Backoff::default`] but for the cap: exponential from 100 ms, doubling, full jitter, 3
/// attempts, and no cap, no time budget, no seed (an absent optional setting is unset, so that
/// a config serialises and loads back unchanged). Unlike the builders, whose explicit
/// constructors default to no jitter, a config defaults to full jitter (none for the
/// decorrelated strategy): a config file is for production, where a fleet needs it.
///
/// ```toml
/// strategy = "exponential"   # constant | linear | exponential | fibonacci | decorrelated
/// base = "50ms"
/// factor = 2.0               # exponential and decorrelated only
/// max_delay = "5s"
/// jitter = "full"            # none | full | equal
/// max_attempts = 5
/// max_elapsed = "30s"
/// ```
///
/// `step` applies to the linear strategy only, `factor` to exponential and decorrelated; a
/// setting given for a strategy it does not apply to is a [`ConfigError::NotForStrategy`], not
/// ignored. The reproducible [`fixed_seed`](BackoffBuilder::fixed_seed) is for unit tests and
/// has no field here; `seed` sets the per-loop [`seed`](BackoffBuilder::seed).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(Serialize, Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct BackoffConfig {
    /// The shape of the delays.
    pub strategy: Strategy,
    /// The first delay (for `constant`, every delay).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub base: Duration,
    /// How much each delay grows over the previous one (linear only; default: `base`).
    #[cfg_attr(
        feature = "serde",
        serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")
    )]
    pub step: Option<Duration>,
    /// The growth factor (exponential, default 2.0; decorrelated, default 3.0).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub factor: Option<f64>,
    /// The cap on a single delay.
    #[cfg_attr(
        feature = "serde",
        serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")
    )]
    pub max_delay: Option<Duration>,
    /// How each delay is randomised. Unset: [`Jitter::Full`], except for the decorrelated
    /// strategy, whose randomness is built in ([`Jitter::None`]).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub jitter: Option<Jitter>,
    /// How many times the operation may run in total, the first call included.
    pub max_attempts: u32,
    /// The total time budget of a retry loop.
    #[cfg_attr(
        feature = "serde",
        serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")
    )]
    pub max_elapsed: Option<Duration>,
    /// Seeds the jitter of each loop (mixed with a loop number); unset draws a fresh seed.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub seed: Option<u64>,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::Exponential,
            base: Duration::from_millis(100),
            step: None,
            factor: None,
            max_delay: None,
            jitter: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_elapsed: None,
            seed: None,
        }
    }
}

impl BackoffConfig {
    /// Builds the policy through its builder.
    ///
    /// # Errors
    ///
    /// Whatever the builder rejects ([`ConfigError`]: a zero base or attempt count, a factor
    /// below 1.0, a cap below the base, …), and [`ConfigError::NotForStrategy`] for a `step`
    /// or `factor` that the strategy does not use.
    pub fn build(&self) -> Result<Backoff, ConfigError> {
        let strategy = self.strategy;
        let not_for = |setting| ConfigError::NotForStrategy { setting, strategy };
        if self.step.is_some() && strategy != Strategy::Linear {
            return Err(not_for("step"));
        }
        let takes_factor = matches!(strategy, Strategy::Exponential | Strategy::Decorrelated);
        if self.factor.is_some() && !takes_factor {
            return Err(not_for("factor"));
        }
        match strategy {
            Strategy::Constant => self.common(Backoff::constant(self.base)).build(),
            Strategy::Linear => {
                let builder = Backoff::linear(self.base);
                let builder = match self.step {
                    Some(step) => builder.step(step),
                    None => builder,
                };
                self.common(builder).build()
            }
            Strategy::Exponential => {
                let builder = Backoff::exponential(self.base);
                let builder = match self.factor {
                    Some(factor) => builder.factor(factor),
                    None => builder,
                };
                self.common(builder).build()
            }
            Strategy::Fibonacci => self.common(Backoff::fibonacci(self.base)).build(),
            Strategy::Decorrelated => {
                let builder = Backoff::decorrelated(self.base);
                let builder = match self.factor {
                    Some(factor) => builder.factor(factor),
                    None => builder,
                };
                self.common(builder).build()
            }
        }
    }

    /// The settings every shape shares.
    fn common<S>(&self, builder: BackoffBuilder<S>) -> BackoffBuilder<S> {
        let jitter = self.jitter.unwrap_or(match self.strategy {
            Strategy::Decorrelated => Jitter::None,
            _ => Jitter::Full,
        });
        let mut builder = builder.jitter(jitter).max_attempts(self.max_attempts);
        if let Some(cap) = self.max_delay {
            builder = builder.max_delay(cap);
        }
        if let Some(budget) = self.max_elapsed {
            builder = builder.max_elapsed(budget);
        }
        if let Some(seed) = self.seed {
            builder = builder.seed(seed);
        }
        builder
    }
}

impl TryFrom<BackoffConfig> for Backoff {
    type Error = ConfigError;

    fn try_from(config: BackoffConfig) -> Result<Self, ConfigError> {
        config.build()
    }
}

/// A [`RetryBudget`] as plain data, for config files; [`build`](RetryBudgetConfig::build)
/// makes the budget through its builder. The defaults are the builder's: ratio 0.1, capacity
/// 100, starting full.
///
/// ```toml
/// ratio = 0.1
/// capacity = 100
/// initial = 20   # optional; default: the capacity
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(Serialize, Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct RetryBudgetConfig {
    /// Retries earned per successful call.
    pub ratio: f64,
    /// The most retries the bucket holds.
    pub capacity: u32,
    /// Retries available before any success (unset: the capacity).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub initial: Option<u32>,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            ratio: DEFAULT_RATIO,
            capacity: DEFAULT_CAPACITY,
            initial: None,
        }
    }
}

impl RetryBudgetConfig {
    /// Builds the budget through its builder.
    ///
    /// # Errors
    ///
    /// Whatever [`RetryBudgetBuilder::build`](crate::RetryBudgetBuilder::build) rejects, as a
    /// [`ConfigError`].
    pub fn build(&self) -> Result<RetryBudget, ConfigError> {
        let builder = RetryBudget::builder()
            .ratio(self.ratio)
            .capacity(self.capacity);
        match self.initial {
            Some(initial) => builder.initial(initial),
            None => builder,
        }
        .build()
    }
}

impl TryFrom<RetryBudgetConfig> for RetryBudget {
    type Error = ConfigError;

    fn try_from(config: RetryBudgetConfig) -> Result<Self, ConfigError> {
        config.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_builds_the_default_policy_without_its_cap() {
        let built = BackoffConfig::default().build().unwrap();
        let config = BackoffConfig {
            max_delay: Some(Duration::from_secs(10)),
            ..BackoffConfig::default()
        };
        assert_eq!(config.build().unwrap(), Backoff::default());
        assert_eq!(built.max_delay(), None);
        assert_eq!(built.jitter(), Jitter::Full);
    }

    #[test]
    fn settings_for_another_strategy_are_errors() {
        let mut config = BackoffConfig {
            strategy: Strategy::Fibonacci,
            factor: Some(2.0),
            ..BackoffConfig::default()
        };
        assert_eq!(
            config.build(),
            Err(ConfigError::NotForStrategy {
                setting: "factor",
                strategy: Strategy::Fibonacci
            })
        );
        config.factor = None;
        config.step = Some(Duration::from_millis(5));
        assert_eq!(
            config.build(),
            Err(ConfigError::NotForStrategy {
                setting: "step",
                strategy: Strategy::Fibonacci
            })
        );
        config.strategy = Strategy::Linear;
        assert!(config.build().is_ok());
    }

    #[test]
    fn the_budget_config_defaults_to_the_builder_defaults() {
        let budget = RetryBudgetConfig::default().build().unwrap();
        assert_eq!(budget.available(), 100);
    }
}
