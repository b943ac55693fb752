//! Time-based stream operators: [`debounce`](StreamOps::debounce),
//! [`throttle`](StreamOps::throttle), [`sample`](StreamOps::sample),
//! [`timeout_each`](StreamOps::timeout_each) and [`batch`](StreamOps::batch).
//!
//! All of them read Tokio's clock, so they follow paused time in tests, and must be polled
//! inside a Tokio runtime. The lossy ones (debounce, throttle, sample) count what they leave
//! out: `dropped()` on each adapter.

mod batch;
mod debounce;
mod sample;
mod throttle;
mod timeout;

use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use tokio::time::{Instant, Sleep};

pub use batch::{Batch, MAX_BATCH_ITEMS};
pub use debounce::Debounce;
pub use sample::Sample;
pub use throttle::{Edge, Throttle};
pub use timeout::TimeoutEach;

/// A timer created on first use (so an adapter can be built outside a runtime) and re-armed
/// lazily: moving its deadline later costs nothing until it fires.
#[derive(Debug, Default)]
pub(crate) struct Timer {
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Timer {
    /// Polls for `deadline`, re-arming the timer when it fires early for a moved deadline.
    pub(crate) fn poll_until(
        &mut self,
        deadline: Instant,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() > deadline {
            sleep.as_mut().reset(deadline);
        }
        loop {
            std::task::ready!(sleep.as_mut().poll(cx));
            if sleep.deadline() >= deadline {
                return std::task::Poll::Ready(());
            }
            sleep.as_mut().reset(deadline);
        }
    }
}

use std::future::Future as _;

/// The operators, on every `Stream`.
pub trait StreamOps: Stream + Sized {
    /// Trailing-edge debounce: emits the latest item once `quiet` has passed without a new
    /// one; with `max_wait`, also once `max_wait` has passed since the first item of a burst
    /// (lodash's `maxWait`), so a never-ending burst still emits. The item pending when the
    /// stream ends is emitted at once. Replaced items are counted in [`Debounce::dropped`].
    fn debounce(self, quiet: Duration, max_wait: Option<Duration>) -> Debounce<Self> {
        Debounce::new(self, quiet, max_wait)
    }

    /// Emits at most one item per `period`: the first of a window ([`Edge::Leading`]), the
    /// last of it at its end ([`Edge::Trailing`]), or both ([`Edge::Both`]). Left-out items
    /// are counted in [`Throttle::dropped`].
    fn throttle(self, period: Duration, edge: Edge) -> Throttle<Self> {
        Throttle::new(self, period, edge)
    }

    /// Emits the latest item at each tick of `period`, if a new one arrived since the last
    /// tick; the one pending at the end of the stream is emitted at once. Left-out items are
    /// counted in [`Sample::dropped`].
    fn sample(self, period: Duration) -> Sample<Self> {
        Sample::new(self, period)
    }

    /// Yields `Err(TimedOut)` whenever `after` passes without an item (counted from the start
    /// or from the previous item or timeout), and carries on.
    fn timeout_each(self, after: Duration) -> TimeoutEach<Self> {
        TimeoutEach::new(self, after)
    }

    /// Groups items into `Vec`s of up to `max_items` (clamped to 1..=[`MAX_BATCH_ITEMS`]),
    /// emitting a partial batch once its oldest item has waited `max_delay`, and the rest when
    /// the stream ends.
    fn batch(self, max_items: usize, max_delay: Duration) -> Batch<Self> {
        Batch::new(self, max_items, max_delay)
    }
}

impl<S: Stream> StreamOps for S {}
