//! The batcher's builder: validates the settings and spawns the flush task.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::batcher::Batcher;
use crate::config::BatcherConfig;
use crate::error::ConfigError;
use crate::flusher;
use crate::limits::{self, Limits, LimitsBuilder};
use crate::outcome::FlushOutput;

/// The largest [`max_buffered_items`](BatcherBuilder::max_buffered_items) accepted: 2^24
/// (16 777 216) items, 16 batches of the largest size.
pub const MAX_BUFFERED_ITEMS_LIMIT: usize = 1 << 24;
/// The largest [`max_concurrent_flushes`](BatcherBuilder::max_concurrent_flushes) accepted:
/// 1024 flushes at once.
pub const MAX_CONCURRENT_FLUSHES_LIMIT: usize = 1024;
/// The default [`max_concurrent_flushes`](BatcherBuilder::max_concurrent_flushes): 1, so
/// batches are flushed one after another, in order.
pub const DEFAULT_MAX_CONCURRENT_FLUSHES: usize = 1;

/// Builds a [`Batcher`]; see [`Batcher::builder`].
pub struct BatcherBuilder<T> {
    limits: LimitsBuilder<T>,
    max_buffered_items: Option<usize>,
    max_buffered_weight: Option<u64>,
    max_concurrent_flushes: usize,
    token: Option<CancellationToken>,
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
            max_concurrent_flushes: DEFAULT_MAX_CONCURRENT_FLUSHES,
            token: None,
            _items: PhantomData,
        }
    }

    /// The most items per batch (default [`DEFAULT_MAX_ITEMS`](crate::DEFAULT_MAX_ITEMS)); must
    /// be at least 1 and at most [`MAX_ITEMS_LIMIT`](crate::MAX_ITEMS_LIMIT).
    pub fn max_items(mut self, max_items: usize) -> Self {
        self.limits = self.limits.max_items(max_items);
        self
    }

    /// How long the oldest item of a batch may wait before the batch is flushed (default
    /// [`DEFAULT_MAX_DELAY`](crate::DEFAULT_MAX_DELAY)), measured from that item's arrival.
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

    /// The weight function alone, for a `max_weight` that comes from a [`BatcherConfig`]
    /// (see [`config`](Self::config)). [`max_weight`](Self::max_weight) sets both at once.
    pub fn weigher<W>(mut self, weigher: W) -> Self
    where
        W: Fn(&T) -> u64 + Send + Sync + 'static,
    {
        self.limits = self.limits.weigher(weigher);
        self
    }

    /// Takes all three batch limits from `limits`, e.g. to cut batches exactly like a
    /// [`batched`](crate::BatchedExt::batched) stream elsewhere in the program.
    pub fn limits(mut self, limits: Limits<T>) -> Self {
        let (max_weight, weigher) = limits.max_weight.unzip();
        self.limits = LimitsBuilder {
            max_items: limits.max_items,
            max_delay: limits.max_delay,
            max_weight,
            weigher,
        };
        self
    }

    /// Takes every value of `config` (e.g. read from a file with the `serde` feature). A
    /// `max_weight` in it needs a [`weigher`](Self::weigher) too; [`build`](Self::build)
    /// validates everything, like the values set one by one.
    pub fn config(mut self, config: BatcherConfig) -> Self {
        let BatcherConfig {
            max_items,
            max_delay,
            max_weight,
            max_buffered_items,
            max_buffered_weight,
            max_concurrent_flushes,
        } = config;
        self.limits = self.limits.max_items(max_items).max_delay(max_delay);
        self.limits.max_weight = max_weight;
        self.max_buffered_items = max_buffered_items;
        self.max_buffered_weight = max_buffered_weight;
        self.max_concurrent_flushes = max_concurrent_flushes;
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

    /// How many batches may be flushing at once (default
    /// [`DEFAULT_MAX_CONCURRENT_FLUSHES`]: batches are flushed strictly one after another, in
    /// order). Must be at least 1 and at most [`MAX_CONCURRENT_FLUSHES_LIMIT`].
    pub fn max_concurrent_flushes(mut self, max_concurrent_flushes: usize) -> Self {
        self.max_concurrent_flushes = max_concurrent_flushes;
        self
    }

    /// Closes the batcher when `token` is cancelled, exactly like [`Batcher::close`]:
    /// graceful, never an abort. Nothing more is accepted, the tail is flushed at once, and
    /// every ticket resolves; await [`Batcher::drain`] to know when.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
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
        let (max_buffered_items, max_buffered_weight) = check(
            limits.max_items,
            limits.max_weight(),
            self.max_buffered_items,
            self.max_buffered_weight,
            self.max_concurrent_flushes,
        )?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        let settings = Settings {
            limits,
            max_buffered_items,
            max_buffered_weight,
            max_concurrent_flushes: self.max_concurrent_flushes,
        };
        Ok(flusher::start(&runtime, settings, handler, self.token))
    }
}

/// The checks on the numbers alone, shared by [`BatcherBuilder::build`] and
/// [`BatcherConfig::validate`]; returns the buffer bounds with their defaults filled in.
pub(crate) fn check(
    max_items: usize,
    max_weight: Option<u64>,
    max_buffered_items: Option<usize>,
    max_buffered_weight: Option<u64>,
    max_concurrent_flushes: usize,
) -> Result<(usize, Option<u64>), ConfigError> {
    limits::check(max_items, max_weight)?;
    if max_concurrent_flushes == 0 {
        return Err(ConfigError::ZeroConcurrentFlushes);
    }
    if max_concurrent_flushes > MAX_CONCURRENT_FLUSHES_LIMIT {
        return Err(ConfigError::TooManyConcurrentFlushes {
            max_concurrent_flushes,
            limit: MAX_CONCURRENT_FLUSHES_LIMIT,
        });
    }
    let max_buffered_items = max_buffered_items.unwrap_or_else(|| max_items.saturating_mul(4));
    if max_buffered_items < max_items {
        return Err(ConfigError::BufferSmallerThanBatch {
            max_buffered_items,
            max_items,
        });
    }
    if max_buffered_items > MAX_BUFFERED_ITEMS_LIMIT {
        return Err(ConfigError::BufferTooLarge {
            max_buffered_items,
            limit: MAX_BUFFERED_ITEMS_LIMIT,
        });
    }
    let max_buffered_weight = match (max_buffered_weight, max_weight) {
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
    Ok((max_buffered_items, max_buffered_weight))
}

impl<T> fmt::Debug for BatcherBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatcherBuilder")
            .field("limits", &self.limits)
            .field("max_buffered_items", &self.max_buffered_items)
            .field("max_buffered_weight", &self.max_buffered_weight)
            .field("max_concurrent_flushes", &self.max_concurrent_flushes)
            .field("cancellation_token", &self.token.is_some())
            .finish()
    }
}
