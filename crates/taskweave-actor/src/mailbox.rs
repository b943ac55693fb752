//! The receiving end of an actor's mailbox, and how it is emptied when the actor exits.
//!
//! Tokio's bounded `Sender::send` takes a slot (a semaphore permit), then pushes the message:
//! two steps, and the sending thread can be preempted between them. Dropping the `Receiver`
//! closes the channel and drops what is queued at that moment; a message pushed afterwards
//! through a slot taken before lands in a channel that nobody receives from and stays there until
//! the last `Sender` is dropped. An `ask` whose request lands there holds a `Sender` itself (its
//! `ActorRef`), so its `Reply` is never dropped and it waits for ever; a `tell`'s message is
//! dropped uncounted.
//!
//! So the receiver is never dropped with a slot taken. On every exit — returned from the event
//! loop, or the task dropped (aborted, runtime shut down) — the mailbox is closed, so that no new
//! slot is granted, and what it holds is discarded and counted. If a slot is still taken then,
//! a background task keeps the receiver and receives until Tokio reports the last slot released
//! (`recv` returns `None`), discarding and counting what lands. The actor's exit does not wait
//! for it: a slot can also be held by a `tell`/`ask` future that was granted it while waiting on
//! a full mailbox and has not been polled since, which only its owner can end (polled after the
//! close it hands its message back in `Closed`; dropped, it drops the message with it).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tracing::Instrument as _;

use crate::shared::Shared;

/// An actor's mailbox receiver, emptied (never just dropped) when the actor exits.
pub(crate) struct Mailbox<M: Send + 'static> {
    /// `None` once emptied.
    rx: Option<mpsc::Receiver<M>>,
    /// Where discards are counted (`Metrics::discarded`).
    shared: Arc<Shared>,
}

impl<M: Send + 'static> Mailbox<M> {
    pub(crate) fn new(rx: mpsc::Receiver<M>, shared: Arc<Shared>) -> Self {
        Self {
            rx: Some(rx),
            shared,
        }
    }

    /// The receiver, for the event loop.
    pub(crate) fn receiver(&mut self) -> &mut mpsc::Receiver<M> {
        match &mut self.rx {
            Some(rx) => rx,
            // `empty` consumes the mailbox, so nothing can ask for the receiver afterwards.
            None => unreachable!("the mailbox is emptied only as the actor exits"),
        }
    }

    /// Closes the mailbox for good and discards what it holds, now and (through a background
    /// task, if a sender still holds a slot) what lands later. Every discard is counted in the
    /// actor's metrics and a `warn!` event; an `ask` among them resolves to `NoReply`.
    pub(crate) fn empty(mut self) {
        if let Some(rx) = self.rx.take() {
            empty(rx, Arc::clone(&self.shared));
        }
    }
}

impl<M: Send + 'static> Drop for Mailbox<M> {
    /// The actor's task was dropped before it returned (aborted, or its runtime shut down).
    fn drop(&mut self) {
        if let Some(rx) = self.rx.take() {
            empty(rx, Arc::clone(&self.shared));
        }
    }
}

fn empty<M: Send + 'static>(mut rx: mpsc::Receiver<M>, shared: Arc<Shared>) {
    rx.close();
    report(&shared, discard_queued(&mut rx));
    if taken_slots(&rx) == 0 {
        // Closed, empty and no slot taken: nothing can land any more.
        return;
    }
    let stragglers = Stragglers {
        rx: Some(rx),
        discarded: 0,
        shared,
    };
    match Handle::try_current() {
        // In the actor's span: that of the current task, or the one entered while an aborted
        // task is dropped. If the runtime is shutting down, the task is dropped at once and
        // `Stragglers::drop` reports what could not be waited for.
        Ok(runtime) => drop(runtime.spawn(stragglers.instrument(tracing::Span::current()))),
        Err(_) => drop(stragglers),
    }
}

/// Takes whatever is queued right now; returns how many messages that was.
fn discard_queued<M>(rx: &mut mpsc::Receiver<M>) -> usize {
    let mut discarded = 0;
    while rx.try_recv().is_ok() {
        discarded += 1;
    }
    discarded
}

/// Slots not free: messages queued plus slots taken by senders that have not pushed yet. Zero on
/// a closed mailbox means that nothing is left and nothing can land.
fn taken_slots<M>(rx: &mpsc::Receiver<M>) -> usize {
    rx.max_capacity() - rx.capacity()
}

/// The one event (and the metric) for accepted messages that were dropped unhandled.
fn report(shared: &Shared, discarded: usize) {
    if discarded > 0 {
        shared.counters.add_discarded(discarded);
        tracing::warn!(
            discarded,
            "actor stopped with messages still queued; they were dropped"
        );
    }
}

/// Receives on a closed mailbox until Tokio reports every slot released, discarding what lands
/// and reporting each batch as it goes.
struct Stragglers<M> {
    /// `None` once finished.
    rx: Option<mpsc::Receiver<M>>,
    discarded: usize,
    shared: Arc<Shared>,
}

impl<M> Future for Stragglers<M> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(rx) = &mut this.rx else {
            return Poll::Ready(());
        };
        loop {
            match rx.poll_recv(cx) {
                Poll::Ready(Some(message)) => {
                    drop(message);
                    this.discarded += 1;
                }
                Poll::Ready(None) => {
                    this.rx = None;
                    report(&this.shared, std::mem::take(&mut this.discarded));
                    return Poll::Ready(());
                }
                Poll::Pending => {
                    report(&this.shared, std::mem::take(&mut this.discarded));
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<M> Drop for Stragglers<M> {
    /// Dropped unfinished: the runtime is shutting down (or there is none), so nothing can wait
    /// for the slots still taken. Discards what has landed and says how many slots are left.
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        report(&self.shared, self.discarded + discard_queued(&mut rx));
        let in_flight = taken_slots(&rx);
        if in_flight > 0 {
            tracing::warn!(
                in_flight,
                "no runtime left to receive sends still in flight to a stopped actor; their \
                 messages are dropped with the actor's last handle"
            );
        }
    }
}

#[cfg(test)]
mod tests;
