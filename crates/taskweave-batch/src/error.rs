//! Errors: invalid configuration, rejected submissions and failed batches.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// A [`Limits`](crate::Limits) or [`Batcher`](crate::Batcher) configuration that cannot work.
///
/// Returned by the builders' `build()`; each message says which setting to change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_items` was 0: a batch must be able to hold at least one item.
    ZeroMaxItems,
    /// `max_weight` was 0: a batch must be allowed some weight.
    ZeroMaxWeight,
    /// `max_concurrent_flushes` was 0: nothing could ever be flushed.
    ZeroConcurrentFlushes,
    /// `max_buffered_items` was below `max_items`, so a batch could never fill up.
    BufferSmallerThanBatch {
        /// The configured `max_buffered_items`.
        max_buffered_items: usize,
        /// The configured `max_items`.
        max_items: usize,
    },
    /// `max_buffered_weight` was below `max_weight`, so a batch could never reach its weight.
    WeightBufferSmallerThanBatch {
        /// The configured `max_buffered_weight`.
        max_buffered_weight: u64,
        /// The configured `max_weight`.
        max_weight: u64,
    },
    /// `max_buffered_weight` was set without a weight limit (`max_weight`).
    BufferedWeightWithoutWeigher,
    /// `max_weight` was set (e.g. from a [`BatcherConfig`](crate::BatcherConfig)) without a
    /// weight function to measure items with.
    MaxWeightWithoutWeigher,
    /// A weight function was given with [`weigher`](crate::BatcherBuilder::weigher) but no
    /// `max_weight`, so it would never be used.
    WeigherWithoutMaxWeight,
    /// `max_items` was above [`MAX_ITEMS_LIMIT`](crate::MAX_ITEMS_LIMIT).
    MaxItemsTooLarge {
        /// The configured `max_items`.
        max_items: usize,
        /// The largest value accepted.
        limit: usize,
    },
    /// `max_buffered_items` was above
    /// [`MAX_BUFFERED_ITEMS_LIMIT`](crate::MAX_BUFFERED_ITEMS_LIMIT).
    BufferTooLarge {
        /// The configured `max_buffered_items`.
        max_buffered_items: usize,
        /// The largest value accepted.
        limit: usize,
    },
    /// `max_concurrent_flushes` was above
    /// [`MAX_CONCURRENT_FLUSHES_LIMIT`](crate::MAX_CONCURRENT_FLUSHES_LIMIT).
    TooManyConcurrentFlushes {
        /// The configured `max_concurrent_flushes`.
        max_concurrent_flushes: usize,
        /// The largest value accepted.
        limit: usize,
    },
    /// `build()` was called outside a Tokio runtime, so the flush task could not be spawned.
    NoRuntime,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroMaxItems => f.write_str("max_items is 0: allow at least one item per batch"),
            Self::ZeroMaxWeight => {
                f.write_str("max_weight is 0: give batches a positive weight limit")
            }
            Self::ZeroConcurrentFlushes => {
                f.write_str("max_concurrent_flushes is 0: allow at least one flush at a time")
            }
            Self::BufferSmallerThanBatch {
                max_buffered_items,
                max_items,
            } => write!(
                f,
                "max_buffered_items ({max_buffered_items}) is below max_items ({max_items}): \
                 a batch could never fill up; raise max_buffered_items or lower max_items"
            ),
            Self::WeightBufferSmallerThanBatch {
                max_buffered_weight,
                max_weight,
            } => write!(
                f,
                "max_buffered_weight ({max_buffered_weight}) is below max_weight ({max_weight}): \
                 a batch could never reach its weight; raise max_buffered_weight or lower max_weight"
            ),
            Self::BufferedWeightWithoutWeigher => f.write_str(
                "max_buffered_weight needs a weight limit: set max_weight (with a weight function) \
                 too, or remove max_buffered_weight",
            ),
            Self::MaxWeightWithoutWeigher => f.write_str(
                "max_weight is set but there is no weight function: call weigher(f) on the \
                 builder, or remove max_weight",
            ),
            Self::WeigherWithoutMaxWeight => f.write_str(
                "a weight function was given without max_weight: set max_weight, or drop the \
                 weigher",
            ),
            Self::MaxItemsTooLarge { max_items, limit } => write!(
                f,
                "max_items ({max_items}) is above the limit of {limit}: batches that large only \
                 add latency and memory; lower max_items"
            ),
            Self::BufferTooLarge {
                max_buffered_items,
                limit,
            } => write!(
                f,
                "max_buffered_items ({max_buffered_items}) is above the limit of {limit}: keep \
                 a few batches' worth buffered, and let backpressure do the rest"
            ),
            Self::TooManyConcurrentFlushes {
                max_concurrent_flushes,
                limit,
            } => write!(
                f,
                "max_concurrent_flushes ({max_concurrent_flushes}) is above the limit of \
                 {limit}: lower it to what the downstream can take in parallel"
            ),
            Self::NoRuntime => f.write_str(
                "no Tokio runtime: call build() from within a runtime (e.g. inside #[tokio::main])",
            ),
        }
    }
}

impl Error for ConfigError {}

/// Why [`Batcher::try_submit`](crate::Batcher::try_submit) or
/// [`Batcher::try_push`](crate::Batcher::try_push) did not accept an item; the item is handed back.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrySubmitError<T> {
    /// The buffer is at its item or weight bound; retry after a flush or use the waiting variant.
    Full(T),
    /// The batcher is closed (see [`Batcher::close`](crate::Batcher::close)) and accepts
    /// nothing more.
    Closed(T),
}

impl<T> TrySubmitError<T> {
    /// Takes back the item that was not accepted.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(item) | Self::Closed(item) => item,
        }
    }
}

impl<T> fmt::Debug for TrySubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str(
                "the batcher's buffer is full: wait for a flush or use the awaiting submit/push",
            ),
            Self::Closed(_) => f.write_str(
                "the batcher is closed and accepts no more items: submit to a batcher that is \
                 still open",
            ),
        }
    }
}

impl<T> Error for TrySubmitError<T> {}

/// The batcher was closed (by [`close`](crate::Batcher::close), `drain`, `shutdown`, `abort`,
/// its cancellation token or the drop of its last handle) before the item could be accepted;
/// the item is handed back.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Closed<T>(pub T);

impl<T> Closed<T> {
    /// Wraps an item that was refused because the batcher is closed.
    pub fn new(item: T) -> Self {
        Self(item)
    }

    /// The item that was not accepted.
    pub fn get_ref(&self) -> &T {
        &self.0
    }

    /// Takes back the item that was not accepted.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Closed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closed(..)")
    }
}

impl<T> fmt::Display for Closed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the batcher is closed and accepts no more items: submit to a batcher that is still \
             open",
        )
    }
}

impl<T> Error for Closed<T> {}

/// Why a [`Ticket`](crate::Ticket) did not resolve to its item's result.
///
/// `Clone` needs no `E: Clone` (the handler's error is shared in an `Arc`); `PartialEq`
/// compares the shared errors by value.
#[derive(PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchError<E> {
    /// The flush handler returned an error for the whole batch; every ticket of the batch
    /// shares it.
    Failed(Arc<E>),
    /// The handler returned per-item results but fewer than the batch had items, so this item
    /// has none.
    MissingResult,
    /// The flush task was dropped (its runtime shut down) while the batch was being flushed;
    /// whether the batch took effect is unknown.
    Abandoned,
    /// The flush handler, its future, or its [`FlushOutput`](crate::FlushOutput) panicked
    /// before this item got its result; whether the batch took effect is unknown. Other
    /// batches are unaffected.
    FlushPanicked,
    /// The flush of this item's batch was cancelled: [`Batcher::abort`](crate::Batcher::abort)
    /// was called, or [`Batcher::shutdown`](crate::Batcher::shutdown)'s grace period ended,
    /// while it ran. Whether the batch took effect is unknown.
    Aborted,
    /// The item was never handed to the flush handler: [`Batcher::abort`](crate::Batcher::abort)
    /// was called, shutdown's grace period ended, or the runtime shut down, first. The item
    /// itself is handed back by `abort` or in
    /// [`ShutdownReport::unflushed`](crate::ShutdownReport::unflushed).
    Unflushed,
}

impl<E> Clone for BatchError<E> {
    fn clone(&self) -> Self {
        match self {
            Self::Failed(e) => Self::Failed(Arc::clone(e)),
            Self::MissingResult => Self::MissingResult,
            Self::Abandoned => Self::Abandoned,
            Self::FlushPanicked => Self::FlushPanicked,
            Self::Aborted => Self::Aborted,
            Self::Unflushed => Self::Unflushed,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for BatchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
            Self::MissingResult => f.write_str("MissingResult"),
            Self::Abandoned => f.write_str("Abandoned"),
            Self::FlushPanicked => f.write_str("FlushPanicked"),
            Self::Aborted => f.write_str("Aborted"),
            Self::Unflushed => f.write_str("Unflushed"),
        }
    }
}

impl<E: fmt::Display> fmt::Display for BatchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(e) => write!(f, "the batch failed: {e}"),
            Self::MissingResult => f.write_str(
                "the flush handler returned fewer results than the batch had items; \
                 return one result per item, in batch order",
            ),
            Self::Abandoned => f.write_str(
                "the batcher's flush task was cancelled (runtime shutdown) mid-flush; the batch \
                 may or may not have taken effect: await drain() (or shutdown(grace)) before the \
                 runtime ends",
            ),
            Self::FlushPanicked => f.write_str(
                "the flush handler (or its FlushOutput) panicked; the batch may or may not have \
                 taken effect, and the batcher goes on with the next batches",
            ),
            Self::Aborted => f.write_str(
                "the flush was cancelled mid-way (abort(), or the end of shutdown's grace \
                 period); the batch may or may not have taken effect: use drain() or a longer \
                 grace period to let flushes finish",
            ),
            Self::Unflushed => f.write_str(
                "the item was never flushed (abort(), the end of shutdown's grace period, or the \
                 runtime's shutdown came first); abort() or the ShutdownReport hands it back",
            ),
        }
    }
}

impl<E: Error + 'static> Error for BatchError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Failed(e) => Some(&**e),
            _ => None,
        }
    }
}
