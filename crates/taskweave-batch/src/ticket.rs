//! The ticket a submitter holds until its item's batch has been flushed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::sync::oneshot;

use crate::error::BatchError;

pub(crate) type Reply<R, E> = oneshot::Sender<Result<R, BatchError<E>>>;

/// Resolves when the batch holding the item was flushed, to that item's result or the batch's
/// error. Returned by [`Batcher::submit`](crate::Batcher::submit).
///
/// Every ticket resolves, whatever ends the batcher: `close`/`drain` flush everything accepted
/// first; [`abort`](crate::Batcher::abort) and the end of a shutdown's grace period resolve it to
/// [`BatchError::Aborted`] or [`BatchError::Unflushed`]. Dropping a ticket does not withdraw the
/// item; it is flushed all the same.
#[must_use = "a ticket does nothing unless awaited; use `push` if the result is not needed"]
pub struct Ticket<R, E> {
    rx: oneshot::Receiver<Result<R, BatchError<E>>>,
}

impl<R, E> Ticket<R, E> {
    pub(crate) fn new() -> (Reply<R, E>, Self) {
        let (tx, rx) = oneshot::channel();
        (tx, Self { rx })
    }
}

impl<R, E> Future for Ticket<R, E> {
    type Output = Result<R, BatchError<E>>;

    /// # Cancel safety
    ///
    /// Cancel safe: polling again later still yields the result.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The sender is dropped without a value only when the flush task died mid-flush.
        Poll::Ready(ready!(Pin::new(&mut self.rx).poll(cx)).unwrap_or(Err(BatchError::Abandoned)))
    }
}

impl<R, E> fmt::Debug for Ticket<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket").finish_non_exhaustive()
    }
}
