//! [`TimeoutEach`]: a `TimedOut` whenever an item is late, and carry on.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::time::Instant;

use super::Timer;
use crate::error::TimedOut;

pin_project_lite::pin_project! {
    /// The stream returned by [`StreamOps::timeout_each`](super::StreamOps::timeout_each).
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct TimeoutEach<S> {
        #[pin]
        stream: S,
        after: Duration,
        deadline: Option<Instant>,
        timer: Timer,
    }
}

impl<S: Stream> TimeoutEach<S> {
    pub(super) fn new(stream: S, after: Duration) -> Self {
        Self {
            stream,
            after,
            deadline: None,
            timer: Timer::default(),
        }
    }
}

impl<S: Stream> Stream for TimeoutEach<S> {
    type Item = Result<S::Item, TimedOut>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let after = *this.after;
        let deadline = *this.deadline.get_or_insert_with(|| Instant::now() + after);
        match this.stream.poll_next(cx) {
            Poll::Ready(Some(item)) => {
                *this.deadline = Some(Instant::now() + after);
                Poll::Ready(Some(Ok(item)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                std::task::ready!(this.timer.poll_until(deadline, cx));
                *this.deadline = Some(Instant::now() + after);
                Poll::Ready(Some(Err(TimedOut { after })))
            }
        }
    }
}
