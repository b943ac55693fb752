//! [`Debounce`]: trailing-edge debounce with an optional `max_wait`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::time::Instant;

use super::Timer;

pin_project_lite::pin_project! {
    /// The stream returned by [`StreamOps::debounce`](super::StreamOps::debounce).
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct Debounce<S: Stream> {
        #[pin]
        stream: S,
        quiet: Duration,
        max_wait: Option<Duration>,
        pending: Option<S::Item>,
        deadline: Instant,
        burst_deadline: Option<Instant>,
        timer: Timer,
        dropped: u64,
        done: bool,
    }
}

impl<S: Stream> Debounce<S> {
    pub(super) fn new(stream: S, quiet: Duration, max_wait: Option<Duration>) -> Self {
        Self {
            stream,
            quiet,
            max_wait,
            pending: None,
            deadline: Instant::now(),
            burst_deadline: None,
            timer: Timer::default(),
            dropped: 0,
            done: false,
        }
    }

    /// Items replaced by a later one before they could be emitted.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl<S: Stream> Stream for Debounce<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        while !*this.done {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    let now = Instant::now();
                    if this.pending.replace(item).is_some() {
                        *this.dropped += 1;
                    } else {
                        *this.burst_deadline = this.max_wait.map(|w| now + w);
                    }
                    *this.deadline = now + *this.quiet;
                }
                Poll::Ready(None) => *this.done = true,
                Poll::Pending => break,
            }
        }
        if *this.done {
            return Poll::Ready(this.pending.take());
        }
        if this.pending.is_none() {
            return Poll::Pending;
        }
        let deadline = match *this.burst_deadline {
            Some(burst) => burst.min(*this.deadline),
            None => *this.deadline,
        };
        std::task::ready!(this.timer.poll_until(deadline, cx));
        Poll::Ready(this.pending.take())
    }
}
