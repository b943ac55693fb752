//! The state behind every [`Bus`](crate::Bus) handle: the routing index, the groups of
//! subscriptions and their rings, retention, and the publish path.
//!
//! (Over 400 lines on purpose: every operation that changes the registry is here, next to the
//! panic-safety rule below that each of them follows; split, the rule would be checked in
//! several files.)
//!
//! Panic safety: the registry lock ignores poisoning (see [`lock`]), so every operation under
//! it first does whatever can fail or run user code (validating, allocating a ring, running
//! filters, cloning messages for a replay) and only then changes the registry, in steps that
//! cannot panic. Waking tasks, which runs the executor's code, happens after the lock is
//! released.

use std::cell::Cell;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Waker;

use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::builder::MAX_CAPACITY;
use crate::bus::Delivery;
use crate::error::{PublishError, SubscribeError};
use crate::index::Index;
use crate::loom::{AtomicBool, AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering, fence};
use crate::member::Member;
use crate::retain::Retained;
use crate::ring::{Ring, lock};
use crate::waiters::Ticket;
use crate::{LagPolicy, Pattern, SubscriberId};

/// A subscriber's predicate, run by the publisher once per matching message.
pub(crate) type Filter<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

thread_local! {
    /// Groups matched by the publish in progress on this thread, reused so that a publish
    /// does not allocate.
    static MATCHED: Cell<Vec<u32>> = const { Cell::new(Vec::new()) };
    /// Readers that the publish in progress on this thread wakes once it has released the
    /// lock, reused so that waking them does not allocate.
    static WOKEN: Cell<Vec<Waker>> = const { Cell::new(Vec::new()) };
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
    capacity: usize,
    pub(crate) handles: AtomicUsize,
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
pub(crate) struct Group<T> {
    pub(crate) ring: Arc<Ring<T>>,
    pub(crate) pattern: Pattern,
    policy: LagPolicy,
    filter: Option<Filter<T>>,
    pub(crate) members: Vec<Arc<Member>>,
    /// Sequence number of the next message written to the ring.
    pub(crate) tail: u64,
    /// The index of the slot of `tail`, stepped along with it; see `Ring::slot_of`.
    tail_slot: usize,
    /// Sequence numbers below this fit without overwriting an unread message of any member
    /// (checked for blocking and drop-newest groups only); refreshed lazily.
    limit: u64,
    key: Option<GroupKey>,
}

impl<T> Group<T> {
    fn has_room(&mut self) -> bool {
        if self.policy == LagPolicy::DropOldest || self.tail < self.limit {
            return true;
        }
        let slowest = self
            .members
            .iter()
            .map(|m| m.next.load(Ordering::Acquire))
            .min()
            .unwrap_or(self.tail);
        self.limit = slowest + self.ring.capacity();
        self.tail < self.limit
    }

    fn wants(&self, msg: &T) -> bool {
        self.filter.as_ref().is_none_or(|keep| keep(msg))
    }
}

pub(crate) struct Registry<T> {
    pub(crate) index: Index,
    pub(crate) groups: Vec<Option<Group<T>>>,
    free: Vec<u32>,
    shared_groups: HashMap<GroupKey, u32>,
    pub(crate) retained: Option<Retained<T>>,
    pub(crate) subscriptions: usize,
    closed: bool,
    /// Bus-wide counters, see [`Metrics`](crate::Metrics); updated under this lock, which a
    /// publish holds anyway.
    pub(crate) counters: Counters,
}

/// The bus-wide counters of [`Metrics`](crate::Metrics).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) published: u64,
    pub(crate) delivered: u64,
    pub(crate) refused: u64,
    /// Messages missed by subscriptions that have since been dropped.
    pub(crate) lagged_by_gone: u64,
    pub(crate) discarded: u64,
}

/// Where a waiting publish holds its place: the ring it waits on (kept alive, so that the
/// comparison by address is sound) and its ticket there.
pub(crate) type WaitTicket<T> = Option<(Arc<Ring<T>>, Ticket)>;

/// The outcome of one delivery attempt.
pub(crate) enum Outcome<T> {
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
    pub(crate) replay: Vec<(Arc<str>, T)>,
    /// How many other subscriptions read the same ring.
    pub(crate) shared_with: usize,
}

impl<T> Shared<T> {
    pub(crate) fn new(capacity: usize, retain: usize) -> Self {
        Self {
            registry: Mutex::new(Registry {
                index: Index::default(),
                groups: Vec::new(),
                free: Vec::new(),
                shared_groups: HashMap::new(),
                retained: (retain > 0).then(|| Retained::new(retain)),
                subscriptions: 0,
                closed: false,
                counters: Counters::default(),
            }),
            closed: AtomicBool::new(false),
            watch: Mutex::new(None),
            capacity,
            handles: AtomicUsize::new(1),
            next_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Registry<T>> {
        lock(&self.registry)
    }

    pub(crate) fn watch(&self) -> &Mutex<Option<Pin<Box<WaitForCancellationFutureOwned>>>> {
        &self.watch
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn close(&self) {
        let rings: Vec<Arc<Ring<T>>> = {
            let mut registry = self.lock();
            if registry.closed {
                return;
            }
            registry.closed = true;
            self.closed.store(true, Ordering::Release);
            // Every ring is marked before anyone is woken, so that no wake-up can stop
            // another ring from closing.
            let rings: Vec<_> = registry
                .groups
                .iter()
                .flatten()
                .map(|group| Arc::clone(&group.ring))
                .collect();
            rings.iter().for_each(|ring| ring.mark_closed());
            tracing::debug!(subscriptions = registry.subscriptions, "bus closed");
            rings
        };
        rings.iter().for_each(|ring| ring.close());
    }

    /// Validates `subject`, routes `msg` and writes it to every matching group. With a waker,
    /// first makes sure every matching blocking group has room, registering the waker (at
    /// the place the ticket holds) and handing the message back if one has not; without,
    /// refuses the message to full groups.
    pub(crate) fn deliver(
        &self,
        subject: &str,
        msg: T,
        wait: Option<(&Waker, &mut WaitTicket<T>)>,
    ) -> Outcome<T>
    where
        T: Clone,
    {
        let mut guard = self.lock();
        let registry = &mut *guard;
        let (slots, subject) = match registry.index.route(subject) {
            Ok(route) => route,
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

        if let Some((waker, ticket)) = wait {
            for &slot in &matched {
                let Some(Some(group)) = registry.groups.get_mut(slot as usize) else {
                    continue;
                };
                if group.policy != LagPolicy::Block || group.has_room() {
                    continue;
                }
                // Wake up as soon as the slowest member frees the oldest slot: the one it
                // frees by reading message `slowest`, which moves its cursor to `needs`.
                let needs = group.limit - group.ring.capacity() + 1;
                let mut place = match ticket.take() {
                    Some((ring, place)) if Arc::ptr_eq(&ring, &group.ring) => Some(place),
                    _ => None,
                };
                group.ring.wait_for_room(waker, &mut place, needs);
                *ticket = place.map(|place| (Arc::clone(&group.ring), place));
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
                if let Some(Some(group)) = registry.groups.get_mut(slot as usize) {
                    write(group, subject, msg.clone(), &mut delivery);
                }
            }
            if let Some(Some(group)) = registry.groups.get_mut(last as usize) {
                write(group, subject, msg, &mut delivery);
            }
        }
        let mut woken = WOKEN.take();
        if delivery.delivered > 0 {
            // One fence for every ring written; see `Ring::take_parked`.
            fence(Ordering::SeqCst);
            for &slot in &matched {
                if let Some(Some(group)) = registry.groups.get(slot as usize) {
                    group.ring.take_parked(&mut woken);
                }
            }
        }
        MATCHED.set(matched);
        let counters = &mut registry.counters;
        counters.published += 1;
        counters.delivered += delivery.delivered as u64;
        counters.refused += delivery.refused.len() as u64;
        drop(guard);
        // Woken after the lock: waking runs the executor's code. Usually nobody is parked, and
        // an empty drain still wrote the vector's length just before `set` reads it back.
        if !woken.is_empty() {
            woken.drain(..).for_each(Waker::wake);
        }
        WOKEN.set(woken);
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
        if capacity == 0 {
            return Err(SubscribeError::ZeroCapacity);
        }
        if capacity > MAX_CAPACITY {
            return Err(SubscribeError::CapacityTooLarge {
                requested: capacity,
                max: MAX_CAPACITY,
            });
        }
        let key = (filter.is_none() && policy != LagPolicy::DropNewest).then(|| GroupKey {
            pattern: pattern.as_str().into(),
            capacity,
            policy,
        });
        let id = SubscriberId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let member = Arc::new(Member::new(id, pattern.clone(), policy, capacity, 0));

        let mut guard = self.lock();
        let registry = &mut *guard;
        if registry.closed {
            return Err(SubscribeError::Closed);
        }
        // Runs the filter and clones messages: user code, before any change.
        let history = if replay == 0 {
            Vec::new()
        } else {
            match &registry.retained {
                Some(retained) if replay <= retained.depth() => {
                    retained.replay(&pattern, replay, |m| {
                        filter.as_ref().is_none_or(|keep| keep(m))
                    })
                }
                retained => {
                    return Err(SubscribeError::ReplayExceedsRetention {
                        requested: replay,
                        retained: retained.as_ref().map_or(0, Retained::depth),
                    });
                }
            }
        };

        let existing = key
            .as_ref()
            .and_then(|k| registry.shared_groups.get(k).copied())
            .filter(|&slot| matches!(registry.groups.get(slot as usize), Some(Some(_))));
        let slot = match existing {
            Some(slot) => slot,
            None => {
                let slot = match registry.free.last() {
                    Some(&slot) => slot,
                    None => u32::try_from(registry.groups.len())
                        .map_err(|_| SubscribeError::TooManySubscriptions)?,
                };
                // Allocate before changing anything, so that a failure leaves no trace.
                let group = Group {
                    ring: Arc::new(Ring::new(capacity, policy == LagPolicy::DropOldest)),
                    pattern,
                    policy,
                    filter,
                    members: Vec::with_capacity(1),
                    tail: 0,
                    tail_slot: 0,
                    limit: 0,
                    key: key.clone(),
                };
                registry.groups.reserve(1);
                registry.shared_groups.reserve(1);
                registry.index.insert(group.pattern.tokens(), slot);
                // Nothing below allocates beyond what was reserved.
                if registry.free.last() == Some(&slot) {
                    registry.free.pop();
                } else {
                    registry.groups.push(None);
                }
                if let Some(key) = key {
                    registry.shared_groups.insert(key, slot);
                }
                registry.groups[slot as usize] = Some(group);
                slot
            }
        };
        let Some(Some(group)) = registry.groups.get_mut(slot as usize) else {
            // `slot` was checked or filled just above.
            return Err(SubscribeError::Closed);
        };
        group.members.reserve(1);
        member.set_held(history.len());
        member.next.store(group.tail, Ordering::Release);
        group.members.push(Arc::clone(&member));
        registry.subscriptions += 1;
        Ok(Registration {
            ring: Arc::clone(&group.ring),
            next: group.tail,
            member,
            group: slot,
            replay: history,
            shared_with: group.members.len() - 1,
        })
    }

    pub(crate) fn unregister(&self, slot: u32, member: &Arc<Member>) {
        let (ring, removed) = {
            let mut guard = self.lock();
            let registry = &mut *guard;
            let Some(Some(group)) = registry.groups.get_mut(slot as usize) else {
                return;
            };
            let before = group.members.len();
            group.members.retain(|m| !Arc::ptr_eq(m, member));
            if group.members.len() == before {
                return;
            }
            registry.subscriptions -= 1;
            registry.counters.lagged_by_gone += member.dropped.load(Ordering::Relaxed);
            // The leaver may have been the slowest: let waiting publishers look again.
            group.limit = 0;
            let ring = Arc::clone(&group.ring);
            let mut removed = None;
            if group.members.is_empty() {
                if let Some(key) = group.key.take() {
                    registry.shared_groups.remove(&key);
                }
                removed = registry.groups[slot as usize].take();
                if let Some(group) = &removed {
                    registry.index.remove(group.pattern.tokens(), slot);
                }
                registry.free.push(slot);
            }
            (ring, removed)
        };
        // After the lock: waking runs the executor's code, and dropping a group its filter's
        // and its messages' `Drop`.
        ring.release_publishers();
        drop(removed);
        tracing::debug!(
            subscriber = member.id.as_u64(),
            pattern = %member.pattern,
            "bus subscription dropped"
        );
    }

    pub(crate) fn default_capacity(&self) -> usize {
        self.capacity
    }
}

/// Writes `msg` to `group`, or refuses it to every member when the group is full and may
/// not overwrite.
fn write<T>(group: &mut Group<T>, subject: &Arc<str>, msg: T, delivery: &mut Delivery) {
    if group.policy != LagPolicy::DropOldest && !group.has_room() {
        for member in &group.members {
            member.refused(group.tail);
            delivery.refused.push(member.id);
        }
        return;
    }
    group.ring.write(group.tail, group.tail_slot, subject, msg);
    group.tail += 1;
    group.tail_slot = group.ring.following(group.tail_slot);
    delivery.delivered += group.members.len();
}
