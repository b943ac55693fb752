//! The buffer behind a group of subscriptions: a ring of slots written once per message and
//! read by every member at its own cursor.
//!
//! Subscriptions with the same pattern, capacity and lag policy (and no filter) share one
//! ring, so a publish costs the same whether one or a hundred of them listen. Publishers are
//! serialised by the bus's registry lock, so `tail` has a single writer. Every slot has its
//! own lock, as in `tokio::sync::broadcast`: a reader only ever waits for the writer when
//! both want the very same slot, never because they are in the same part of the ring.

use std::collections::VecDeque;
use std::sync::PoisonError;

use crate::loom::{AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering, RwLock, fence};
use std::task::Waker;

use crate::{LagPolicy, Pattern, SubscriberId, SubscriberStats};

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section in this crate leaves its data consistent between statements, so
    // a poisoned lock (a panicking filter, say) is still safe to use.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Slot<T> {
    /// Sequence number of the message held; `u64::MAX` while never written.
    seq: u64,
    value: Option<T>,
}

/// Keeps a value on a cache line of its own: `tail` changes with every message, and must not
/// drag the fields every reader looks at (closed, the publisher's needs) along with it.
#[repr(align(64))]
struct Padded<T>(T);

pub(crate) struct Ring<T> {
    slots: Box<[RwLock<Slot<T>>]>,
    capacity: u64,
    /// Sequence number of the next message; everything below it is readable.
    tail: Padded<AtomicU64>,
    closed: AtomicBool,
    receivers: Mutex<Vec<Waker>>,
    receivers_waiting: AtomicBool,
    publishers: Mutex<Vec<Waker>>,
    /// While a publisher waits for room: the cursor every member must reach before it is
    /// woken (`u64::MAX` when none waits).
    publisher_needs: AtomicU64,
}

/// Where a read at a cursor landed.
pub(crate) enum Read<T> {
    /// The message at the cursor.
    Message(T),
    /// The slot was overwritten (drop-oldest): resume at this sequence number.
    Overrun { resume_at: u64 },
    /// Nothing at this cursor yet.
    Empty,
}

impl<T> Ring<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            slots: (0..capacity)
                .map(|_| {
                    RwLock::new(Slot {
                        seq: u64::MAX,
                        value: None,
                    })
                })
                .collect(),
            capacity: capacity as u64,
            tail: Padded(AtomicU64::new(0)),
            closed: AtomicBool::new(false),
            receivers: Mutex::new(Vec::new()),
            receivers_waiting: AtomicBool::new(false),
            publishers: Mutex::new(Vec::new()),
            publisher_needs: AtomicU64::new(u64::MAX),
        }
    }

    /// How far past the slowest reader's cursor a waiting publisher asks readers to get
    /// before it is woken: a sixteenth of the ring, so that a publisher held back by one slow
    /// reader does not take turns with it one message at a time.
    pub(crate) fn publisher_resumes_after(capacity: u64) -> u64 {
        capacity / 16
    }

    /// Readers of blocking groups tell waiting publishers about their progress every this
    /// many messages (and whenever they catch up); finer than `publisher_resumes_after`.
    pub(crate) fn check_interval(capacity: usize) -> u64 {
        (capacity as u64 / 16).max(1)
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The slot holding message `seq`.
    fn slot(&self, seq: u64) -> &RwLock<Slot<T>> {
        &self.slots[(seq % self.capacity) as usize]
    }

    pub(crate) fn tail(&self) -> u64 {
        self.tail.0.load(Ordering::Acquire)
    }

    /// Writes message `seq`. Only called with the registry lock held, so there is one writer.
    /// `spare` is an empty buffer swapped with the list of parked readers, so that waking
    /// them does not allocate.
    pub(crate) fn write(&self, seq: u64, msg: T, spare: &mut Vec<Waker>) {
        let old = {
            let mut slot = self
                .slot(seq)
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            slot.seq = seq;
            let old = slot.value.replace(msg);
            // Published before the unlock, so that a reader who saw this slot under the lock
            // (in `park`) also sees the tail that `read` checks first.
            self.tail.0.store(seq + 1, Ordering::Release);
            old
        };
        // A parking reader sets the flag before it re-reads this very slot (see `park`). The
        // slot's lock orders the two: if its re-read came first, our write lock synchronised
        // with its unlock and we see the flag; otherwise it sees our message.
        if self.receivers_waiting.load(Ordering::Relaxed) {
            {
                let mut receivers = lock(&self.receivers);
                self.receivers_waiting.store(false, Ordering::Relaxed);
                std::mem::swap(&mut *receivers, spare);
            }
            spare.drain(..).for_each(Waker::wake);
        }
        // Drop the overwritten message outside the slot lock.
        drop(old);
    }

    /// Reads message `seq`. The slot says whether it holds that message, an older one (not
    /// written yet) or a newer one (overwritten).
    pub(crate) fn read(&self, seq: u64) -> Read<T>
    where
        T: Clone,
    {
        // A caught-up reader polls here again and again while the publisher writes the very
        // slot it would lock; a plain load of the tail answers "nothing yet" without
        // contending for that lock. A stale tail only delays the read: `park` re-checks the
        // slot under its lock before sleeping, and once it has seen the slot it sees the
        // tail too (see `write`).
        if self.tail() <= seq {
            return Read::Empty;
        }
        let slot = self
            .slot(seq)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.seq == seq {
            if let Some(value) = &slot.value {
                return Read::Message(value.clone());
            }
        }
        if slot.seq == u64::MAX || slot.seq < seq {
            return Read::Empty;
        }
        drop(slot);
        // Overwritten: resume at the oldest message still buffered.
        let resume_at = self.tail().saturating_sub(self.capacity).max(seq + 1);
        Read::Overrun { resume_at }
    }

    fn wake_receivers(&self) {
        let wakers = {
            let mut receivers = lock(&self.receivers);
            self.receivers_waiting.store(false, Ordering::Relaxed);
            std::mem::take(&mut *receivers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Registers a reader that found nothing at `cursor`; returns `true` if something arrived
    /// meanwhile (the caller must look again rather than sleep).
    pub(crate) fn park(&self, waker: &Waker, cursor: u64) -> bool {
        {
            let mut receivers = lock(&self.receivers);
            if !receivers.iter().any(|w| w.will_wake(waker)) {
                receivers.push(waker.clone());
            }
            self.receivers_waiting.store(true, Ordering::Relaxed);
        }
        // Re-read the slot the next message goes to; see `write` for why this cannot miss it.
        let arrived = {
            let slot = self
                .slot(cursor)
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            slot.seq != u64::MAX && slot.seq >= cursor
        };
        // `close` sets the flag before taking the parked wakers under the same lock.
        arrived || self.is_closed()
    }

    /// Called by a reader of a blocking group after moving its cursor from `from` to `to`:
    /// wakes a waiting publisher when this reader crosses the cursor it waits for. Only the
    /// crossing wakes, so fast readers do not keep waking a publisher that is held back by a
    /// slower one.
    pub(crate) fn cursor_moved(&self, from: u64, to: u64) {
        // Pairs with the fence in `wait_for_room`: either the publisher's re-check sees our
        // cursor, or we see what it needs.
        fence(Ordering::SeqCst);
        let needs = self.publisher_needs.load(Ordering::Relaxed);
        if from < needs && needs <= to {
            self.release_publishers();
        }
    }

    /// Registers a publisher waiting until every member's cursor reaches `needs`. The caller
    /// re-checks the cursors afterwards.
    pub(crate) fn wait_for_room(&self, waker: &Waker, needs: u64) {
        let mut publishers = lock(&self.publishers);
        if !publishers.iter().any(|w| w.will_wake(waker)) {
            publishers.push(waker.clone());
        }
        // Overwrite rather than keep the minimum: a value left from an earlier wait that ended
        // without a wake (the re-check found room) would lie below every cursor, and no
        // reader would ever cross it again. Publishers waiting together on a full ring see
        // the same tail, so they need the same cursor.
        self.publisher_needs.store(needs, Ordering::SeqCst);
        // Pairs with the fence in `cursor_moved`: either the caller's re-check of the cursors
        // sees a reader's progress, or that reader sees what we need and wakes us.
        fence(Ordering::SeqCst);
    }

    /// Wakes every waiting publisher, which then looks for room again.
    pub(crate) fn release_publishers(&self) {
        let wakers = {
            let mut publishers = lock(&self.publishers);
            self.publisher_needs.store(u64::MAX, Ordering::SeqCst);
            std::mem::take(&mut *publishers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Wakes everyone; readers drain what is left, then see the ring closed.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake_receivers();
        self.release_publishers();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// One subscription's cursor and counters, shared between the subscriber (which moves the
/// cursor) and the bus (which reads it for backpressure and metrics).
pub(crate) struct Member {
    pub(crate) id: SubscriberId,
    pub(crate) pattern: Pattern,
    pub(crate) policy: LagPolicy,
    pub(crate) capacity: usize,
    /// The next sequence number this member will read.
    pub(crate) next: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) dropped: AtomicU64,
    /// Messages refused for this member: (sequence number the gap precedes, how many).
    gaps: Mutex<VecDeque<(u64, u64)>>,
    has_gaps: AtomicBool,
}

impl Member {
    pub(crate) fn new(
        id: SubscriberId,
        pattern: Pattern,
        policy: LagPolicy,
        capacity: usize,
        next: u64,
    ) -> Self {
        Self {
            id,
            pattern,
            policy,
            capacity,
            next: AtomicU64::new(next),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            gaps: Mutex::new(VecDeque::new()),
            has_gaps: AtomicBool::new(false),
        }
    }

    /// Records that the message which would have been number `at` was refused.
    pub(crate) fn refused(&self, at: u64) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        let mut gaps = lock(&self.gaps);
        match gaps.back_mut() {
            Some((last, count)) if *last == at => *count += 1,
            _ => gaps.push_back((at, 1)),
        }
        self.has_gaps.store(true, Ordering::Release);
    }

    /// The gap a reader at `cursor` must report before reading on, if any.
    pub(crate) fn take_gap(&self, cursor: u64) -> Option<u64> {
        if !self.has_gaps.load(Ordering::Acquire) {
            return None;
        }
        let mut gaps = lock(&self.gaps);
        let (at, count) = *gaps.front()?;
        if at > cursor {
            return None;
        }
        gaps.pop_front();
        if gaps.is_empty() {
            self.has_gaps.store(false, Ordering::Release);
        }
        Some(count)
    }

    pub(crate) fn stats(&self, tail: u64) -> SubscriberStats {
        let next = self.next.load(Ordering::Acquire);
        SubscriberStats {
            id: self.id,
            pattern: self.pattern.clone(),
            policy: self.policy,
            capacity: self.capacity,
            queued: usize::try_from(tail.saturating_sub(next))
                .unwrap_or(usize::MAX)
                .min(self.capacity),
            received: self.received.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}
