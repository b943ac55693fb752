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
    /// `max_buffered_weight` was set without a weight function.
    BufferedWeightWithoutWeigher,
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
                "max_buffered_weight needs a weight function: call max_weight(limit, weigher) too",
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
#[derive(PartialEq, Eq)]
pub enum TrySubmitError<T> {
    /// The buffer is at its item or weight bound; retry after a flush or use the waiting variant.
    Full(T),
    /// The batcher is shutting down or shut down and accepts nothing more.
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
            Self::Closed(_) => f.write_str("the batcher is shut down and accepts no more items"),
        }
    }
}

impl<T> Error for TrySubmitError<T> {}

/// The batcher was shut down before the item could be accepted; the item is handed back.
#[derive(PartialEq, Eq)]
pub struct Closed<T>(pub T);

impl<T> Closed<T> {
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
        f.write_str("the batcher is shut down and accepts no more items")
    }
}

impl<T> Error for Closed<T> {}

/// Why a [`Ticket`](crate::Ticket) did not resolve to its item's result.
#[non_exhaustive]
pub enum BatchError<E> {
    /// The flush handler returned an error for the whole batch; every ticket of the batch
    /// shares it.
    Failed(Arc<E>),
    /// The handler returned per-item results but fewer than the batch had items, so this item
    /// has none.
    MissingResult,
    /// The flush handler panicked, or its task was cancelled (runtime shutdown) before it
    /// finished; whether the batch took effect is unknown.
    Abandoned,
}

impl<E> Clone for BatchError<E> {
    fn clone(&self) -> Self {
        match self {
            Self::Failed(e) => Self::Failed(Arc::clone(e)),
            Self::MissingResult => Self::MissingResult,
            Self::Abandoned => Self::Abandoned,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for BatchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
            Self::MissingResult => f.write_str("MissingResult"),
            Self::Abandoned => f.write_str("Abandoned"),
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
                "the flush handler panicked or was cancelled; the batch may or may not have taken effect",
            ),
        }
    }
}

impl<E: Error + 'static> Error for BatchError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Failed(e) => Some(&**e),
            Self::MissingResult | Self::Abandoned => None,
        }
    }
}
