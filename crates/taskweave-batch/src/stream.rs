//! `stream.batched(limits)`: the batcher's size, delay and weight rules for a `Stream`.

use std::fmt;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_core::stream::FusedStream;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::limits::Limits;

/// Adds [`batched`](BatchedExt::batched) to every [`Stream`].
pub trait BatchedExt: Stream + Sized {
    /// Groups the stream's items into `Vec`s cut by `limits`, exactly as a
    /// [`Batcher`](crate::Batcher) cuts them: at `max_items`, `max_delay` after the batch's
    /// first item arrived (only while the inner stream has nothing ready), or at `max_weight`
    /// (an item that would push the batch over starts the next one; an item heavier than the
    /// limit on its own travels alone). The partial batch is yielded when the inner stream ends.
    /// Never yields an empty `Vec`.
    ///
    /// The delay timer needs a Tokio runtime with the time driver when the stream is polled.
    fn batched(self, limits: Limits<Self::Item>) -> Batched<Self> {
        Batched {
            stream: self,
            limits,
            items: Vec::new(),
            weight: 0,
            carry: None,
            timer: None,
            deadline: None,
            done: false,
        }
    }
}

impl<S: Stream> BatchedExt for S {}

pin_project! {
    /// The stream returned by [`BatchedExt::batched`].
    #[must_use = "streams do nothing unless polled"]
    pub struct Batched<S: Stream> {
        #[pin]
        stream: S,
        limits: Limits<S::Item>,
        items: Vec<S::Item>,
        weight: u64,
        // An item that did not fit the previous batch's weight, with its weight.
        carry: Option<(S::Item, u64)>,
        // Allocated once, on the first item, and reset for every batch after.
        timer: Option<Pin<Box<Sleep>>>,
        deadline: Option<Instant>,
        done: bool,
    }
}

impl<S: Stream> Batched<S> {
    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Unwraps the stream, dropping any partial batch.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: Stream> Stream for Batched<S> {
    type Item = Vec<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        let max_weight = this.limits.max_weight();
        loop {
            if let Some((item, weight)) = this.carry.take() {
                start_or_add(
                    this.items,
                    this.weight,
                    this.deadline,
                    this.limits,
                    item,
                    weight,
                );
                if max_weight.is_some_and(|max| *this.weight >= max) {
                    return Poll::Ready(Some(take(this.items, this.weight, this.deadline)));
                }
            }
            if *this.done {
                return Poll::Ready(
                    (!this.items.is_empty()).then(|| take(this.items, this.weight, this.deadline)),
                );
            }
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    let weight = this.limits.weigh(&item);
                    if let Some(max) = max_weight {
                        if !this.items.is_empty() && this.weight.saturating_add(weight) > max {
                            *this.carry = Some((item, weight));
                            return Poll::Ready(Some(take(this.items, this.weight, this.deadline)));
                        }
                    }
                    start_or_add(
                        this.items,
                        this.weight,
                        this.deadline,
                        this.limits,
                        item,
                        weight,
                    );
                    if this.items.len() >= this.limits.max_items
                        || max_weight.is_some_and(|max| *this.weight >= max)
                    {
                        return Poll::Ready(Some(take(this.items, this.weight, this.deadline)));
                    }
                }
                Poll::Ready(None) => *this.done = true,
                Poll::Pending => {
                    let Some(deadline) = *this.deadline else {
                        return Poll::Pending;
                    };
                    let timer = match this.timer {
                        Some(timer) => {
                            if timer.deadline() != deadline {
                                timer.as_mut().reset(deadline);
                            }
                            timer
                        }
                        None => this
                            .timer
                            .insert(Box::pin(tokio::time::sleep_until(deadline))),
                    };
                    return match timer.as_mut().poll(cx) {
                        Poll::Ready(()) => {
                            Poll::Ready(Some(take(this.items, this.weight, this.deadline)))
                        }
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let buffered = self.items.len() + usize::from(self.carry.is_some());
        if self.done {
            let left = usize::from(buffered > 0);
            return (left, Some(left));
        }
        // At least one batch if anything is buffered or coming; at most one per item.
        let (low, high) = self.stream.size_hint();
        let low = usize::from(buffered > 0 || low > 0);
        (low, high.and_then(|high| high.checked_add(buffered)))
    }
}

impl<S: Stream> FusedStream for Batched<S> {
    fn is_terminated(&self) -> bool {
        self.done && self.items.is_empty() && self.carry.is_none()
    }
}

impl<S: Stream + fmt::Debug> fmt::Debug for Batched<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batched")
            .field("stream", &self.stream)
            .field("limits", &self.limits)
            .field("buffered", &self.items.len())
            .field("weight", &self.weight)
            .finish_non_exhaustive()
    }
}

fn start_or_add<T>(
    items: &mut Vec<T>,
    weight: &mut u64,
    deadline: &mut Option<Instant>,
    limits: &Limits<T>,
    item: T,
    item_weight: u64,
) {
    if items.is_empty() {
        // A delay too long to represent (`Duration::MAX`) means: never by age.
        *deadline = Instant::now().checked_add(limits.max_delay);
    }
    items.push(item);
    *weight = weight.saturating_add(item_weight);
}

fn take<T>(items: &mut Vec<T>, weight: &mut u64, deadline: &mut Option<Instant>) -> Vec<T> {
    *weight = 0;
    *deadline = None;
    mem::take(items)
}
