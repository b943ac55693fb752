//! The batcher's input as a `futures::Sink`, so that `stream.forward(batcher.sink())` feeds it
//! with backpressure.
//!
//! The sink holds at most one item of its own: one that `start_send` could not hand over because
//! the buffer was full. `poll_ready` and `poll_flush` hand it over once a flush frees space, so
//! the sink never queues more than that one item beyond the batcher's own bound.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_sink::Sink;
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::batcher::Batcher;
use crate::error::TrySubmitError;
use crate::state::Refused;

type Wait = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

/// Feeds a [`Batcher`] as a [`Sink`]; made by [`Batcher::sink`].
///
/// - `poll_ready` waits until the sink can take an item: it is ready unless an item refused for
///   lack of buffer space is still waiting to be handed to the batcher.
/// - `start_send` submits the item fire-and-forget, like [`Batcher::push`].
/// - `poll_flush` completes once every item sent has been **handed to the batcher** (accepted
///   into its buffer) — not once the flush handler has seen it. Await
///   [`Batcher::drain`] (or close the sink) for that.
/// - `poll_close` hands over what is left, then [closes](Batcher::close) the batcher — for
///   every handle, not only this sink — and waits until it has drained, like
///   [`Batcher::drain`].
///
/// The error is [`TrySubmitError`], holding the item: `Closed(item)` when the batcher is
/// closed; `Full(item)` only if `start_send` is called without a `poll_ready` that returned
/// `Ready(Ok(()))` (a breach of the `Sink` contract).
///
/// The sink is a handle like a `Batcher` clone: the batcher closes when the last of them is
/// dropped. Dropping a sink that still holds an item it could not hand over (a `start_send`
/// not followed by a completed `poll_flush`/`poll_close`) drops that item: it is counted in
/// [`Metrics::sink_items_dropped`](crate::Metrics::sink_items_dropped) and logged.
#[must_use = "sinks do nothing unless items are sent into them"]
pub struct BatcherSink<T, R, E> {
    batcher: Batcher<T, R, E>,
    /// The item `start_send` could not hand over for lack of space.
    pending: Option<T>,
    /// Registered for the next release of buffer space, while `pending` waits.
    space: Option<Wait>,
    /// Waits for the batcher to drain, once `poll_close` has closed it.
    drained: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

impl<T, R, E> BatcherSink<T, R, E>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + Sync + 'static,
{
    pub(crate) fn new(batcher: Batcher<T, R, E>) -> Self {
        Self {
            batcher,
            pending: None,
            space: None,
            drained: None,
        }
    }

    /// The batcher this sink feeds.
    pub fn get_ref(&self) -> &Batcher<T, R, E> {
        &self.batcher
    }

    /// Hands the pending item (if any) to the batcher, waiting for space.
    fn poll_deliver(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TrySubmitError<T>>> {
        let shared = Arc::clone(self.batcher.shared());
        loop {
            let Some(item) = self.pending.take() else {
                self.space = None;
                return Poll::Ready(Ok(()));
            };
            // Register for the next release of space before trying, so a flush finishing in
            // between is not missed.
            let space = self.space.get_or_insert_with(|| {
                let shared = Arc::clone(&shared);
                Box::pin(async move { shared.space.notified().await })
            });
            let woken = space.as_mut().poll(cx).is_ready();
            if woken {
                self.space = None;
            }
            match shared.offer(item, None) {
                Ok(()) => {
                    self.space = None;
                    return Poll::Ready(Ok(()));
                }
                Err(Refused::Closed(item)) => {
                    self.space = None;
                    return Poll::Ready(Err(TrySubmitError::Closed(item)));
                }
                Err(Refused::Full(item, _)) => {
                    self.pending = Some(item);
                    if !woken {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

impl<T, R, E> Sink<T> for BatcherSink<T, R, E>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + Sync + 'static,
{
    type Error = TrySubmitError<T>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_deliver(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        let this = self.get_mut();
        if this.pending.is_some() {
            // `poll_ready` was not called (or not until it was ready).
            return Err(TrySubmitError::Full(item));
        }
        match this.batcher.shared().offer(item, None) {
            Ok(()) => Ok(()),
            Err(Refused::Closed(item)) => Err(TrySubmitError::Closed(item)),
            Err(Refused::Full(item, _)) => {
                this.batcher.shared().lock().metrics.waits_for_space += 1;
                this.pending = Some(item);
                Ok(())
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_deliver(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        if this.drained.is_none() {
            std::task::ready!(this.poll_deliver(cx))?;
            this.batcher.close();
            let drained = this.batcher.shared().drained.clone().cancelled_owned();
            this.drained = Some(Box::pin(drained));
        }
        match this.drained.as_mut() {
            Some(drained) => drained.as_mut().poll(cx).map(Ok),
            None => Poll::Ready(Ok(())),
        }
    }
}

// Nothing in the sink is ever pinned: the pending item is moved, never polled.
impl<T, R, E> Unpin for BatcherSink<T, R, E> {}

impl<T, R, E> Drop for BatcherSink<T, R, E> {
    fn drop(&mut self) {
        if self.pending.is_some() {
            self.batcher.shared().lock().metrics.sink_items_dropped += 1;
            tracing::warn!(
                "batcher sink dropped with an item it had not handed to the batcher yet: \
                 flush or close the sink before dropping it"
            );
        }
    }
}

impl<T, R, E> fmt::Debug for BatcherSink<T, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatcherSink")
            .field("batcher", &self.batcher)
            .field("pending", &self.pending.is_some())
            .field("closing", &self.drained.is_some())
            .finish()
    }
}
