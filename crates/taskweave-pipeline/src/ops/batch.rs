//! [`Batch`]: `Vec`s of up to `max_items`, a partial one once its oldest item is `max_delay` old.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::time::Instant;

use super::Timer;

/// The largest `max_items` [`StreamOps::batch`](super::StreamOps::batch) uses; larger values
/// are clamped to it.
pub const MAX_BATCH_ITEMS: usize = 1 << 16;

pin_project_lite::pin_project! {
    /// The stream returned by [`StreamOps::batch`](super::StreamOps::batch).
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct Batch<S: Stream> {
        #[pin]
        stream: S,
        max_items: usize,
        max_delay: Duration,
        items: Vec<S::Item>,
        // When the oldest item of `items` must go.
        due: Option<Instant>,
        timer: Timer,
        done: bool,
    }
}

impl<S: Stream> Batch<S> {
    pub(super) fn new(stream: S, max_items: usize, max_delay: Duration) -> Self {
        Self {
            stream,
            max_items: max_items.clamp(1, MAX_BATCH_ITEMS),
            max_delay,
            items: Vec::new(),
            due: None,
            timer: Timer::default(),
            done: false,
        }
    }
}

impl<S: Stream> Stream for Batch<S> {
    type Item = Vec<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Vec<S::Item>>> {
        let mut this = self.project();
        while !*this.done {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    if this.items.is_empty() {
                        *this.due = Some(Instant::now() + *this.max_delay);
                        this.items.reserve((*this.max_items).min(1_024));
                    }
                    this.items.push(item);
                    if this.items.len() >= *this.max_items {
                        *this.due = None;
                        return Poll::Ready(Some(std::mem::take(this.items)));
                    }
                }
                Poll::Ready(None) => *this.done = true,
                Poll::Pending => break,
            }
        }
        if this.items.is_empty() {
            return if *this.done {
                Poll::Ready(None)
            } else {
                Poll::Pending
            };
        }
        if !*this.done {
            let due = this.due.unwrap_or_else(Instant::now);
            std::task::ready!(this.timer.poll_until(due, cx));
        }
        *this.due = None;
        Poll::Ready(Some(std::mem::take(this.items)))
    }
}
