//! Configuration: the limits that close a batch, and the batcher's builder.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::batcher::Batcher;
use crate::error::ConfigError;
use crate::flusher;
use crate::outcome::FlushOutput;

/// The default [`max_items`](LimitsBuilder::max_items): 128.
pub const DEFAULT_MAX_ITEMS: usize = 128;
/// The default [`max_delay`](LimitsBuilder::max_delay): 10 ms.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_millis(10);

/// The largest [`max_items`](LimitsBuilder::max_items) accepted: 2^20 (1 048 576) items per
/// batch. Past a few thousand, bigger batches only add latency and memory.
pub const MAX_ITEMS_LIMIT: usize = 1 << 20;
/// The largest [`max_buffered_items`](BatcherBuilder::max_buffered_items) accepted: 2^24
/// (16 777 216) items, 16 batches of the largest size.
pub const MAX_BUFFERED_ITEMS_LIMIT: usize = 1 << 24;
/// The largest [`max_concurrent_flushes`](BatcherBuilder::max_concurrent_flushes) accepted:
/// 1024 flushes at once.
pub const MAX_CONCURRENT_FLUSHES_LIMIT: usize = 1024;

pub(crate) type Weigher<T> = Arc<dyn Fn(&T) -> u64 + Send + Sync>;

/// When a batch is closed: at `max_items` items, `max_delay` after its oldest item arrived, or
/// (optionally) when its total weight reaches `max_weight`.
///
/// Shared by [`Batcher`] and the [`batched`](crate::BatchedExt::batched) stream adapter, so both
/// cut batches the same way.
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
    max_items: usize,
    max_delay: Duration,
    max_weight: Option<(u64, Weigher<T>)>,
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
        self.max_weight = Some((max_weight, Arc::new(weigher)));
        self
    }

    /// Checks the limits.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroMaxItems`], [`ConfigError::MaxItemsTooLarge`] or
    /// [`ConfigError::ZeroMaxWeight`].
    pub fn build(self) -> Result<Limits<T>, ConfigError> {
        if self.max_items == 0 {
            return Err(ConfigError::ZeroMaxItems);
        }
        if self.max_items > MAX_ITEMS_LIMIT {
            return Err(ConfigError::MaxItemsTooLarge {
                max_items: self.max_items,
                limit: MAX_ITEMS_LIMIT,
            });
        }
        if matches!(self.max_weight, Some((0, _))) {
            return Err(ConfigError::ZeroMaxWeight);
        }
        Ok(Limits {
            max_items: self.max_items,
            max_delay: self.max_delay,
            max_weight: self.max_weight,
        })
    }
}

impl<T> fmt::Debug for LimitsBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitsBuilder")
            .field("max_items", &self.max_items)
            .field("max_delay", &self.max_delay)
            .field("max_weight", &self.max_weight.as_ref().map(|(w, _)| *w))
            .finish()
    }
}

/// Builds a [`Batcher`]; see [`Batcher::builder`].
pub struct BatcherBuilder<T> {
    limits: LimitsBuilder<T>,
    max_buffered_items: Option<usize>,
    max_buffered_weight: Option<u64>,
    max_concurrent_flushes: usize,
    shutdown: Option<CancellationToken>,
    _items: PhantomData<fn(T)>,
}

/// The validated settings a running batcher works with.
pub(crate) struct Settings<T> {
    pub(crate) limits: Limits<T>,
    pub(crate) max_buffered_items: usize,
    pub(crate) max_buffered_weight: Option<u64>,
    pub(crate) max_concurrent_flushes: usize,
}

impl<T: Send + 'static> BatcherBuilder<T> {
    pub(crate) fn new() -> Self {
        Self {
            limits: Limits::builder(),
            max_buffered_items: None,
            max_buffered_weight: None,
            max_concurrent_flushes: 1,
            shutdown: None,
            _items: PhantomData,
        }
    }

    /// The most items per batch (default [`DEFAULT_MAX_ITEMS`]); must be at least 1.
    pub fn max_items(mut self, max_items: usize) -> Self {
        self.limits = self.limits.max_items(max_items);
        self
    }

    /// How long the oldest item of a batch may wait before the batch is flushed (default
    /// [`DEFAULT_MAX_DELAY`]), measured from that item's arrival.
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.limits = self.limits.max_delay(max_delay);
        self
    }

    /// Flushes a batch when the summed `weigher(item)` reaches `max_weight`; see
    /// [`LimitsBuilder::max_weight`]. Off by default.
    pub fn max_weight<W>(mut self, max_weight: u64, weigher: W) -> Self
    where
        W: Fn(&T) -> u64 + Send + Sync + 'static,
    {
        self.limits = self.limits.max_weight(max_weight, weigher);
        self
    }

    /// Takes all three batch limits from `limits`, e.g. to cut batches exactly like a
    /// [`batched`](crate::BatchedExt::batched) stream elsewhere in the program.
    pub fn limits(mut self, limits: Limits<T>) -> Self {
        self.limits = LimitsBuilder {
            max_items: limits.max_items,
            max_delay: limits.max_delay,
            max_weight: limits.max_weight,
        };
        self
    }

    /// How many items may be accepted but not yet flushed (buffered, waiting for a flush slot,
    /// or being flushed). At the bound, `submit`/`push` wait and `try_*` return
    /// [`Full`](crate::TrySubmitError::Full). Default: 4 × `max_items`; must be ≥ `max_items`
    /// and at most [`MAX_BUFFERED_ITEMS_LIMIT`].
    pub fn max_buffered_items(mut self, max_buffered_items: usize) -> Self {
        self.max_buffered_items = Some(max_buffered_items);
        self
    }

    /// The same bound in weight (needs [`max_weight`](Self::max_weight)). An item is admitted
    /// when it fits, or when nothing is buffered at all, so one oversized item cannot wedge the
    /// batcher. Default: 4 × `max_weight` when a weight limit is set.
    pub fn max_buffered_weight(mut self, max_buffered_weight: u64) -> Self {
        self.max_buffered_weight = Some(max_buffered_weight);
        self
    }

    /// How many batches may be flushing at once (default 1: batches are flushed strictly one
    /// after another, in order). Must be at least 1 and at most
    /// [`MAX_CONCURRENT_FLUSHES_LIMIT`].
    pub fn max_concurrent_flushes(mut self, max_concurrent_flushes: usize) -> Self {
        self.max_concurrent_flushes = max_concurrent_flushes;
        self
    }

    /// Shuts the batcher down when `token` is cancelled, exactly like
    /// [`Batcher::shutdown`]: nothing more is accepted, the tail is flushed, every ticket
    /// resolves.
    pub fn shutdown_on(mut self, token: CancellationToken) -> Self {
        self.shutdown = Some(token);
        self
    }

    /// Validates the configuration and spawns the flush task on the current Tokio runtime.
    ///
    /// `handler` receives each batch, in the order the items were accepted, and returns either
    /// `Ok(())` (every ticket of the batch resolves to `Ok(())`), `Ok(vec)` with one result per
    /// item in batch order, or `Err(e)` (every ticket resolves to
    /// [`BatchError::Failed`](crate::BatchError::Failed) sharing `e`). See [`FlushOutput`].
    /// If the handler, its future or its output panics, the panic is caught: that batch's
    /// tickets resolve to [`BatchError::FlushPanicked`](crate::BatchError::FlushPanicked) and
    /// the batcher goes on with the next batch.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the setting to fix, or [`ConfigError::NoRuntime`] outside a
    /// Tokio runtime.
    pub fn build<F, Fut, O, E>(self, handler: F) -> Result<Batcher<T, O::Item, E>, ConfigError>
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        O: FlushOutput,
        E: Send + Sync + 'static,
    {
        let limits = self.limits.build()?;
        if self.max_concurrent_flushes == 0 {
            return Err(ConfigError::ZeroConcurrentFlushes);
        }
        if self.max_concurrent_flushes > MAX_CONCURRENT_FLUSHES_LIMIT {
            return Err(ConfigError::TooManyConcurrentFlushes {
                max_concurrent_flushes: self.max_concurrent_flushes,
                limit: MAX_CONCURRENT_FLUSHES_LIMIT,
            });
        }
        let max_buffered_items = self
            .max_buffered_items
            .unwrap_or_else(|| limits.max_items.saturating_mul(4));
        if max_buffered_items < limits.max_items {
            return Err(ConfigError::BufferSmallerThanBatch {
                max_buffered_items,
                max_items: limits.max_items,
            });
        }
        if max_buffered_items > MAX_BUFFERED_ITEMS_LIMIT {
            return Err(ConfigError::BufferTooLarge {
                max_buffered_items,
                limit: MAX_BUFFERED_ITEMS_LIMIT,
            });
        }
        let max_buffered_weight = match (self.max_buffered_weight, limits.max_weight()) {
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::BufferedWeightWithoutWeigher),
            (None, Some(max_weight)) => Some(max_weight.saturating_mul(4)),
            (Some(buffered), Some(max_weight)) if buffered < max_weight => {
                return Err(ConfigError::WeightBufferSmallerThanBatch {
                    max_buffered_weight: buffered,
                    max_weight,
                });
            }
            (Some(buffered), Some(_)) => Some(buffered),
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        let settings = Settings {
            limits,
            max_buffered_items,
            max_buffered_weight,
            max_concurrent_flushes: self.max_concurrent_flushes,
        };
        Ok(flusher::start(&runtime, settings, handler, self.shutdown))
    }
}

impl<T> fmt::Debug for BatcherBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatcherBuilder")
            .field("limits", &self.limits)
            .field("max_buffered_items", &self.max_buffered_items)
            .field("max_buffered_weight", &self.max_buffered_weight)
            .field("max_concurrent_flushes", &self.max_concurrent_flushes)
            .field("shutdown", &self.shutdown.is_some())
            .finish()
    }
}
