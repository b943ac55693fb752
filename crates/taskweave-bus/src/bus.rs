//! The bus handle and what a publish reports.

use std::fmt;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

#[cfg(doc)]
use crate::LagPolicy;
use crate::builder::BusBuilder;
use crate::error::{PublishError, SubjectError, SubscribeError};
use crate::lifecycle::ShutdownReport;
use crate::loom::Ordering;
use crate::registry::{Outcome, Shared};
use crate::subject::validate_subject;
use crate::{Metrics, Pattern, SubscriberId, SubscriptionBuilder};
#[cfg(doc)]
use tokio_util::sync::CancellationToken;

/// A typed broadcast bus with topics.
///
/// Publishers send a `T` to a subject such as `orders.eu.created`; every subscription whose
/// pattern matches the subject (and whose filter accepts the message) receives a clone. For
/// payloads that are expensive or impossible to clone, use `Bus<Arc<P>>`: only the `Arc` is
/// cloned.
///
/// `Bus` is a cheap handle: clone it for every publishing task. The bus closes when
/// [`close`](Self::close) is called, when its [`CancellationToken`] is cancelled, or when the
/// last handle is dropped (all three do the same, graceful thing); subscriptions then read
/// what is queued for them and see [`RecvError::Closed`](crate::RecvError::Closed).
/// [`drain`](Self::drain) waits for them to do so, [`shutdown`](Self::shutdown) waits a
/// bounded time and [`abort`](Self::abort) ends them at once, counting what they lose.
pub struct Bus<T> {
    shared: Arc<Shared<T>>,
}

/// What became of a published message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub(crate) delivered: usize,
    pub(crate) refused: Vec<SubscriberId>,
}

impl Delivery {
    /// How many subscriptions the message was queued for.
    pub fn delivered(&self) -> usize {
        self.delivered
    }

    /// Subscriptions that matched and wanted the message but could not take it because
    /// their buffer was full: drop-newest ones, and, under [`Bus::try_publish`], blocking
    /// ones. Each counts it as missed and will see it in a
    /// [`Lagged`](crate::RecvError::Lagged) report.
    pub fn refused(&self) -> &[SubscriberId] {
        &self.refused
    }

    /// Whether every matching subscription that wanted the message got it.
    pub fn is_complete(&self) -> bool {
        self.refused.is_empty()
    }
}

impl<T: Clone + Send + Sync + 'static> Bus<T> {
    /// A bus whose subscriptions default to a buffer of `capacity` messages.
    ///
    /// This constructor cannot fail, so a bad `capacity` is refused when subscribing (that is
    /// when a buffer is allocated) unless the subscription chooses its own: `0` with
    /// [`SubscribeError::ZeroCapacity`], above [`MAX_CAPACITY`](crate::MAX_CAPACITY) with
    /// [`SubscribeError::CapacityTooLarge`]. [`Bus::builder`] refuses both up front.
    pub fn new(capacity: usize) -> Self {
        Self::from_shared(Arc::new(Shared::new(capacity, 0)))
    }

    /// Starts configuring a bus.
    pub fn builder() -> BusBuilder<T> {
        BusBuilder::new()
    }

    /// Publishes `msg` to `subject`, waiting while a matching subscription with
    /// [`LagPolicy::Block`] has a full buffer. Subscriptions with other policies never make it
    /// wait. Returns how many subscriptions the message was queued for.
    ///
    /// # Errors
    ///
    /// [`PublishError::Closed`] if the bus is closed (also while waiting),
    /// [`PublishError::InvalidSubject`] if `subject` is not a valid subject; both hand the
    /// message back.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the message reaches every subscription at once, after any waiting, so
    /// dropping the future before it completes delivers it to no one.
    pub async fn publish(&self, subject: &str, msg: T) -> Result<Delivery, PublishError<T>> {
        let mut pending = Some(msg);
        // This publish's place among the publishers waiting on a ring, kept across polls.
        let mut ticket = None;
        poll_fn(|cx| {
            let msg = pending
                .take()
                .expect("the publish future is not polled after it completed");
            match self
                .shared
                .deliver(subject, msg, Some((cx.waker(), &mut ticket)))
            {
                Outcome::Done(result) => Poll::Ready(result),
                Outcome::Wait(msg) => {
                    pending = Some(msg);
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Publishes `msg` to `subject` without ever waiting. A full subscription with
    /// [`LagPolicy::Block`] or [`LagPolicy::DropNewest`] does not get the message; it is
    /// named in [`Delivery::refused`] and counts the message as missed. Blocking
    /// subscriptions that share a buffer (same pattern and capacity, no filter) are refused
    /// together.
    ///
    /// # Errors
    ///
    /// As for [`publish`](Self::publish); the message is handed back.
    pub fn try_publish(&self, subject: &str, msg: T) -> Result<Delivery, PublishError<T>> {
        match self.shared.deliver(subject, msg, None) {
            Outcome::Done(result) => result,
            Outcome::Wait(_) => unreachable!("delivery without a waker never waits"),
        }
    }

    /// A [`Sink`](futures_sink::Sink) that publishes every item to `subject`, with the
    /// backpressure of [`publish`](Self::publish): `stream.forward(bus.sink("orders.new"))`
    /// waits for [`LagPolicy::Block`] subscriptions instead of queueing. See
    /// [`PublishSink`](crate::PublishSink) for what each `Sink` method does; closing the sink does not close the
    /// bus. The sink holds a `Bus` handle of its own (like a clone).
    pub fn sink(&self, subject: &str) -> crate::PublishSink<T> {
        crate::PublishSink::new(self.clone(), subject)
    }

    /// Subscribes to `pattern` with the bus's default capacity, [`LagPolicy::DropOldest`], no
    /// filter and no replay. Use [`subscription`](Self::subscription) to choose.
    ///
    /// # Errors
    ///
    /// [`SubscribeError::InvalidPattern`] or [`SubscribeError::Closed`].
    pub fn subscribe(&self, pattern: &str) -> Result<crate::Subscription<T>, SubscribeError> {
        self.subscription(pattern).build()
    }

    /// Starts configuring a subscription to `pattern`: an exact subject, or a pattern with
    /// `*` (one token) and a final `>` (one or more tokens).
    pub fn subscription<'a>(&'a self, pattern: &'a str) -> SubscriptionBuilder<'a, T> {
        SubscriptionBuilder::new(self, pattern)
    }
}

impl<T> Bus<T> {
    /// Closes the bus: publishing fails from now on (the message is handed back in
    /// [`PublishError::Closed`], also to publishers waiting for room), new subscriptions are
    /// refused, and subscriptions read what is queued for them, then see
    /// [`RecvError::Closed`](crate::RecvError::Closed). Idempotent; returns at once. Dropping
    /// the last `Bus` handle or cancelling the builder's [`CancellationToken`] does the same.
    pub fn close(&self) {
        self.shared.close();
    }

    /// Whether the bus is closed.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// [Closes](Self::close) the bus, then waits until every live subscription has received
    /// everything published to it before the close (or has been dropped, or the bus was
    /// [aborted](Self::abort)). Never discards anything: a [`LagPolicy::Block`] subscription
    /// that is not read keeps it waiting; [`shutdown`](Self::shutdown) bounds the wait.
    /// Messages a subscription took for replay when it subscribed are its own already.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future does not undo the close; call `drain` again to wait.
    pub async fn drain(&self) {
        self.shared.close();
        self.drained().await;
    }

    async fn drained(&self) {
        let mut ticket = None;
        poll_fn(|cx| {
            if self.shared.poll_drained(cx.waker(), &mut ticket) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        tracing::debug!("bus drained");
    }

    /// [Closes](Self::close) the bus and waits up to `grace` for it to drain, as
    /// [`drain`](Self::drain) does; then [aborts](Self::abort) it: every subscription ends at
    /// once, what it had not read is discarded and counted in the [`ShutdownReport`], and its
    /// next receive returns [`RecvError::Closed`](crate::RecvError::Closed).
    /// [`ShutdownReport::is_clean`] says whether everything was read in time.
    ///
    /// # Panics
    ///
    /// If the grace period has to be timed (the bus is still draining) in a runtime without
    /// the time driver (build it with `enable_time()` or `enable_all()`).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future during the grace period leaves the bus closed and draining, as
    /// [`drain`](Self::drain) does; the abort at the end of the grace period runs to
    /// completion within one poll.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        self.shared.close();
        // Looked at first so that a bus with nothing left to read needs no timer.
        if self.shared.poll_drained(Waker::noop(), &mut None)
            || tokio::time::timeout(grace, self.drained()).await.is_ok()
        {
            return ShutdownReport::default();
        }
        self.shared.abort_all("shutdown grace period ended")
    }

    /// The hard stop: closes the bus and ends every subscription now, without waiting. What
    /// each subscription had not read is discarded, counted per subscription in the returned
    /// [`ShutdownReport`] and logged (a `warn` event per subscription that lost messages);
    /// every subscription's next receive returns [`RecvError::Closed`](crate::RecvError::Closed).
    /// A receive running at that very moment may still return the message it was reading,
    /// which is then not counted as discarded. Publishers waiting for room get their message
    /// back in [`PublishError::Closed`]. Calling it again discards nothing more.
    pub fn abort(&self) -> ShutdownReport {
        self.shared.abort_all("abort() called")
    }

    /// How many subscriptions match `subject` (before filters).
    ///
    /// # Errors
    ///
    /// [`SubjectError`] if `subject` is not a valid publish subject.
    pub fn subscriber_count(&self, subject: &str) -> Result<usize, SubjectError> {
        validate_subject(subject)?;
        let mut registry = self.shared.lock();
        let registry = &mut *registry;
        let mut count = 0;
        let groups = &registry.groups;
        registry.index.for_each_match(subject, &mut |slot| {
            if let Some(Some(group)) = groups.get(slot as usize) {
                count += group.members.len();
            }
        });
        Ok(count)
    }

    /// How many subscriptions exist.
    pub fn subscription_count(&self) -> usize {
        self.shared.lock().subscriptions
    }

    /// A snapshot of the bus's counters and of every subscription's.
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// Drops the messages retained for replay on subjects matching `pattern` and returns how
    /// many there were. Use it when subjects come and go (per-order subjects, say) so that
    /// retention does not grow without bound.
    ///
    /// # Errors
    ///
    /// [`SubjectError`] if `pattern` is not a valid pattern.
    pub fn forget_retained(&self, pattern: &str) -> Result<usize, SubjectError> {
        let pattern = Pattern::parse(pattern)?;
        let forgotten = self
            .shared
            .lock()
            .retained
            .as_mut()
            .map(|r| r.forget(&pattern));
        // Dropped here, after the registry lock: a message's `Drop` is the user's code.
        Ok(forgotten.map_or(0, |histories| histories.iter().map(|h| h.len()).sum()))
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<T>> {
        &self.shared
    }

    pub(crate) fn from_shared(shared: Arc<Shared<T>>) -> Self {
        Self { shared }
    }
}

impl<T> Clone for Bus<T> {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Bus<T> {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            tracing::debug!("last bus handle dropped; closing the bus");
            self.shared.close();
        }
    }
}

impl<T> fmt::Debug for Bus<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("closed", &self.is_closed())
            .field("subscriptions", &self.subscription_count())
            .finish_non_exhaustive()
    }
}
