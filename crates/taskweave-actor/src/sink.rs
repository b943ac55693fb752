//! [`TellSink`]: an actor's mailbox as a [`Sink`], for `stream.forward(actor.sink())`.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_sink::Sink;
use tokio_util::sync::PollSender;

use crate::shared::Shared;
use crate::{Actor, ActorRef, TryTellError};

/// A [`Sink`] that tells each item to an actor, from [`ActorRef::sink`].
///
/// [`poll_ready`](Sink::poll_ready) waits for mailbox space, as [`tell`](ActorRef::tell) does,
/// so a stream forwarded into it is slowed down to the actor's pace, and items arrive in order.
/// Nothing is lost: an item the actor refuses comes back in the error of
/// [`start_send`](Sink::start_send) — [`TryTellError::Closed`] once the actor is closed, or
/// [`TryTellError::Full`] if `start_send` was called without a successful `poll_ready` and the
/// mailbox had no room. `poll_flush` has nothing to do: an item sent is in the mailbox.
///
/// [`poll_close`](Sink::poll_close) ends the sink, not the actor: it releases the sink's hold
/// on the actor (and any mailbox slot it had reserved), exactly like dropping an
/// [`ActorRef`]. The actor keeps running while other handles exist.
pub struct TellSink<A: Actor> {
    sender: PollSender<A::Message>,
    shared: Arc<Shared>,
    /// `poll_ready` reserved a mailbox slot that `start_send` has not used yet.
    reserved: bool,
}

impl<A: Actor> TellSink<A> {
    pub(crate) fn new(actor: &ActorRef<A>) -> Self {
        Self {
            sender: PollSender::new(actor.tx.clone()),
            shared: Arc::clone(&actor.shared),
            reserved: false,
        }
    }
}

impl<A: Actor> Sink<A::Message> for TellSink<A> {
    type Error = TryTellError<A::Message>;

    /// Waits for a mailbox slot. Ready with `Ok` also once the actor is closed: the next
    /// `start_send` then hands its item back in `Closed`, so no item is ever lost in this step.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        if this.reserved {
            return Poll::Ready(Ok(()));
        }
        // As `tell`: a closed actor is refused on one atomic load, before a slot is taken.
        if this.shared.refusing() {
            this.sender.abort_send();
            return Poll::Ready(Ok(()));
        }
        match this.sender.poll_reserve(cx) {
            Poll::Ready(Ok(())) => {
                this.reserved = true;
                Poll::Ready(Ok(()))
            }
            // The mailbox is closed (the actor is exiting) or the sink was closed.
            Poll::Ready(Err(_)) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn start_send(self: Pin<&mut Self>, item: A::Message) -> Result<(), Self::Error> {
        let this = self.get_mut();
        if !std::mem::take(&mut this.reserved) {
            // No slot reserved: the actor is closed, or `poll_ready` was skipped.
            if this.shared.refusing() {
                return Err(TryTellError::Closed(item));
            }
            return match this.sender.get_ref() {
                Some(sender) => sender.try_send(item).map_err(|refused| match refused {
                    tokio::sync::mpsc::error::TrySendError::Full(m) => TryTellError::Full(m),
                    tokio::sync::mpsc::error::TrySendError::Closed(m) => TryTellError::Closed(m),
                }),
                None => Err(TryTellError::Closed(item)),
            };
        }
        // A slot taken before a close is honoured, as for `tell`: a graceful close waits for it.
        this.sender
            .send_item(item)
            .map_err(|refused| match refused.into_inner() {
                Some(item) => TryTellError::Closed(item),
                // `send_item` hands the item back on every error; keep the contract regardless.
                None => unreachable!("PollSender::send_item returns the item with its error"),
            })
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        this.reserved = false;
        this.sender.abort_send();
        this.sender.close();
        Poll::Ready(Ok(()))
    }
}

impl<A: Actor> fmt::Debug for TellSink<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TellSink")
            .field("name", &self.shared.name)
            .field("id", &self.shared.id)
            .field("closed", &self.sender.is_closed())
            .finish()
    }
}
