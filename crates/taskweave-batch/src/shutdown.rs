//! What a shutdown with a grace period could not flush.

use std::fmt;

/// What [`Batcher::shutdown`](crate::Batcher::shutdown) could not flush within its grace
/// period: nothing accepted is lost silently, it is either handed back here or counted here.
///
/// The unflushed items come back in acceptance order. Items already handed to the flush handler
/// cannot be returned (the handler owns them); the flushes that were cut short are counted, and
/// their tickets resolved to [`BatchError::Aborted`](crate::BatchError::Aborted).
#[non_exhaustive]
pub struct ShutdownReport<T> {
    /// Items accepted but never handed to the flush handler, in acceptance order. Their tickets
    /// resolved to [`BatchError::Unflushed`](crate::BatchError::Unflushed).
    pub unflushed: Vec<T>,
    /// Flushes cancelled so far (at the end of a grace period, or by
    /// [`Batcher::abort`](crate::Batcher::abort)); their tickets resolved to
    /// [`BatchError::Aborted`](crate::BatchError::Aborted).
    pub aborted_batches: u64,
    /// Items in those cancelled flushes.
    pub aborted_items: u64,
    /// Flushes dropped with the flush task when the runtime shut down under the batcher; their
    /// tickets resolved to [`BatchError::Abandoned`](crate::BatchError::Abandoned).
    pub abandoned_batches: u64,
    /// Every item never handed to the flush handler so far: those in
    /// [`unflushed`](Self::unflushed) and those handed back earlier (by
    /// [`Batcher::abort`](crate::Batcher::abort) or an earlier `shutdown`).
    pub unflushed_items: u64,
}

impl<T> ShutdownReport<T> {
    /// Whether nothing had to be aborted or handed back: everything accepted was flushed.
    pub fn is_clean(&self) -> bool {
        self.unflushed.is_empty()
            && self.unflushed_items == 0
            && self.aborted_batches == 0
            && self.abandoned_batches == 0
    }
}

impl<T> fmt::Debug for ShutdownReport<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownReport")
            .field("unflushed", &self.unflushed.len())
            .field("aborted_batches", &self.aborted_batches)
            .field("aborted_items", &self.aborted_items)
            .field("abandoned_batches", &self.abandoned_batches)
            .field("unflushed_items", &self.unflushed_items)
            .finish()
    }
}
