//! Publishing from a stream: [`PublishSink`], a `futures` [`Sink`] over [`Bus::publish`].

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_sink::Sink;

use crate::Bus;
use crate::error::PublishError;
use crate::registry::{Outcome, WaitTicket};

/// A [`Sink`] that publishes every item to one subject; created by [`Bus::sink`].
///
/// | `Sink` method | on the bus |
/// |---|---|
/// | `poll_ready` | ready when the previous item has been published: it waits, as [`Bus::publish`] does, while a matching [`LagPolicy::Block`](crate::LagPolicy::Block) subscription is full. At most one item waits in the sink, never an unbounded queue |
/// | `start_send` | publishes the item at once if every blocking subscription has room, otherwise keeps it until there is |
/// | `poll_flush` | waits until the item kept by `start_send` is published |
/// | `poll_close` | flushes, then ends **this sink**; the bus stays open (call [`Bus::close`] for that). Later items are refused with [`PublishError::Closed`] |
///
/// `start_send` without a ready `poll_ready` first (an item still waiting) hands the new item
/// back in [`PublishError::Closed`] rather than queue it. Dropping the sink with an item
/// still waiting drops that item and logs a `warn` event: flush or close it first.
///
/// Errors hand the item back: [`PublishError::Closed`] once the bus is closed (or this sink
/// is), [`PublishError::InvalidSubject`] if the subject is not a valid publish subject.
/// Deliveries refused to full drop-newest subscriptions are counted in
/// [`Metrics::refused`](crate::Metrics::refused) and reported to those subscribers, as for
/// [`Bus::publish`].
pub struct PublishSink<T> {
    bus: Bus<T>,
    subject: Box<str>,
    /// The item `start_send` could not publish yet.
    pending: Option<T>,
    /// Its place among the publishers waiting for room.
    ticket: WaitTicket<T>,
    closed: bool,
}

impl<T: Clone + Send + Sync + 'static> PublishSink<T> {
    pub(crate) fn new(bus: Bus<T>, subject: &str) -> Self {
        Self {
            bus,
            subject: subject.into(),
            pending: None,
            ticket: None,
            closed: false,
        }
    }

    /// The subject this sink publishes to.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Tries to publish the kept item, registering `waker` if it must wait.
    fn push(&mut self, waker: &Waker) -> Poll<Result<(), PublishError<T>>> {
        let Some(msg) = self.pending.take() else {
            return Poll::Ready(Ok(()));
        };
        match self
            .bus
            .shared()
            .deliver(&self.subject, msg, Some((waker, &mut self.ticket)))
        {
            Outcome::Done(result) => {
                self.ticket = None;
                Poll::Ready(result.map(drop))
            }
            Outcome::Wait(msg) => {
                self.pending = Some(msg);
                Poll::Pending
            }
        }
    }
}

// Nothing is pinned structurally: the kept item is moved freely.
impl<T> Unpin for PublishSink<T> {}

impl<T: Clone + Send + Sync + 'static> Sink<T> for PublishSink<T> {
    type Error = PublishError<T>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().push(cx.waker())
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        let this = self.get_mut();
        if this.closed {
            return Err(PublishError::Closed(item));
        }
        if this.pending.is_some() {
            // `start_send` without a successful `poll_ready` first: keep the earlier item
            // (so order holds) and hand the new one back rather than queueing it.
            return Err(PublishError::Closed(item));
        }
        this.pending = Some(item);
        // Publish now if there is room; otherwise `poll_ready`/`poll_flush` finish it. The
        // no-op waker is replaced at the same place by the next poll's.
        match this.push(Waker::noop()) {
            Poll::Ready(result) => result,
            Poll::Pending => Ok(()),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().push(cx.waker())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        let flushed = this.push(cx.waker());
        if flushed.is_ready() && !this.closed {
            this.closed = true;
            tracing::debug!(subject = %this.subject, "bus publish sink closed");
        }
        flushed
    }
}

impl<T> Drop for PublishSink<T> {
    fn drop(&mut self) {
        if self.pending.is_some() {
            // Accepted by `start_send` but never flushed: say so rather than lose it quietly.
            tracing::warn!(
                subject = %self.subject,
                "bus publish sink dropped with an unpublished item; flush or close it first"
            );
        }
    }
}

impl<T> fmt::Debug for PublishSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishSink")
            .field("subject", &self.subject)
            .field("pending", &self.pending.is_some())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}
