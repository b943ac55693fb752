//! [`Throttle`]: at most one item per period, from the leading or trailing edge of a window.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::time::Instant;

use super::Timer;

/// Which item of a throttle window is emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Edge {
    /// The first item, at once; the window's other items are left out.
    Leading,
    /// The last item, when the window ends.
    Trailing,
    /// The first at once and, if more came, the last when the window ends.
    Both,
}

impl Edge {
    fn leading(self) -> bool {
        matches!(self, Self::Leading | Self::Both)
    }

    fn trailing(self) -> bool {
        matches!(self, Self::Trailing | Self::Both)
    }
}

pin_project_lite::pin_project! {
    /// The stream returned by [`StreamOps::throttle`](super::StreamOps::throttle).
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct Throttle<S: Stream> {
        #[pin]
        stream: S,
        period: Duration,
        edge: Edge,
        // The end of the current window, if one is open.
        window_end: Option<Instant>,
        pending: Option<S::Item>,
        timer: Timer,
        dropped: u64,
        done: bool,
    }
}

impl<S: Stream> Throttle<S> {
    pub(super) fn new(stream: S, period: Duration, edge: Edge) -> Self {
        Self {
            stream,
            period,
            edge,
            window_end: None,
            pending: None,
            timer: Timer::default(),
            dropped: 0,
            done: false,
        }
    }

    /// Items left out.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl<S: Stream> Stream for Throttle<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        loop {
            // A window that has ended: emit its trailing item (which opens the next window).
            if let Some(end) = *this.window_end {
                if Instant::now() >= end {
                    *this.window_end = None;
                    if let Some(item) = this.pending.take() {
                        *this.window_end = Some(end.max(Instant::now()) + *this.period);
                        return Poll::Ready(Some(item));
                    }
                }
            }
            if *this.done {
                return Poll::Ready(this.pending.take());
            }
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => match *this.window_end {
                    None => {
                        *this.window_end = Some(Instant::now() + *this.period);
                        if this.edge.leading() {
                            return Poll::Ready(Some(item));
                        }
                        *this.pending = Some(item);
                    }
                    Some(_) if this.edge.trailing() => {
                        if this.pending.replace(item).is_some() {
                            *this.dropped += 1;
                        }
                    }
                    Some(_) => *this.dropped += 1,
                },
                Poll::Ready(None) => *this.done = true,
                Poll::Pending => {
                    let Some(end) = *this.window_end else {
                        return Poll::Pending;
                    };
                    if this.pending.is_none() {
                        // Nothing to emit at the window's end: just close it then, lazily.
                        return Poll::Pending;
                    }
                    std::task::ready!(this.timer.poll_until(end, cx));
                }
            }
        }
    }
}
