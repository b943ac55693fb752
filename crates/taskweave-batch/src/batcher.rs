//! The batcher's public handle: producers append to a shared buffer (see `state`), one flush
//! task (see `flusher`) closes and flushes batches.
//!
//! Producers take a short `std::sync::Mutex` to append; they wake the flush task only when a
//! batch closes or when the first item of a batch arrives while no timer is armed, never once
//! per item.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::builder::BatcherBuilder;
use crate::error::{Closed, TrySubmitError};
use crate::metrics::{FlushTrigger, Metrics};
use crate::shutdown::ShutdownReport;
use crate::sink::BatcherSink;
use crate::state::{Refused, Shared};
use crate::ticket::{Reply, Ticket};

/// Groups items into batches and hands each batch to an async flush handler.
///
/// A batch is closed when it holds `max_items` items, when its oldest item has waited
/// `max_delay`, when it reaches `max_weight`, on [`flush`](Self::flush), or when the batcher
/// is closed —
/// whichever comes first. Items are flushed exactly once, in the order they were accepted.
///
/// A panic in the flush handler (or its future, or its [`FlushOutput`](crate::FlushOutput))
/// fails only that batch: its tickets resolve to
/// [`BatchError::FlushPanicked`](crate::BatchError::FlushPanicked), and later batches are
/// flushed as usual.
///
/// # Lifecycle
///
/// [`close`](Self::close) stops intake and lets accepted items be flushed;
/// [`drain`](Self::drain) closes and waits for that; [`shutdown`](Self::shutdown) does the same
/// within a grace period, then aborts; [`abort`](Self::abort) is the hard stop. A
/// [`cancellation_token`](BatcherBuilder::cancellation_token) closes it when cancelled.
///
/// Cloning is cheap and every clone (and every [`sink`](Self::sink)) feeds the same batcher.
/// Dropping the last of them is [`close`](Self::close): intake stops, and what was accepted is
/// flushed in the background; nothing is aborted.
pub struct Batcher<T, R = (), E = Infallible> {
    shared: Arc<Shared<T, R, E>>,
}

impl<T: Send + 'static> Batcher<T> {
    /// Starts configuring a batcher for items of type `T`; finish with
    /// [`build`](BatcherBuilder::build), which takes the flush handler.
    pub fn builder() -> BatcherBuilder<T> {
        BatcherBuilder::new()
    }
}

impl<T, R, E> Batcher<T, R, E>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + Sync + 'static,
{
    /// Submits `item`, waiting for buffer space if the buffer is at its bound, and returns a
    /// [`Ticket`] that resolves once the item's batch has been flushed.
    ///
    /// # Errors
    ///
    /// [`Closed`] with the item if the batcher is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, the item was not accepted
    /// (and is dropped with the future).
    pub async fn submit(&self, item: T) -> Result<Ticket<R, E>, Closed<T>> {
        let (reply, ticket) = Ticket::new();
        self.enqueue(item, Some(reply)).await?;
        Ok(ticket)
    }

    /// Submits `item` without waiting: the item is handed back if the buffer is full or the
    /// batcher is closed.
    ///
    /// # Errors
    ///
    /// [`TrySubmitError::Full`] or [`TrySubmitError::Closed`], holding the item.
    pub fn try_submit(&self, item: T) -> Result<Ticket<R, E>, TrySubmitError<T>> {
        let (reply, ticket) = Ticket::new();
        self.try_enqueue(item, Some(reply))?;
        Ok(ticket)
    }

    /// Submits `item` fire-and-forget, waiting for buffer space if needed. The outcome of its
    /// batch shows only in [`metrics`](Self::metrics) and `tracing` events.
    ///
    /// # Errors
    ///
    /// [`Closed`] with the item if the batcher is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, the item was not accepted
    /// (and is dropped with the future).
    pub async fn push(&self, item: T) -> Result<(), Closed<T>> {
        self.enqueue(item, None).await
    }

    /// Submits `item` fire-and-forget without waiting.
    ///
    /// # Errors
    ///
    /// [`TrySubmitError::Full`] or [`TrySubmitError::Closed`], holding the item.
    pub fn try_push(&self, item: T) -> Result<(), TrySubmitError<T>> {
        self.try_enqueue(item, None)
    }

    async fn enqueue(&self, item: T, reply: Option<Reply<R, E>>) -> Result<(), Closed<T>> {
        let (mut item, mut reply) = match self.shared.offer(item, reply) {
            Ok(()) => return Ok(()),
            Err(Refused::Closed(item)) => return Err(Closed(item)),
            Err(Refused::Full(item, reply)) => (item, reply),
        };
        self.shared.lock().metrics.waits_for_space += 1;
        loop {
            // Register interest before re-checking, so a flush finishing in between is seen.
            let space = self.shared.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            match self.shared.offer(item, reply) {
                Ok(()) => return Ok(()),
                Err(Refused::Closed(back)) => return Err(Closed(back)),
                Err(Refused::Full(back, back_reply)) => {
                    item = back;
                    reply = back_reply;
                }
            }
            space.await;
        }
    }

    fn try_enqueue(&self, item: T, reply: Option<Reply<R, E>>) -> Result<(), TrySubmitError<T>> {
        match self.shared.offer(item, reply) {
            Ok(()) => Ok(()),
            Err(Refused::Closed(item)) => Err(TrySubmitError::Closed(item)),
            Err(Refused::Full(item, _)) => {
                self.shared.lock().metrics.rejected_full += 1;
                Err(TrySubmitError::Full(item))
            }
        }
    }

    /// Closes the batch being filled now (trigger [`FlushTrigger::Explicit`]) instead of waiting
    /// for its size, weight or delay. Does nothing if it is empty. The batcher stays open (this
    /// is not [`close`](Self::close)). Await the items' tickets to know when they have been
    /// flushed.
    pub fn flush(&self) {
        let mut state = self.shared.lock();
        if state.open.items.is_empty() {
            return;
        }
        state.close_open(
            FlushTrigger::Explicit,
            self.shared.settings.limits.max_items,
        );
        drop(state);
        self.shared.wake_flusher.notify_one();
    }

    /// Stops intake: later submissions are refused with their item handed back in [`Closed`]
    /// (producers waiting for space get theirs back too). What was accepted carries on: the
    /// batch being filled is closed at once (trigger [`FlushTrigger::Close`]) without waiting
    /// for its delay, and every batch is flushed as usual. Idempotent; returns at once. Await
    /// [`drain`](Self::drain) to know when everything has been flushed.
    ///
    /// Cancelling the [`cancellation_token`](BatcherBuilder::cancellation_token) and dropping the
    /// last handle do exactly this.
    pub fn close(&self) {
        self.shared.close();
    }

    /// [Closes](Self::close) the batcher and waits until every item accepted earlier has been
    /// flushed and its ticket resolved (or, after an [`abort`](Self::abort), handed back). It
    /// waits as long as the flushes take and never aborts one;
    /// [`shutdown`](Self::shutdown) bounds the wait.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future does not undo the close, and the flushes go on; call
    /// `drain` again to wait for them.
    pub async fn drain(&self) {
        self.shared.close();
        self.shared.drained.cancelled().await;
    }

    /// [Closes](Self::close) the batcher and waits up to `grace` for it to drain, as
    /// [`drain`](Self::drain) does; then [aborts](Self::abort) what is left: flushes in progress
    /// are cancelled (their tickets resolve to
    /// [`BatchError::Aborted`](crate::BatchError::Aborted)) and the items never handed to the
    /// handler are handed back in the [`ShutdownReport`] (their tickets resolve to
    /// [`BatchError::Unflushed`](crate::BatchError::Unflushed)). Every ticket has resolved when
    /// this returns; [`ShutdownReport::is_clean`] says whether anything was cut short.
    ///
    /// A handler that blocks its thread instead of awaiting cannot be cancelled: keep blocking
    /// work in `spawn_blocking`. If the runtime already shut down under the batcher, this
    /// returns at once with what it could not flush.
    ///
    /// # Panics
    ///
    /// If the grace period has to be timed (the batcher is still draining) in a runtime without
    /// the time driver (build it with `enable_time()` or `enable_all()`).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future during the grace period leaves the batcher closed and draining, as
    /// [`drain`](Self::drain) does; once the grace period is over, the abort has begun and
    /// finishes regardless, and the unflushed items wait for the next call (or
    /// [`abort`](Self::abort)) to hand them back.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport<T> {
        self.shared.close();
        if !self.shared.drained.is_cancelled()
            && tokio::time::timeout(grace, self.shared.drained.cancelled())
                .await
                .is_err()
        {
            self.shared.abort("shutdown grace period ended");
            self.shared.drained.cancelled().await;
        }
        self.shared.report()
    }

    /// The hard stop: stops intake, cancels the flushes in progress now, and discards every
    /// item not yet handed to the handler. Returns at once, with the discarded items in
    /// acceptance order (drop them to throw them away).
    ///
    /// Nothing ends silently: the tickets of the discarded items resolve to
    /// [`BatchError::Unflushed`](crate::BatchError::Unflushed), those of the cancelled flushes
    /// to [`BatchError::Aborted`](crate::BatchError::Aborted) (as soon as the flush task has
    /// dropped them); they are counted in [`Metrics::items_unflushed`] and
    /// [`Metrics::batches_aborted`]/[`items_aborted`](Metrics::items_aborted), and a `warn`
    /// event is logged. Producers waiting for space get their item back in [`Closed`]. Await
    /// [`drain`](Self::drain) to know when the cancelled flushes are gone. Whether a cancelled
    /// flush took effect downstream is unknown.
    pub fn abort(&self) -> Vec<T> {
        self.shared.abort("abort() called");
        self.shared.take_unflushed_items()
    }

    /// A [`Sink`](futures_sink::Sink) feeding this batcher, with backpressure:
    /// `stream.forward(batcher.sink())` submits every item of `stream` (fire-and-forget, like
    /// [`push`](Self::push)) and, at the end, closes the batcher and waits until it has
    /// drained. See [`BatcherSink`] for what each `Sink` method means here.
    ///
    /// The sink is a handle of its own (like a clone), because waiting for space needs state
    /// that a shared `&Batcher` cannot hold.
    pub fn sink(&self) -> BatcherSink<T, R, E> {
        BatcherSink::new(self.clone())
    }

    /// Whether the batcher has stopped accepting items ([`close`](Self::close) or anything
    /// that closes it).
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// A snapshot of the batcher's counters.
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }
}

impl<T, R, E> Batcher<T, R, E> {
    pub(crate) fn from_shared(shared: Arc<Shared<T, R, E>>) -> Self {
        Self { shared }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<T, R, E>> {
        &self.shared
    }
}

impl<T, R, E> Clone for Batcher<T, R, E> {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T, R, E> Drop for Batcher<T, R, E> {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

impl<T, R, E> fmt::Debug for Batcher<T, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Batcher")
            .field("limits", &self.shared.settings.limits)
            .field("buffered_items", &state.buffered_items)
            .field("flushing", &state.flushing)
            .field("closed", &state.closed)
            .finish_non_exhaustive()
    }
}
