//! What a shutdown with a deadline could not flush.

use std::fmt;

/// What [`Batcher::shutdown_timeout`](crate::Batcher::shutdown_timeout) could not flush within
/// its grace period: nothing accepted is lost silently, it is either handed back here or
/// counted here.
///
/// The unflushed items come back in acceptance order. Items already handed to the flush handler
/// cannot be returned (the handler owns them); the flushes that were cut short are counted, and
/// their tickets resolved to [`BatchError::Aborted`](crate::BatchError::Aborted).
#[non_exhaustive]
pub struct ShutdownReport<T> {
    /// Items accepted but never handed to the flush handler, in acceptance order. Their tickets
    /// resolved to [`BatchError::Unflushed`](crate::BatchError::Unflushed).
    pub unflushed: Vec<T>,
    /// Flushes in progress when the grace period ended, which were cancelled.
    pub aborted_batches: u64,
    /// Items in those cancelled flushes.
    pub aborted_items: u64,
}

impl<T> ShutdownReport<T> {
    /// Whether everything accepted was flushed within the grace period.
    pub fn is_clean(&self) -> bool {
        self.unflushed.is_empty() && self.aborted_batches == 0
    }
}

impl<T> fmt::Debug for ShutdownReport<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownReport")
            .field("unflushed", &self.unflushed.len())
            .field("aborted_batches", &self.aborted_batches)
            .field("aborted_items", &self.aborted_items)
            .finish()
    }
}
