//! The receiving side: a subscription and its builder.

use crate::loom::Ordering;
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::bus::{Filter, Shared};
use crate::error::{Lagged, RecvError, SubscribeError, TryRecvError};
use crate::ring::{Member, Read, Ring};
use crate::{Bus, LagPolicy, Pattern, SubscriberId, SubscriberStats};

/// Empty polls a subscription answers with a yield before it parks; see `poll_recv`.
const YIELDS_BEFORE_PARKING: u32 = 4;

/// Configures a subscription; created by [`Bus::subscription`].
pub struct SubscriptionBuilder<'a, T> {
    bus: &'a Bus<T>,
    pattern: &'a str,
    policy: LagPolicy,
    capacity: Option<NonZeroUsize>,
    filter: Option<Filter<T>>,
    replay: usize,
}

impl<T> fmt::Debug for SubscriptionBuilder<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionBuilder")
            .field("pattern", &self.pattern)
            .field("policy", &self.policy)
            .field("capacity", &self.capacity)
            .field("filter", &self.filter.is_some())
            .field("replay", &self.replay)
            .finish()
    }
}

impl<'a, T: Clone + Send + Sync + 'static> SubscriptionBuilder<'a, T> {
    pub(crate) fn new(bus: &'a Bus<T>, pattern: &'a str) -> Self {
        Self {
            bus,
            pattern,
            policy: LagPolicy::default(),
            capacity: None,
            filter: None,
            replay: 0,
        }
    }

    /// What to do when this subscription's buffer is full. Default: [`LagPolicy::DropOldest`].
    pub fn lag_policy(mut self, policy: LagPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How many messages may wait for this subscription in the bus. Default: the bus's
    /// [`capacity`](crate::BusBuilder::capacity).
    pub fn capacity(mut self, capacity: NonZeroUsize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Only receive messages for which `keep` returns `true`. The publisher runs it once per
    /// matching message (again if a blocking publish had to wait and retries), so keep it
    /// cheap, and do not publish or subscribe from inside it. Messages filtered out are not
    /// counted as missed.
    pub fn filter(mut self, keep: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Box::new(keep));
        self
    }

    /// First receive the last `per_subject` retained messages of every subject matching the
    /// pattern, in publish order, then live messages, with no gap and no duplicate between
    /// them. Needs [`BusBuilder::retain_last`](crate::BusBuilder::retain_last) of at least
    /// `per_subject`. Replayed messages do not count against the buffer. Default: 0.
    pub fn replay(mut self, per_subject: usize) -> Self {
        self.replay = per_subject;
        self
    }

    /// Creates the subscription.
    ///
    /// # Errors
    ///
    /// [`SubscribeError::InvalidPattern`] for a malformed pattern,
    /// [`SubscribeError::ReplayExceedsRetention`] if the bus does not keep enough history,
    /// [`SubscribeError::Closed`] if the bus is closed.
    pub fn build(self) -> Result<Subscription<T>, SubscribeError> {
        let pattern = Pattern::parse(self.pattern)?;
        let shared = Arc::clone(self.bus.shared());
        let capacity = self.capacity.unwrap_or(shared.default_capacity()).get();
        let registration =
            shared.register(pattern, self.policy, capacity, self.filter, self.replay)?;
        Ok(Subscription {
            shared,
            ring: registration.ring,
            member: registration.member,
            group: registration.group,
            next: registration.next,
            received: 0,
            taken: VecDeque::from(registration.replay),
            ended: false,
            idle_polls: 0,
            lagging: false,
            checked: registration.next,
            checkpoint: Ring::<T>::check_interval(capacity),
        })
    }
}

/// Receives the messages published to subjects matching one pattern.
///
/// Receive with [`recv`](Self::recv), or use it as a [`Stream`] of `Result<T, Lagged>` that
/// ends when the bus is closed and everything queued has been received. Dropping the
/// subscription unsubscribes it.
pub struct Subscription<T> {
    shared: Arc<Shared<T>>,
    ring: Arc<Ring<T>>,
    member: Arc<Member>,
    group: u32,
    /// Sequence number of the next message to read from the ring.
    next: u64,
    received: u64,
    /// Messages to hand out before reading the ring: the replay, or a message read just
    /// before the report of a gap that precedes it.
    taken: VecDeque<T>,
    /// The stream has yielded `None`.
    ended: bool,
    /// Consecutive polls that found nothing; see `poll_recv`.
    idle_polls: u32,
    /// Whether the current lag episode has been logged.
    lagging: bool,
    /// The cursor a waiting publisher was last checked against (blocking policy).
    checked: u64,
    /// How many messages between such checks.
    checkpoint: u64,
}

impl<T: Clone> Subscription<T> {
    /// Receives the next message.
    ///
    /// # Errors
    ///
    /// [`RecvError::Lagged`] when messages were dropped at this point of the stream because
    /// the subscription fell behind (receiving continues after it), and [`RecvError::Closed`]
    /// once the bus is closed and everything queued has been received.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a message is only taken when it is returned, so using `recv` in
    /// `tokio::select!` loses nothing.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Takes the next message if one is queued, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] when nothing is queued; otherwise as [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.next_ready(None) {
            Some(Ok(msg)) => Ok(msg),
            Some(Err(RecvError::Lagged(n))) => Err(TryRecvError::Lagged(n)),
            Some(Err(RecvError::Closed)) => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Polls for the next message; the building block of [`recv`](Self::recv) and of the
    /// [`Stream`] implementation.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let yielding = self.idle_polls < YIELDS_BEFORE_PARKING;
        if let Some(ready) = self.next_ready((!yielding).then_some(cx.waker())) {
            self.idle_polls = 0;
            return Poll::Ready(ready);
        }
        if yielding {
            // Yield before parking: under load the publisher refills the ring while the other
            // tasks on this worker run, so the subscriber reads a batch instead of being woken
            // (often through a cross-thread unpark) for every single message.
            self.idle_polls += 1;
            cx.waker().wake_by_ref();
        }
        // Otherwise parked: the ring holds our waker.
        Poll::Pending
    }

    /// The next message or error if one is ready; otherwise parks `waker` (if given) and
    /// returns `None`.
    fn next_ready(&mut self, waker: Option<&Waker>) -> Option<Result<T, RecvError>>
    where
        T: Clone,
    {
        if let Some(msg) = self.taken.pop_front() {
            return Some(Ok(msg));
        }
        loop {
            if let Some(missed) = self.member.take_gap(self.next) {
                return Some(Err(self.lagged(missed)));
            }
            // Closed is read before the slot: once closed, nothing more is written.
            let closed = self.ring.is_closed();
            match self.ring.read(self.next) {
                Read::Message(msg) => {
                    let seq = self.next;
                    self.advance(seq + 1);
                    self.received += 1;
                    self.member.received.store(self.received, Ordering::Relaxed);
                    // A message refused to us just before this one was written: the gap
                    // comes first.
                    if let Some(missed) = self.member.take_gap(seq) {
                        self.taken.push_front(msg);
                        return Some(Err(self.lagged(missed)));
                    }
                    return Some(Ok(msg));
                }
                Read::Overrun { resume_at } => {
                    let missed = resume_at - self.next;
                    self.member.dropped.fetch_add(missed, Ordering::Relaxed);
                    self.advance(resume_at);
                    return Some(Err(self.lagged(missed)));
                }
                Read::Empty => {}
            }
            if closed {
                // A refusal recorded before the close may have come after our first look.
                return Some(Err(match self.member.take_gap(self.next) {
                    Some(missed) => self.lagged(missed),
                    None => RecvError::Closed,
                }));
            }
            self.lagging = false;
            if self.member.policy == LagPolicy::Block && self.checked != self.next {
                // Caught up: whatever a publisher waits for, we have reached it.
                self.check_publishers();
            }
            let waker = waker?;
            if !self.ring.park(waker, self.next) {
                return None;
            }
        }
    }

    fn advance(&mut self, to: u64) {
        self.next = to;
        self.member.next.store(to, Ordering::Release);
        // Only blocking groups ever have a publisher waiting on their cursors. Telling it
        // costs a fence, so it is done every `checkpoint` messages, which is finer than what
        // a waiting publisher asks for (see `Ring::publisher_resumes_after`).
        if self.member.policy == LagPolicy::Block && to - self.checked >= self.checkpoint {
            self.check_publishers();
        }
    }

    /// Wakes a publisher waiting for this subscription to reach a cursor it has now reached.
    fn check_publishers(&mut self) {
        let from = std::mem::replace(&mut self.checked, self.next);
        self.ring.cursor_moved(from, self.next);
    }

    fn lagged(&mut self, missed: u64) -> RecvError {
        if !self.lagging {
            self.lagging = true;
            tracing::warn!(
                subscriber = self.member.id.get(),
                pattern = %self.member.pattern,
                policy = %self.member.policy,
                capacity = self.member.capacity,
                missed,
                "bus subscriber lagging: messages addressed to it were dropped"
            );
        } else {
            tracing::debug!(
                subscriber = self.member.id.get(),
                missed,
                "bus subscriber still lagging"
            );
        }
        RecvError::Lagged(missed)
    }

    /// This subscription's id, as used in [`Delivery::refused`](crate::Delivery::refused),
    /// [`SubscriberStats`] and `tracing` events.
    pub fn id(&self) -> SubscriberId {
        self.member.id
    }

    /// The pattern subscribed to.
    pub fn pattern(&self) -> &Pattern {
        &self.member.pattern
    }

    /// The lag policy of this subscription.
    pub fn lag_policy(&self) -> LagPolicy {
        self.member.policy
    }

    /// Whether the bus is closed. Messages may still be queued: keep receiving until
    /// [`RecvError::Closed`].
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed() || self.ring.is_closed()
    }

    /// This subscription's counters.
    pub fn stats(&self) -> SubscriberStats {
        self.member.stats(self.ring.tail())
    }
}

// Nothing is pinned structurally: the message buffer is moved freely.
impl<T> Unpin for Subscription<T> {}

impl<T: Clone> Stream for Subscription<T> {
    type Item = Result<T, Lagged>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match this.poll_recv(cx) {
            Poll::Ready(Ok(msg)) => Poll::Ready(Some(Ok(msg))),
            Poll::Ready(Err(RecvError::Lagged(n))) => Poll::Ready(Some(Err(Lagged(n)))),
            Poll::Ready(Err(RecvError::Closed)) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        self.shared.unregister(self.group, &self.member);
    }
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.member.id)
            .field("pattern", &self.member.pattern)
            .field("policy", &self.member.policy)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}
