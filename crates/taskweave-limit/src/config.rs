//! Plain configuration structs, one per builder: what a config file can say about a limiter.
//!
//! Each converts into its builder (`From`), where a name, a clock, a hasher or a cancellation
//! token can still be added, and has a `build()` that validates through that builder, so a bad
//! value fails with the builder's typed [`ConfigError`]. With the `serde` feature they
//! (and [`Quota`]) are `Serialize`/`Deserialize`, reject unknown fields, and write durations
//! in a human format (`"250ms"`, `"1s"`, `"2m"`):
//!
//! ```toml
//! quotas = [{ count = 100, period = "1s", burst = 20 }]
//! spin_wait = "2ms"
//! ```

use std::borrow::Cow;
use std::hash::Hash;
use std::time::Duration;

use crate::adaptive::{AdaptiveLimit, AdaptiveLimitBuilder};
use crate::concurrency::{ConcurrencyLimit, ConcurrencyLimitBuilder};
use crate::error::ConfigError;
use crate::keyed::{KeyedRateLimiter, KeyedRateLimiterBuilder};
use crate::quota::Quota;
use crate::rate::{RateLimiter, RateLimiterBuilder};

/// The configuration of a [`RateLimiter`]: its quotas and spin wait.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct RateLimiterConfig {
    /// The quotas, all of which a request must satisfy (at least one, at most
    /// [`RateLimiter::MAX_QUOTAS`]).
    pub quotas: Vec<Quota>,
    /// See [`RateLimiterBuilder::spin_wait`] (default zero).
    #[cfg_attr(feature = "serde", serde(default, with = "humantime_serde"))]
    pub spin_wait: Duration,
    /// The name in `tracing` events (default `"rate"`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub name: Option<String>,
}

impl RateLimiterConfig {
    /// A configuration with one quota and the defaults.
    pub fn new(quota: Quota) -> Self {
        Self {
            quotas: vec![quota],
            ..Self::default()
        }
    }

    /// Builds the limiter through [`RateLimiterBuilder`].
    ///
    /// # Errors
    /// As [`RateLimiterBuilder::build`].
    pub fn build(self) -> Result<RateLimiter, ConfigError> {
        RateLimiterBuilder::from(self).build()
    }
}

impl From<RateLimiterConfig> for RateLimiterBuilder {
    fn from(config: RateLimiterConfig) -> Self {
        let mut builder = RateLimiter::builder().spin_wait(config.spin_wait);
        for quota in config.quotas {
            builder = builder.quota(quota);
        }
        match config.name {
            Some(name) => builder.name(name),
            None => builder,
        }
    }
}

/// The configuration of a [`KeyedRateLimiter`]: the quota per key and the memory bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct KeyedRateLimiterConfig {
    /// The quota every key gets.
    pub quota: Quota,
    /// See [`KeyedRateLimiterBuilder::max_keys`] (default 100,000).
    #[cfg_attr(feature = "serde", serde(default = "default_max_keys"))]
    pub max_keys: usize,
    /// See [`KeyedRateLimiterBuilder::sweep_interval`] (default 1 s; not zero).
    #[cfg_attr(
        feature = "serde",
        serde(default = "default_sweep_interval", with = "humantime_serde")
    )]
    pub sweep_interval: Duration,
    /// The name in `tracing` events (default `"keyed-rate"`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub name: Option<String>,
}

fn default_max_keys() -> usize {
    crate::keyed::DEFAULT_MAX_KEYS
}

fn default_sweep_interval() -> Duration {
    crate::keyed::DEFAULT_SWEEP_INTERVAL
}

impl KeyedRateLimiterConfig {
    /// A configuration with `quota` per key and the defaults.
    pub fn new(quota: Quota) -> Self {
        Self {
            quota,
            max_keys: default_max_keys(),
            sweep_interval: default_sweep_interval(),
            name: None,
        }
    }

    /// Builds the limiter through [`KeyedRateLimiterBuilder`].
    ///
    /// # Errors
    /// As [`KeyedRateLimiterBuilder::build`].
    pub fn build<K: Hash + Eq + Clone>(self) -> Result<KeyedRateLimiter<K>, ConfigError> {
        KeyedRateLimiterBuilder::from(self).build()
    }
}

impl<K: Hash + Eq + Clone> From<KeyedRateLimiterConfig> for KeyedRateLimiterBuilder<K> {
    fn from(config: KeyedRateLimiterConfig) -> Self {
        let builder = KeyedRateLimiter::builder(config.quota)
            .max_keys(config.max_keys)
            .sweep_interval(config.sweep_interval);
        match config.name {
            Some(name) => builder.name(name),
            None => builder,
        }
    }
}

/// The configuration of a [`ConcurrencyLimit`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct ConcurrencyLimitConfig {
    /// Requests in flight at most (at least 1, at most [`ConcurrencyLimit::MAX_LIMIT`]).
    pub limit: usize,
    /// The name in `tracing` events (default `"concurrency"`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub name: Option<String>,
}

impl ConcurrencyLimitConfig {
    /// A configuration of `limit` slots.
    pub fn new(limit: usize) -> Self {
        Self { limit, name: None }
    }

    /// Builds the limit through [`ConcurrencyLimitBuilder`].
    ///
    /// # Errors
    /// As [`ConcurrencyLimitBuilder::build`].
    pub fn build(self) -> Result<ConcurrencyLimit, ConfigError> {
        ConcurrencyLimitBuilder::from(self).build()
    }
}

impl From<ConcurrencyLimitConfig> for ConcurrencyLimitBuilder {
    fn from(config: ConcurrencyLimitConfig) -> Self {
        let builder = ConcurrencyLimit::builder(config.limit);
        match config.name {
            Some(name) => builder.name(name),
            None => builder,
        }
    }
}

/// The configuration of an [`AdaptiveLimit`]; defaults as [`AdaptiveLimit::builder`]'s.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct AdaptiveLimitConfig {
    /// Requests slower than this count as overload.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub latency_target: Duration,
    /// The starting limit (default 10).
    #[cfg_attr(feature = "serde", serde(default = "default_initial"))]
    pub initial: usize,
    /// The lowest limit (default 1).
    #[cfg_attr(feature = "serde", serde(default = "default_min"))]
    pub min: usize,
    /// The highest limit (default 1000).
    #[cfg_attr(feature = "serde", serde(default = "default_max"))]
    pub max: usize,
    /// The factor applied on overload, strictly between 0 and 1 (default 0.9).
    #[cfg_attr(feature = "serde", serde(default = "default_backoff"))]
    pub backoff: f64,
    /// The name in `tracing` events (default `"adaptive"`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub name: Option<String>,
}

fn default_initial() -> usize {
    crate::adaptive::DEFAULT_INITIAL
}

fn default_min() -> usize {
    crate::adaptive::DEFAULT_MIN
}

fn default_max() -> usize {
    crate::adaptive::DEFAULT_MAX
}

fn default_backoff() -> f64 {
    crate::adaptive::DEFAULT_BACKOFF
}

impl AdaptiveLimitConfig {
    /// A configuration with `latency_target` and the defaults.
    pub fn new(latency_target: Duration) -> Self {
        Self {
            latency_target,
            initial: default_initial(),
            min: default_min(),
            max: default_max(),
            backoff: default_backoff(),
            name: None,
        }
    }

    /// Builds the limit through [`AdaptiveLimitBuilder`].
    ///
    /// # Errors
    /// As [`AdaptiveLimitBuilder::build`].
    pub fn build(self) -> Result<AdaptiveLimit, ConfigError> {
        AdaptiveLimitBuilder::from(self).build()
    }
}

impl From<AdaptiveLimitConfig> for AdaptiveLimitBuilder {
    fn from(config: AdaptiveLimitConfig) -> Self {
        let builder = AdaptiveLimit::builder(config.latency_target)
            .initial(config.initial)
            .min(config.min)
            .max(config.max)
            .backoff(config.backoff);
        match config.name {
            Some(name) => builder.name(Cow::Owned(name)),
            None => builder,
        }
    }
}
