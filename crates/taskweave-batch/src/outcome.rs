//! What a flush handler returns, and how it fans back out to the items' tickets.

/// The `Ok` value of a flush handler: one result for the whole batch, or one per item.
///
/// - `()`: the batch succeeded as a whole; every ticket resolves to `Ok(())`.
/// - `Vec<R>`: one result per item, in batch order; each ticket resolves to `Ok(r)` with its
///   own item's `r`. Per-item failures fit here too, as `Vec<Result<R, E2>>`. A vector shorter
///   than the batch leaves the remaining tickets with
///   [`BatchError::MissingResult`](crate::BatchError::MissingResult).
///
/// A handler's `Err(e)` is shared by every ticket of the batch as
/// [`BatchError::Failed`](crate::BatchError::Failed)`(Arc<E>)`.
pub trait FlushOutput: Send + 'static {
    /// The result each ticket receives.
    type Item: Send + 'static;
    /// Yields the per-item results in batch order.
    type IntoIter: Iterator<Item = Self::Item>;

    /// Turns the batch's output into per-item results, in batch order.
    fn into_item_results(self) -> Self::IntoIter;
}

impl FlushOutput for () {
    type Item = ();
    type IntoIter = std::iter::Repeat<()>;

    fn into_item_results(self) -> Self::IntoIter {
        std::iter::repeat(())
    }
}

impl<R: Send + 'static> FlushOutput for Vec<R> {
    type Item = R;
    type IntoIter = std::vec::IntoIter<R>;

    fn into_item_results(self) -> Self::IntoIter {
        self.into_iter()
    }
}
