//! Plain configuration values — what a config file holds — from which the builders can be made.
//!
//! With the `serde` feature they implement `Serialize`/`Deserialize`: durations are written in a
//! human format (`"5ms"`, `"1s"`, `"2m"`), unknown fields are refused and missing ones take the
//! defaults. Loading checks the file's shape; the values are checked, as in every taskweave
//! crate, by the builder: [`validate`](BatcherConfig::validate) or `build()` return the typed
//! [`ConfigError`].

use std::time::Duration;

use crate::builder::{self, DEFAULT_MAX_CONCURRENT_FLUSHES};
use crate::error::ConfigError;
use crate::limits::{self, DEFAULT_MAX_DELAY, DEFAULT_MAX_ITEMS};

/// The values of a [`Batcher`](crate::Batcher)'s configuration, e.g. as read from a file; apply
/// them with [`BatcherBuilder::config`](crate::BatcherBuilder::config).
///
/// `Default` holds the builder's defaults. A `max_weight` needs a weight function, which is
/// code: give it with [`BatcherBuilder::weigher`](crate::BatcherBuilder::weigher).
///
/// ```toml
/// max_items = 500
/// max_delay = "5ms"
/// max_buffered_items = 4000
/// max_concurrent_flushes = 2
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields, default))]
#[non_exhaustive]
pub struct BatcherConfig {
    /// The most items per batch; see
    /// [`BatcherBuilder::max_items`](crate::BatcherBuilder::max_items).
    pub max_items: usize,
    /// How long a batch's oldest item may wait; see
    /// [`BatcherBuilder::max_delay`](crate::BatcherBuilder::max_delay).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub max_delay: Duration,
    /// The weight at which a batch closes, if any; see
    /// [`BatcherBuilder::max_weight`](crate::BatcherBuilder::max_weight).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub max_weight: Option<u64>,
    /// The bound on items accepted and not yet flushed (`None`: 4 × `max_items`); see
    /// [`BatcherBuilder::max_buffered_items`](crate::BatcherBuilder::max_buffered_items).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub max_buffered_items: Option<usize>,
    /// The same bound in weight (`None`: 4 × `max_weight`); see
    /// [`BatcherBuilder::max_buffered_weight`](crate::BatcherBuilder::max_buffered_weight).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub max_buffered_weight: Option<u64>,
    /// How many batches may flush at once; see
    /// [`BatcherBuilder::max_concurrent_flushes`](crate::BatcherBuilder::max_concurrent_flushes).
    pub max_concurrent_flushes: usize,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            max_items: DEFAULT_MAX_ITEMS,
            max_delay: DEFAULT_MAX_DELAY,
            max_weight: None,
            max_buffered_items: None,
            max_buffered_weight: None,
            max_concurrent_flushes: DEFAULT_MAX_CONCURRENT_FLUSHES,
        }
    }
}

impl BatcherConfig {
    /// Runs the builder's checks on these values (all but the weight function's presence,
    /// which [`build`](crate::BatcherBuilder::build) checks).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] that [`build`](crate::BatcherBuilder::build) would return.
    pub fn validate(&self) -> Result<(), ConfigError> {
        builder::check(
            self.max_items,
            self.max_weight,
            self.max_buffered_items,
            self.max_buffered_weight,
            self.max_concurrent_flushes,
        )
        .map(drop)
    }

    /// The batch limits in these values.
    pub fn limits(&self) -> LimitsConfig {
        LimitsConfig {
            max_items: self.max_items,
            max_delay: self.max_delay,
            max_weight: self.max_weight,
        }
    }
}

/// The values of [`Limits`](crate::Limits), e.g. as read from a file; apply them with
/// [`LimitsBuilder::config`](crate::LimitsBuilder::config).
///
/// `Default` holds the builder's defaults. A `max_weight` needs a weight function, given with
/// [`LimitsBuilder::weigher`](crate::LimitsBuilder::weigher).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields, default))]
#[non_exhaustive]
pub struct LimitsConfig {
    /// The most items per batch; see [`LimitsBuilder::max_items`](crate::LimitsBuilder::max_items).
    pub max_items: usize,
    /// How long a batch's oldest item may wait; see
    /// [`LimitsBuilder::max_delay`](crate::LimitsBuilder::max_delay).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub max_delay: Duration,
    /// The weight at which a batch closes, if any; see
    /// [`LimitsBuilder::max_weight`](crate::LimitsBuilder::max_weight).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub max_weight: Option<u64>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_items: DEFAULT_MAX_ITEMS,
            max_delay: DEFAULT_MAX_DELAY,
            max_weight: None,
        }
    }
}

impl LimitsConfig {
    /// Runs the builder's checks on these values (all but the weight function's presence).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] that [`LimitsBuilder::build`](crate::LimitsBuilder::build) would
    /// return.
    pub fn validate(&self) -> Result<(), ConfigError> {
        limits::check(self.max_items, self.max_weight)
    }
}
