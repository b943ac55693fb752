//! The limits that close a batch — size, age of the oldest item, weight — shared by the batcher
//! and the `batched` stream adapter, with their defaults and bounds.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::LimitsConfig;
use crate::error::ConfigError;

/// The default [`max_items`](LimitsBuilder::max_items): 128.
pub const DEFAULT_MAX_ITEMS: usize = 128;
/// The default [`max_delay`](LimitsBuilder::max_delay): 10 ms.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_millis(10);

/// The largest [`max_items`](LimitsBuilder::max_items) accepted: 2^20 (1 048 576) items per
/// batch. Past a few thousand, bigger batches only add latency and memory.
pub const MAX_ITEMS_LIMIT: usize = 1 << 20;

pub(crate) type Weigher<T> = Arc<dyn Fn(&T) -> u64 + Send + Sync>;

/// When a batch is closed: at `max_items` items, `max_delay` after its oldest item arrived, or
/// (optionally) when its total weight reaches `max_weight`.
///
/// Shared by [`Batcher`](crate::Batcher) and the [`batched`](crate::BatchedExt::batched) stream
/// adapter, so both cut batches the same way.
///
/// An item heavier than `max_weight` on its own is never rejected: it closes the batch being
/// filled and travels in a batch of its own.
pub struct Limits<T> {
    pub(crate) max_items: usize,
    pub(crate) max_delay: Duration,
    pub(crate) max_weight: Option<(u64, Weigher<T>)>,
}

impl<T> Limits<T> {
    /// Starts a builder with the defaults: [`DEFAULT_MAX_ITEMS`], [`DEFAULT_MAX_DELAY`], no
    /// weight limit.
    pub fn builder() -> LimitsBuilder<T> {
        LimitsBuilder {
            max_items: DEFAULT_MAX_ITEMS,
            max_delay: DEFAULT_MAX_DELAY,
            max_weight: None,
            weigher: None,
        }
    }

    /// The most items a batch holds.
    pub fn max_items(&self) -> usize {
        self.max_items
    }

    /// How long the oldest item of a batch waits, at most, before the batch is closed.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The weight at which a batch is closed, if a weight function was given.
    pub fn max_weight(&self) -> Option<u64> {
        self.max_weight.as_ref().map(|(limit, _)| *limit)
    }

    /// These limits as a plain [`LimitsConfig`] (the weight function, being code, is not part
    /// of it).
    pub fn to_config(&self) -> LimitsConfig {
        LimitsConfig {
            max_items: self.max_items,
            max_delay: self.max_delay,
            max_weight: self.max_weight(),
        }
    }

    /// The weight of `item` under the configured weight function (0 without one).
    pub(crate) fn weigh(&self, item: &T) -> u64 {
        match &self.max_weight {
            Some((_, weigher)) => weigher(item),
            None => 0,
        }
    }
}

impl<T> Clone for Limits<T> {
    fn clone(&self) -> Self {
        Self {
            max_items: self.max_items,
            max_delay: self.max_delay,
            max_weight: self.max_weight.clone(),
        }
    }
}

impl<T> fmt::Debug for Limits<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limits")
            .field("max_items", &self.max_items)
            .field("max_delay", &self.max_delay)
            .field("max_weight", &self.max_weight())
            .finish()
    }
}

/// Builds [`Limits`]; see [`Limits::builder`].
pub struct LimitsBuilder<T> {
    pub(crate) max_items: usize,
    pub(crate) max_delay: Duration,
    pub(crate) max_weight: Option<u64>,
    pub(crate) weigher: Option<Weigher<T>>,
}

impl<T> LimitsBuilder<T> {
    /// The most items per batch (default [`DEFAULT_MAX_ITEMS`]); must be at least 1 and at most
    /// [`MAX_ITEMS_LIMIT`].
    pub fn max_items(mut self, max_items: usize) -> Self {
        self.max_items = max_items;
        self
    }

    /// How long the oldest item of a batch may wait before the batch is closed (default
    /// [`DEFAULT_MAX_DELAY`]). The clock starts when the batch's first item arrives, not on a
    /// free-running tick. `Duration::ZERO` closes a batch as soon as the flusher sees it;
    /// `Duration::MAX` never closes one by age.
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// Closes a batch when the summed `weigher(item)` reaches `max_weight` (e.g. bytes); an item
    /// that would push the batch over the limit starts the next batch instead. Off by default.
    /// Any non-zero `u64` works: weights only add up (saturating at `u64::MAX`), nothing is
    /// allocated by weight.
    pub fn max_weight<W>(mut self, max_weight: u64, weigher: W) -> Self
    where
        W: Fn(&T) -> u64 + Send + Sync + 'static,
    {
        self.max_weight = Some(max_weight);
        self.weigher = Some(Arc::new(weigher));
        self
    }

    /// The weight function alone, for a `max_weight` that comes from a [`LimitsConfig`]
    /// (see [`config`](Self::config)). [`max_weight`](Self::max_weight) sets both at once.
    pub fn weigher<W>(mut self, weigher: W) -> Self
    where
        W: Fn(&T) -> u64 + Send + Sync + 'static,
    {
        self.weigher = Some(Arc::new(weigher));
        self
    }

    /// Takes every value of `config` (a weight limit in it needs [`weigher`](Self::weigher)
    /// too). Validated by [`build`](Self::build), like the values set one by one.
    pub fn config(mut self, config: LimitsConfig) -> Self {
        self.max_items = config.max_items;
        self.max_delay = config.max_delay;
        self.max_weight = config.max_weight;
        self
    }

    /// Checks the limits.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroMaxItems`], [`ConfigError::MaxItemsTooLarge`],
    /// [`ConfigError::ZeroMaxWeight`], [`ConfigError::MaxWeightWithoutWeigher`] or
    /// [`ConfigError::WeigherWithoutMaxWeight`].
    pub fn build(self) -> Result<Limits<T>, ConfigError> {
        check(self.max_items, self.max_weight)?;
        let max_weight = match (self.max_weight, self.weigher) {
            (Some(limit), Some(weigher)) => Some((limit, weigher)),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::MaxWeightWithoutWeigher),
            (None, Some(_)) => return Err(ConfigError::WeigherWithoutMaxWeight),
        };
        Ok(Limits {
            max_items: self.max_items,
            max_delay: self.max_delay,
            max_weight,
        })
    }
}

/// The checks on the numbers alone, shared by [`LimitsBuilder::build`] and
/// [`LimitsConfig::validate`].
pub(crate) fn check(max_items: usize, max_weight: Option<u64>) -> Result<(), ConfigError> {
    if max_items == 0 {
        return Err(ConfigError::ZeroMaxItems);
    }
    if max_items > MAX_ITEMS_LIMIT {
        return Err(ConfigError::MaxItemsTooLarge {
            max_items,
            limit: MAX_ITEMS_LIMIT,
        });
    }
    if max_weight == Some(0) {
        return Err(ConfigError::ZeroMaxWeight);
    }
    Ok(())
}

impl<T> fmt::Debug for LimitsBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitsBuilder")
            .field("max_items", &self.max_items)
            .field("max_delay", &self.max_delay)
            .field("max_weight", &self.max_weight)
            .field("weigher", &self.weigher.is_some())
            .finish()
    }
}
