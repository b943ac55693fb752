//! The items a stage is working on: in input order or in completion order.
//!
//! Small concurrencies (the common case) use a fixed set of reusable slots, so an item costs no
//! allocation; larger ones use `FuturesOrdered`/`FuturesUnordered`, which poll only the futures
//! that were woken.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::{FuturesOrdered, FuturesUnordered, Stream, StreamExt};

/// Up to this concurrency, a stage polls its slots in turn instead of keeping a task per item.
const MAX_SLOTS: usize = 16;

pub(crate) enum InFlight<F: Future> {
    Slots(Slots<F>),
    Ordered(FuturesOrdered<F>),
    Unordered(FuturesUnordered<F>),
}

impl<F: Future> InFlight<F> {
    pub(crate) fn new(concurrency: usize, ordered: bool) -> Self {
        if concurrency <= MAX_SLOTS {
            Self::Slots(Slots::new(concurrency, ordered))
        } else if ordered {
            Self::Ordered(FuturesOrdered::new())
        } else {
            Self::Unordered(FuturesUnordered::new())
        }
    }

    /// Adds a future; the caller keeps `len()` below the concurrency given to `new`.
    pub(crate) fn push(&mut self, fut: F) {
        match self {
            Self::Slots(s) => s.push(fut),
            Self::Ordered(q) => q.push_back(fut),
            Self::Unordered(q) => q.push(fut),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Slots(s) => s.len,
            Self::Ordered(q) => q.len(),
            Self::Unordered(q) => q.len(),
        }
    }
}

impl<F: Future> Stream for InFlight<F> {
    type Item = F::Output;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        // Every variant is Unpin: the futures themselves are boxed or owned by the queues.
        match self.get_mut() {
            Self::Slots(s) => s.poll_next(cx),
            Self::Ordered(q) => q.poll_next_unpin(cx),
            Self::Unordered(q) => q.poll_next_unpin(cx),
        }
    }
}

/// One reusable slot: a pinned place for a future (replaced in place with `Pin::set`), its
/// output once finished, and its position in input order.
struct Slot<F: Future> {
    future: Pin<Box<Option<F>>>,
    output: Option<F::Output>,
    seq: u64,
}

pub(crate) struct Slots<F: Future> {
    slots: Vec<Slot<F>>,
    len: usize,
    ordered: bool,
    next_seq: u64,
    next_out: u64,
}

// The futures are pinned in their boxes; outputs and bookkeeping are only ever moved.
impl<F: Future> Unpin for Slots<F> {}

impl<F: Future> Slots<F> {
    fn new(concurrency: usize, ordered: bool) -> Self {
        let slots = (0..concurrency)
            .map(|_| Slot {
                future: Box::pin(None),
                output: None,
                seq: 0,
            })
            .collect();
        Self {
            slots,
            len: 0,
            ordered,
            next_seq: 0,
            next_out: 0,
        }
    }

    fn push(&mut self, fut: F) {
        let free = self
            .slots
            .iter_mut()
            .find(|s| s.future.is_none() && s.output.is_none());
        if let Some(slot) = free {
            slot.future.set(Some(fut));
            slot.seq = self.next_seq;
            self.next_seq += 1;
            self.len += 1;
        }
    }

    /// The finished output to hand out next, if there is one.
    fn take_ready(&mut self) -> Option<F::Output> {
        let next_out = self.next_out;
        let ordered = self.ordered;
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.output.is_some() && (!ordered || s.seq == next_out))?;
        self.len -= 1;
        self.next_out += 1;
        slot.output.take()
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        if let Some(out) = self.take_ready() {
            return Poll::Ready(Some(out));
        }
        if self.len == 0 {
            return Poll::Ready(None);
        }
        for slot in &mut self.slots {
            let Some(fut) = slot.future.as_mut().as_pin_mut() else {
                continue;
            };
            if let Poll::Ready(out) = fut.poll(cx) {
                slot.future.set(None);
                slot.output = Some(out);
            }
        }
        match self.take_ready() {
            Some(out) => Poll::Ready(Some(out)),
            None => Poll::Pending,
        }
    }
}
