//! [`Sample`]: the latest item at each tick of a period.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::time::Instant;

use super::Timer;

pin_project_lite::pin_project! {
    /// The stream returned by [`StreamOps::sample`](super::StreamOps::sample).
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct Sample<S: Stream> {
        #[pin]
        stream: S,
        period: Duration,
        next_tick: Option<Instant>,
        latest: Option<S::Item>,
        timer: Timer,
        dropped: u64,
        done: bool,
    }
}

impl<S: Stream> Sample<S> {
    pub(super) fn new(stream: S, period: Duration) -> Self {
        Self {
            stream,
            period,
            next_tick: None,
            latest: None,
            timer: Timer::default(),
            dropped: 0,
            done: false,
        }
    }

    /// Items replaced by a later one within the same period.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl<S: Stream> Stream for Sample<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        let period = *this.period;
        // Ticks fall every `period` from the first poll, whether or not items come.
        let first = *this
            .next_tick
            .get_or_insert_with(|| Instant::now() + period);
        while !*this.done {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    if this.latest.replace(item).is_some() {
                        *this.dropped += 1;
                    } else {
                        // The first item since the last emission waits for the next tick.
                        *this.next_tick = Some(next_tick_after(first, period, Instant::now()));
                    }
                }
                Poll::Ready(None) => *this.done = true,
                Poll::Pending => break,
            }
        }
        if *this.done || this.latest.is_none() || period.is_zero() {
            // At the end, the pending item goes at once; with nothing pending, an item wakes us.
            return match this.latest.take() {
                Some(item) => Poll::Ready(Some(item)),
                None if *this.done => Poll::Ready(None),
                None => Poll::Pending,
            };
        }
        let tick = this.next_tick.unwrap_or(first);
        std::task::ready!(this.timer.poll_until(tick, cx));
        *this.next_tick = Some(tick + period);
        Poll::Ready(this.latest.take())
    }
}

/// The first tick of the series `tick + k * period` (k >= 0) that is after `now`.
fn next_tick_after(tick: Instant, period: Duration, now: Instant) -> Instant {
    if now < tick || period.is_zero() {
        return tick;
    }
    let behind = now.duration_since(tick).as_nanos();
    let k = behind / period.as_nanos() + 1;
    let k = u32::try_from(k).unwrap_or(u32::MAX);
    tick + period.saturating_mul(k)
}
