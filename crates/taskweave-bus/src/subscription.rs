//! The receiving side: a subscription and its builder.

use crate::loom::{Ordering, store_seq_cst};
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::error::{Lagged, RecvError, SubscribeError, TryRecvError};
use crate::member::{Gap, Member};
use crate::registry::{Filter, Shared};
use crate::ring::{Read, Ring};
use crate::waiters::Ticket;
use crate::{Bus, LagPolicy, Pattern, SubscriberId, SubscriberMetrics};

/// How many times in a row an active subscription yields finding nothing before it parks.
const IDLE_YIELDS: u8 = 4;

/// A message as taken from the bus, with its subject when it was asked for (or was needed).
pub(crate) type Taken<T> = (Option<Arc<str>>, T);

/// Configures a subscription; created by [`Bus::subscription`].
pub struct SubscriptionBuilder<'a, T> {
    bus: &'a Bus<T>,
    pattern: &'a str,
    policy: LagPolicy,
    capacity: Option<usize>,
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

    /// How many messages may wait for this subscription in the bus: at least 1, at most
    /// [`MAX_CAPACITY`](crate::MAX_CAPACITY), checked by [`build`](Self::build). Default: the
    /// bus's [`capacity`](crate::BusBuilder::capacity).
    pub fn capacity(mut self, capacity: usize) -> Self {
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
    /// [`SubscribeError::ZeroCapacity`] for a capacity of 0,
    /// [`SubscribeError::CapacityTooLarge`] for one above
    /// [`MAX_CAPACITY`](crate::MAX_CAPACITY),
    /// [`SubscribeError::ReplayExceedsRetention`] if the bus does not keep enough history,
    /// [`SubscribeError::Closed`] if the bus is closed.
    pub fn build(self) -> Result<Subscription<T>, SubscribeError> {
        let pattern = Pattern::parse(self.pattern)?;
        let shared = Arc::clone(self.bus.shared());
        let capacity = self.capacity.unwrap_or(shared.default_capacity());
        let registration =
            shared.register(pattern, self.policy, capacity, self.filter, self.replay)?;
        let replayed = registration.replay.len();
        let slot = registration.ring.slot_of(registration.next);
        // Built before anything else can fail or panic: from here on, dropping it
        // unsubscribes.
        let subscription = Subscription {
            shared,
            ring: registration.ring,
            member: registration.member,
            group: registration.group,
            slot,
            next: registration.next,
            known_tail: registration.next,
            received: 0,
            taken: VecDeque::from(registration.replay),
            ended: false,
            last_empty: registration.next,
            idle_yields: 0,
            parked: None,
            lagging: false,
        };
        tracing::debug!(
            subscriber = subscription.member.id.as_u64(),
            pattern = %subscription.member.pattern,
            policy = %self.policy,
            capacity,
            shared_with = registration.shared_with,
            replayed,
            "bus subscription added"
        );
        Ok(subscription)
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
    /// The index of the slot of `next`, stepped along with it; see `Ring::slot_of`.
    slot: usize,
    /// The ring's tail when last looked at: see `Ring::read`.
    known_tail: u64,
    received: u64,
    /// Messages to hand out before reading the ring, with their subjects: the replay, or a
    /// message read just before the report of a gap that precedes it.
    taken: VecDeque<(Arc<str>, T)>,
    /// The stream has yielded `None`.
    ended: bool,
    /// The cursor at the last poll that found nothing; see `poll_recv`.
    last_empty: u64,
    /// Yields in a row that found nothing; see `poll_recv`.
    idle_yields: u8,
    /// This subscription's place among the readers parked on the ring.
    parked: Option<Ticket>,
    /// Whether the current lag episode has been logged.
    lagging: bool,
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
        self.try_next(false).map(|(_, msg)| msg)
    }

    /// [`try_recv`](Self::try_recv), with the subject if `with_subject`.
    pub(crate) fn try_next(&mut self, with_subject: bool) -> Result<Taken<T>, TryRecvError> {
        match self.next_ready(None, with_subject) {
            Some(Ok(msg)) => Ok(msg),
            Some(Err(RecvError::Lagged(n))) => Err(TryRecvError::Lagged(n)),
            Some(Err(RecvError::Closed)) => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Polls for the next message; the building block of [`recv`](Self::recv) and of the
    /// [`Stream`] implementation.
    ///
    /// When nothing is queued, the subscription parks: the bus wakes the task when a message
    /// arrives or the bus closes. Only while a publisher is active, that is, when messages
    /// arrived since the last poll that found nothing, does it first yield (waking itself,
    /// up to four times in a row while nothing new arrives) so that it reads the next burst
    /// in one go; an idle subscription parks at its first `Pending`.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        self.poll_next_message(cx, false)
            .map(|ready| ready.map(|(_, msg)| msg))
    }

    /// [`poll_recv`](Self::poll_recv), with the subject if `with_subject`.
    pub(crate) fn poll_next_message(
        &mut self,
        cx: &mut Context<'_>,
        with_subject: bool,
    ) -> Poll<Result<Taken<T>, RecvError>> {
        // Under load the publisher refills the ring while the other tasks on this worker run,
        // so yielding lets the subscriber read a batch instead of being woken (often through
        // a cross-thread unpark) for every single message. Only an active subscription
        // yields, that is, one that received something since its last empty look, and at
        // most `IDLE_YIELDS` times in a row: yields that bring nothing mean the publisher has
        // paused, so park. A single yield was too few where a publisher writes to several
        // rings per message: subscribers caught up, parked and were woken for every message
        // (1.5x the time of a fan-out to eight patterns).
        if self.next != self.last_empty {
            self.idle_yields = 0;
        }
        let yielding = self.next != self.last_empty || (1..IDLE_YIELDS).contains(&self.idle_yields);
        if let Some(ready) = self.next_ready((!yielding).then_some(cx.waker()), with_subject) {
            return Poll::Ready(ready);
        }
        // Nothing arrived, so the cursor is where this poll found it.
        self.last_empty = self.next;
        if yielding {
            self.idle_yields += 1;
            cx.waker().wake_by_ref();
        }
        // Otherwise parked: the ring holds our waker.
        Poll::Pending
    }

    /// The next message (with its subject if `with_subject`) or error if one is ready;
    /// otherwise parks `waker` (if given) and returns `None`.
    fn next_ready(
        &mut self,
        waker: Option<&Waker>,
        with_subject: bool,
    ) -> Option<Result<Taken<T>, RecvError>> {
        if !self.taken.is_empty() {
            // Only replayed messages and one read before a gap wait here: not the hot path.
            match self.member.pop_held(&mut self.taken) {
                Ok(Some((subject, msg))) => return Some(Ok((Some(subject), msg))),
                Ok(None) => {}
                Err(()) => return Some(Err(RecvError::Closed)),
            }
        }
        loop {
            match self.member.take_gap(self.next) {
                None => {}
                Some(Gap::Missed(missed)) => return Some(Err(self.lagged(missed))),
                Some(Gap::Aborted) => return Some(Err(RecvError::Closed)),
            }
            let flag = self.member.gap_flag();
            // SAFETY: we are a member of the ring's group, and our cursor stays at `self.next`
            // until the read returns.
            #[allow(unsafe_code)]
            let read = unsafe {
                self.ring.read(
                    self.next,
                    self.slot,
                    &mut self.known_tail,
                    |subject, msg| {
                        // A gap this message must follow was flagged before the message was
                        // written, so before the read saw it. Only then, or when asked for, is
                        // the subject cloned, so a plain `recv` does not touch its count.
                        let flagged = flag.load(Ordering::Acquire);
                        (
                            (with_subject || flagged).then(|| Arc::clone(subject)),
                            msg.clone(),
                        )
                    },
                )
            };
            match read {
                Read::Message((subject, msg)) => {
                    let seq = self.next;
                    self.next = seq + 1;
                    self.slot = self.ring.following(self.slot);
                    // `SeqCst`, as are the loads below, for two hand-offs that each pass a
                    // `SeqCst` fence on the other side: a publisher waiting for this slot to
                    // be freed (`Ring::reached`), and an abort settling where we end
                    // (`Member::settle`).
                    store_seq_cst(&self.member.next, seq + 1);
                    self.ring.reached(seq + 1);
                    // Aborted while we read: the abort counted this message as discarded
                    // unless it saw our cursor move.
                    if flag.load(Ordering::SeqCst) && self.member.discards(seq) {
                        return Some(Err(RecvError::Closed));
                    }
                    self.received += 1;
                    self.member.received.store(self.received, Ordering::Relaxed);
                    // A message refused to us just before this one was written: the gap comes
                    // first, and the message is held until it is reported. The subject was
                    // cloned if the gap was flagged when we read.
                    if let Some(subject) = &subject {
                        if let Some(Gap::Missed(missed)) = self.member.take_gap(seq) {
                            let held = (Arc::clone(subject), msg);
                            self.member.push_held(&mut self.taken, held);
                            return Some(Err(self.lagged(missed)));
                        }
                    }
                    return Some(Ok((subject, msg)));
                }
                Read::Overrun { resume_at } => {
                    // Aborted before this read: the abort counted what we would skip.
                    if let Some(Gap::Aborted) = self.member.take_gap(self.next) {
                        return Some(Err(RecvError::Closed));
                    }
                    // Drop-oldest only: blocking groups are never overwritten, so no
                    // publisher waits on this cursor.
                    let missed = resume_at - self.next;
                    self.member.dropped.fetch_add(missed, Ordering::Relaxed);
                    self.next = resume_at;
                    self.slot = self.ring.slot_of(resume_at);
                    self.member.next.store(resume_at, Ordering::Release);
                    return Some(Err(self.lagged(missed)));
                }
                Read::Empty => {}
            }
            // Once closed, nothing more is written: the tail read after the close is final.
            if self.ring.is_closed() {
                let tail = self.ring.tail();
                if self.next < tail {
                    // Written between our look at the tail and the close.
                    self.known_tail = tail;
                    continue;
                }
                // A refusal recorded before the close may have come after our first look.
                return Some(Err(match self.member.take_gap(self.next) {
                    Some(Gap::Missed(missed)) => self.lagged(missed),
                    Some(Gap::Aborted) | None => RecvError::Closed,
                }));
            }
            self.lagging = false;
            let waker = waker?;
            if !self.ring.park(waker, &mut self.parked, self.next) {
                return None;
            }
        }
    }

    fn lagged(&mut self, missed: u64) -> RecvError {
        if !self.lagging {
            self.lagging = true;
            tracing::warn!(
                subscriber = self.member.id.as_u64(),
                pattern = %self.member.pattern,
                policy = %self.member.policy,
                capacity = self.member.capacity,
                missed,
                "bus subscriber lagging: messages addressed to it were dropped"
            );
        } else {
            tracing::debug!(
                subscriber = self.member.id.as_u64(),
                missed,
                "bus subscriber still lagging"
            );
        }
        RecvError::Lagged(missed)
    }

    /// This subscription's id, as used in [`Delivery::refused`](crate::Delivery::refused),
    /// [`SubscriberMetrics`] and `tracing` events.
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

    /// A snapshot of this subscription's counters.
    pub fn metrics(&self) -> SubscriberMetrics {
        self.member.metrics(self.ring.tail())
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
