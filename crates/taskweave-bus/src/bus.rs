//! The bus handle, its builder, and the publish path.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::future::poll_fn;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::error::{PublishError, SubjectError, SubscribeError};
use crate::index::Index;
use crate::loom::{AtomicBool, AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering};
use crate::retain::Retained;
use crate::ring::{Member, Ring, lock};
use crate::subject::validate_subject;
use crate::{LagPolicy, Pattern, SubscriberId, SubscriberStats, SubscriptionBuilder};

/// The default buffer of a subscription, in messages.
pub const DEFAULT_CAPACITY: NonZeroUsize = match NonZeroUsize::new(1024) {
    Some(n) => n,
    None => unreachable!(),
};

/// A subscriber's predicate, run by the publisher once per matching message.
pub(crate) type Filter<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

thread_local! {
    /// Groups matched by the publish in progress on this thread, reused so that a publish
    /// does not allocate.
    static MATCHED: Cell<Vec<u32>> = const { Cell::new(Vec::new()) };
}

/// A typed broadcast bus with topics.
///
/// Publishers send a `T` to a subject such as `orders.eu.created`; every subscription whose
/// pattern matches the subject (and whose filter accepts the message) receives a clone. For
/// payloads that are expensive or impossible to clone, use `Bus<Arc<P>>`: only the `Arc` is
/// cloned.
///
/// `Bus` is a cheap handle: clone it for every publishing task. The bus closes when
/// [`close`](Self::close) is called, when its [`CancellationToken`] is cancelled, or when the
/// last handle is dropped; subscriptions then drain what is queued for them and see
/// [`RecvError::Closed`](crate::RecvError::Closed).
pub struct Bus<T> {
    shared: Arc<Shared<T>>,
}

pub(crate) struct Shared<T> {
    /// Routing, group membership and the publish sequence, all behind one short lock:
    /// publishers take it once per message, so a publish is atomic across subscriptions.
    registry: Mutex<Registry<T>>,
    /// Mirrors `Registry::closed` for lock-free checks.
    closed: AtomicBool,
    /// Registered with the cancellation token, if any: its waker closes the bus, so neither
    /// publishers nor subscribers need to look at the token.
    watch: Mutex<Option<Pin<Box<WaitForCancellationFutureOwned>>>>,
    capacity: NonZeroUsize,
    handles: AtomicUsize,
    next_id: AtomicU64,
}

/// Subscriptions that can share one ring: same pattern, capacity and policy, no filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    pattern: Box<str>,
    capacity: usize,
    policy: LagPolicy,
}

/// Subscriptions that read the same ring.
struct Group<T> {
    ring: Arc<Ring<T>>,
    pattern: Pattern,
    policy: LagPolicy,
    filter: Option<Filter<T>>,
    members: Vec<Arc<Member>>,
    /// Sequence number of the next message written to the ring.
    tail: u64,
    /// Sequence numbers below this fit without overwriting an unread message of any member
    /// (checked for blocking and drop-newest groups only); refreshed lazily.
    limit: u64,
    key: Option<GroupKey>,
    /// Reused buffer for waking parked readers; see `Ring::write`.
    spare: Vec<Waker>,
}

impl<T> Group<T> {
    fn has_room(&mut self) -> bool {
        if self.policy == LagPolicy::DropOldest || self.tail < self.limit {
            return true;
        }
        let slowest = self
            .members
            .iter()
            .map(|m| m.next.load(Ordering::SeqCst))
            .min()
            .unwrap_or(self.tail);
        self.limit = slowest + self.ring.capacity();
        self.tail < self.limit
    }

    fn wants(&self, msg: &T) -> bool {
        self.filter.as_ref().is_none_or(|keep| keep(msg))
    }
}

struct Registry<T> {
    index: Index,
    groups: Vec<Option<Group<T>>>,
    free: Vec<u32>,
    shared_groups: HashMap<GroupKey, u32>,
    retained: Option<Retained<T>>,
    subscriptions: usize,
    closed: bool,
}

impl<T> Registry<T> {
    fn group(&mut self, slot: u32) -> &mut Group<T> {
        match self.groups.get_mut(slot as usize) {
            Some(Some(group)) => group,
            // The index and the groups only change together, under the registry lock.
            _ => unreachable!("the index names a free group slot"),
        }
    }
}

/// What became of a published message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    delivered: usize,
    refused: Vec<SubscriberId>,
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

/// Builds a [`Bus`]. Every option has a default, so `Bus::builder().build()` works.
pub struct BusBuilder<T> {
    capacity: NonZeroUsize,
    retain: usize,
    token: Option<CancellationToken>,
    payload: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for BusBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusBuilder")
            .field("capacity", &self.capacity)
            .field("retain", &self.retain)
            .field("token", &self.token.is_some())
            .finish()
    }
}

impl<T: Clone + Send + Sync + 'static> BusBuilder<T> {
    /// The buffer of each subscription that does not choose its own
    /// ([`SubscriptionBuilder::capacity`]). Default: [`DEFAULT_CAPACITY`] (1024).
    pub fn capacity(mut self, capacity: NonZeroUsize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Keep the last `depth` messages of every subject, so that subscriptions can ask for a
    /// [`replay`](SubscriptionBuilder::replay). Off by default. Memory grows with the number
    /// of distinct subjects; see [`Bus::forget_retained`].
    pub fn retain_last(mut self, depth: NonZeroUsize) -> Self {
        self.retain = depth.get();
        self
    }

    /// Close the bus when `token` is cancelled.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Creates the bus. Every option is typed so that it cannot be invalid, hence no error.
    pub fn build(self) -> Bus<T> {
        let shared = Arc::new(Shared {
            registry: Mutex::new(Registry {
                index: Index::default(),
                groups: Vec::new(),
                free: Vec::new(),
                shared_groups: HashMap::new(),
                retained: (self.retain > 0).then(|| Retained::new(self.retain)),
                subscriptions: 0,
                closed: false,
            }),
            closed: AtomicBool::new(false),
            watch: Mutex::new(None),
            capacity: self.capacity,
            handles: AtomicUsize::new(1),
            next_id: AtomicU64::new(1),
        });
        if let Some(token) = self.token {
            let mut cancelled = Box::pin(token.cancelled_owned());
            let waker = Waker::from(Arc::new(CloseOnWake {
                shared: Arc::downgrade(&shared),
            }));
            if cancelled
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
            {
                shared.close();
            } else {
                *lock(&shared.watch) = Some(cancelled);
            }
        }
        Bus { shared }
    }
}

/// The waker registered with the cancellation token: closes the bus when woken.
struct CloseOnWake<T> {
    shared: Weak<Shared<T>>,
}

impl<T: Send + Sync + 'static> Wake for CloseOnWake<T> {
    fn wake(self: Arc<Self>) {
        if let Some(shared) = self.shared.upgrade() {
            tracing::debug!("cancellation token cancelled; closing the bus");
            shared.close();
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Bus<T> {
    /// A bus whose subscriptions default to a buffer of `capacity` messages.
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self::builder().capacity(capacity).build()
    }

    /// Starts configuring a bus.
    pub fn builder() -> BusBuilder<T> {
        BusBuilder {
            capacity: DEFAULT_CAPACITY,
            retain: 0,
            token: None,
            payload: PhantomData,
        }
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
        poll_fn(|cx| {
            let msg = pending
                .take()
                .expect("the publish future is not polled after it completed");
            match self.shared.deliver(subject, msg, Some(cx.waker())) {
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
    /// Closes the bus: publishing fails from now on, and subscriptions drain what is queued
    /// for them, then see [`RecvError::Closed`](crate::RecvError::Closed). Idempotent.
    pub fn close(&self) {
        self.shared.close();
    }

    /// Whether the bus is closed.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
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

    /// Counters of every subscription: lag, receptions and drops.
    pub fn stats(&self) -> Vec<SubscriberStats> {
        let registry = self.shared.lock();
        registry
            .groups
            .iter()
            .flatten()
            .flat_map(|group| group.members.iter().map(|m| m.stats(group.tail)))
            .collect()
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
        Ok(self
            .shared
            .lock()
            .retained
            .as_mut()
            .map_or(0, |r| r.forget(&pattern)))
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<T>> {
        &self.shared
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

/// The outcome of one delivery attempt.
enum Outcome<T> {
    Done(Result<Delivery, PublishError<T>>),
    /// A blocking subscription is full; the waker is registered and the message comes back.
    Wait(T),
}

/// What a new subscription gets from [`Shared::register`].
pub(crate) struct Registration<T> {
    pub(crate) ring: Arc<Ring<T>>,
    pub(crate) member: Arc<Member>,
    pub(crate) group: u32,
    pub(crate) next: u64,
    pub(crate) replay: Vec<T>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Registry<T>> {
        lock(&self.registry)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn close(&self) {
        let mut registry = self.lock();
        if registry.closed {
            return;
        }
        registry.closed = true;
        self.closed.store(true, Ordering::Release);
        for group in registry.groups.iter().flatten() {
            group.ring.close();
        }
        tracing::debug!(subscriptions = registry.subscriptions, "bus closed");
    }

    /// Validates `subject`, routes `msg` and writes it to every matching group. With a waker,
    /// first makes sure every matching blocking group has room, registering the waker and
    /// handing the message back if one has not; without, refuses the message to full groups.
    fn deliver(&self, subject: &str, msg: T, waker: Option<&Waker>) -> Outcome<T>
    where
        T: Clone,
    {
        let mut guard = self.lock();
        let registry = &mut *guard;
        let slots = match registry.index.route(subject) {
            Ok(slots) => slots,
            Err(e) => return Outcome::Done(Err(PublishError::InvalidSubject(msg, e))),
        };
        if registry.closed {
            return Outcome::Done(Err(PublishError::Closed(msg)));
        }
        let mut matched = MATCHED.take();
        matched.clear();
        for &slot in slots {
            if let Some(Some(group)) = registry.groups.get(slot as usize) {
                if group.wants(&msg) {
                    matched.push(slot);
                }
            }
        }

        if let Some(waker) = waker {
            for &slot in &matched {
                let group = registry.group(slot);
                if group.policy != LagPolicy::Block || group.has_room() {
                    continue;
                }
                let capacity = group.ring.capacity();
                let needs = (group.tail + 1 + Ring::<T>::publisher_resumes_after(capacity))
                    .saturating_sub(capacity);
                group.ring.wait_for_room(waker, needs.min(group.tail));
                // A reader may have moved between our look and the registration.
                group.limit = 0;
                if !group.has_room() {
                    MATCHED.set(matched);
                    return Outcome::Wait(msg);
                }
            }
        }

        if let Some(retained) = &mut registry.retained {
            retained.record(subject, &msg);
        }
        let mut delivery = Delivery::default();
        if let Some((&last, others)) = matched.split_last() {
            for &slot in others {
                write(registry.group(slot), msg.clone(), &mut delivery);
            }
            write(registry.group(last), msg, &mut delivery);
        }
        MATCHED.set(matched);
        Outcome::Done(Ok(delivery))
    }

    /// Adds a subscription, to a shared group when it can share one.
    ///
    /// Publishers record and deliver under the same lock, so taking the replay and joining
    /// the group together splits every publish cleanly into "before" (replayed) or "after"
    /// (received live): none is both, none is neither.
    pub(crate) fn register(
        &self,
        pattern: Pattern,
        policy: LagPolicy,
        capacity: usize,
        filter: Option<Filter<T>>,
        replay: usize,
    ) -> Result<Registration<T>, SubscribeError>
    where
        T: Clone,
    {
        let mut guard = self.lock();
        let registry = &mut *guard;
        if registry.closed {
            return Err(SubscribeError::Closed);
        }
        let history = if replay == 0 {
            Vec::new()
        } else {
            let depth = registry.retained.as_ref().map_or(0, Retained::depth);
            match &registry.retained {
                Some(retained) if replay <= depth => retained.replay(&pattern, replay, |m| {
                    filter.as_ref().is_none_or(|keep| keep(m))
                }),
                _ => {
                    return Err(SubscribeError::ReplayExceedsRetention {
                        requested: replay,
                        retained: depth,
                    });
                }
            }
        };

        let key = (filter.is_none() && policy != LagPolicy::DropNewest).then(|| GroupKey {
            pattern: pattern.as_str().into(),
            capacity,
            policy,
        });
        let existing = key
            .as_ref()
            .and_then(|k| registry.shared_groups.get(k).copied());
        let slot = match existing {
            Some(slot) => slot,
            None => {
                let slot = match registry.free.pop() {
                    Some(slot) => slot,
                    None => {
                        let slot = u32::try_from(registry.groups.len())
                            .map_err(|_| SubscribeError::TooManySubscriptions)?;
                        registry.groups.push(None);
                        slot
                    }
                };
                registry.index.insert(pattern.tokens(), slot);
                if let Some(key) = &key {
                    registry.shared_groups.insert(key.clone(), slot);
                }
                registry.groups[slot as usize] = Some(Group {
                    ring: Arc::new(Ring::new(capacity)),
                    pattern: pattern.clone(),
                    policy,
                    filter,
                    members: Vec::new(),
                    tail: 0,
                    limit: 0,
                    key,
                    spare: Vec::new(),
                });
                slot
            }
        };
        let id = SubscriberId(self.next_id.fetch_add(1, Ordering::Relaxed));
        registry.subscriptions += 1;
        let group = registry.group(slot);
        let member = Arc::new(Member::new(id, pattern, policy, capacity, group.tail));
        group.members.push(Arc::clone(&member));
        tracing::debug!(
            subscriber = id.get(),
            pattern = %member.pattern,
            policy = %policy,
            capacity,
            shared_with = group.members.len() - 1,
            replayed = history.len(),
            "bus subscription added"
        );
        Ok(Registration {
            ring: Arc::clone(&group.ring),
            next: group.tail,
            member,
            group: slot,
            replay: history,
        })
    }

    pub(crate) fn unregister(&self, slot: u32, member: &Arc<Member>) {
        let mut guard = self.lock();
        let registry = &mut *guard;
        registry.subscriptions -= 1;
        let group = registry.group(slot);
        group.members.retain(|m| !Arc::ptr_eq(m, member));
        // The leaver may have been the slowest: let waiting publishers look again.
        group.limit = 0;
        group.ring.release_publishers();
        if group.members.is_empty() {
            let key = group.key.take();
            let pattern = group.pattern.clone();
            registry.index.remove(pattern.tokens(), slot);
            if let Some(key) = key {
                registry.shared_groups.remove(&key);
            }
            registry.groups[slot as usize] = None;
            registry.free.push(slot);
        }
        drop(guard);
        tracing::debug!(
            subscriber = member.id.get(),
            pattern = %member.pattern,
            "bus subscription dropped"
        );
    }

    pub(crate) fn default_capacity(&self) -> NonZeroUsize {
        self.capacity
    }
}

/// Writes `msg` to `group`, or refuses it to every member when the group is full and may
/// not overwrite.
fn write<T>(group: &mut Group<T>, msg: T, delivery: &mut Delivery) {
    if group.policy != LagPolicy::DropOldest && !group.has_room() {
        for member in &group.members {
            member.refused(group.tail);
            delivery.refused.push(member.id);
        }
        return;
    }
    group.ring.write(group.tail, msg, &mut group.spare);
    group.tail += 1;
    delivery.delivered += group.members.len();
}
