//! The buffer behind a group of subscriptions: a ring of slots written once per message and
//! read by every member at its own cursor.
//!
//! Subscriptions with the same pattern, capacity and lag policy (and no filter) share one
//! ring, so a publish costs the same whether one or a hundred of them listen. Publishers are
//! serialised by the bus's registry lock, so `tail` has a single writer. Every slot has its
//! own lock, as in `tokio::sync::broadcast`: a reader only ever waits for the writer when
//! both want the very same slot, never because they are in the same part of the ring.

use std::sync::{Arc, PoisonError};
use std::task::Waker;

use crossbeam_utils::CachePadded;

use crate::loom::{AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering, RwLock};
use crate::waiters::{Ticket, Waiters};

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section in this crate leaves its data consistent between statements, so
    // a poisoned lock (a panicking filter, say) is still safe to use.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Slot<T> {
    /// Sequence number of the message held; `u64::MAX` while never written.
    seq: u64,
    /// The message and its subject: the publisher's one `Arc` for the subject, cloned once
    /// per ring, so readers that do not ask for it never touch its count.
    value: Option<(Arc<str>, T)>,
}

/// A slot's lock on a cache line of its own. Unpadded, four 48-byte slots share three lines,
/// so the publisher writing the next slot and readers locking the one just written fight over
/// the same line: that false sharing was the largest single cost of a lossless fan-out.
#[repr(align(64))]
struct PaddedSlot<T>(RwLock<Slot<T>>);

pub(crate) struct Ring<T> {
    slots: Box<[PaddedSlot<T>]>,
    capacity: u64,
    /// Sequence number of the next message; everything below it is readable. On a cache
    /// line of its own: it changes with every message, and must not drag the fields every
    /// reader looks at (closed, the publisher's needs) along with it.
    tail: CachePadded<AtomicU64>,
    closed: AtomicBool,
    receivers: Mutex<Waiters>,
    receivers_waiting: AtomicBool,
    publishers: Mutex<Waiters>,
    /// While a publisher waits for room: the cursor a member reaches by reading the oldest
    /// message of the ring, which frees a slot (`u64::MAX` when none waits). The member that
    /// reaches it wakes the publisher; see `wait_for_room`.
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
                    PaddedSlot(RwLock::new(Slot {
                        seq: u64::MAX,
                        value: None,
                    }))
                })
                .collect(),
            capacity: capacity as u64,
            tail: CachePadded::new(AtomicU64::new(0)),
            closed: AtomicBool::new(false),
            receivers: Mutex::new(Waiters::default()),
            receivers_waiting: AtomicBool::new(false),
            publishers: Mutex::new(Waiters::default()),
            publisher_needs: AtomicU64::new(u64::MAX),
        }
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The slot holding message `seq`.
    fn slot(&self, seq: u64) -> &RwLock<Slot<T>> {
        &self.slots[(seq % self.capacity) as usize].0
    }

    pub(crate) fn tail(&self) -> u64 {
        self.tail.load(Ordering::Acquire)
    }

    /// Writes message `seq`. Only called with the registry lock held, so there is one writer.
    /// `spare` is an empty buffer swapped with the list of parked readers, so that waking
    /// them does not allocate.
    pub(crate) fn write(&self, seq: u64, subject: Arc<str>, msg: T, spare: &mut Vec<Waker>) {
        let old = {
            let mut slot = self
                .slot(seq)
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            slot.seq = seq;
            let old = slot.value.replace((subject, msg));
            // Published before the unlock, so that a reader who saw this slot under the lock
            // (in `park`) also sees the tail that `read` checks first.
            self.tail.store(seq + 1, Ordering::Release);
            old
        };
        // A parking reader sets the flag before it re-reads this very slot (see `park`). The
        // slot's lock orders the two: if its re-read came first, our write lock synchronised
        // with its unlock and we see the flag; otherwise it sees our message.
        if self.receivers_waiting.load(Ordering::Relaxed) {
            {
                let mut receivers = lock(&self.receivers);
                self.receivers_waiting.store(false, Ordering::Relaxed);
                receivers.take_into(spare);
            }
            spare.drain(..).for_each(Waker::wake);
        }
        // Drop the overwritten message outside the slot lock.
        drop(old);
    }

    /// Reads message `seq` for the member whose cursor is `cursor`, and on success moves
    /// that cursor past it. The slot says whether it holds that message, an older one (not
    /// written yet) or a newer one (overwritten). `take` makes the reader's copy of the
    /// subject and message, under the slot's lock.
    pub(crate) fn read<R>(
        &self,
        seq: u64,
        cursor: &AtomicU64,
        take: impl FnOnce(&Arc<str>, &T) -> R,
    ) -> Read<R> {
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
            if let Some((subject, value)) = &slot.value {
                let msg = take(subject, value);
                // Both under the slot's lock, which `wait_for_room` takes too: either the
                // waiting publisher's re-check sees this cursor, or we see what it needs.
                cursor.store(seq + 1, Ordering::Release);
                let needs = self.publisher_needs.load(Ordering::Relaxed);
                drop(slot);
                if needs == seq + 1 {
                    // This read freed the slot a publisher waits for.
                    self.release_publishers();
                }
                return Read::Message(msg);
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
            receivers.take()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Registers a reader that found nothing at `cursor`, at the place its `ticket` holds if
    /// it is still parked; returns `true` if something arrived meanwhile (the caller must
    /// look again rather than sleep).
    pub(crate) fn park(&self, waker: &Waker, ticket: &mut Option<Ticket>, cursor: u64) -> bool {
        {
            let mut receivers = lock(&self.receivers);
            receivers.register(waker, ticket);
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

    /// Registers a publisher waiting until a member's cursor reaches `needs`, that is, until
    /// the member reads message `needs - 1`, the oldest in the ring, and so frees its slot.
    /// The caller holds the registry lock, so publishers are serialised, and must re-check
    /// the cursors afterwards.
    pub(crate) fn wait_for_room(&self, waker: &Waker, ticket: &mut Option<Ticket>, needs: u64) {
        {
            let mut publishers = lock(&self.publishers);
            publishers.register(waker, ticket);
            // Overwrite rather than keep the minimum: a value left from an earlier wait that
            // ended without a wake (the re-check found room) would lie below every cursor and
            // never be reached again. Publishers waiting together on a full ring see the same
            // slowest cursor, so they need the same value.
            self.publisher_needs.store(needs, Ordering::Relaxed);
        }
        // The hand-off with `read`: the reader that frees the slot moves its cursor and looks
        // at `publisher_needs` while it holds the slot's lock. Taking that lock after the
        // store above orders us with that reader: if it went first, the caller's re-check
        // sees its cursor; if we go first, it sees `needs` and wakes us. Publishers only write
        // under the registry lock, which the caller holds, so this lock is never contended by
        // another writer.
        let slot = needs.saturating_sub(1);
        drop(
            self.slot(slot)
                .write()
                .unwrap_or_else(PoisonError::into_inner),
        );
    }

    /// Runs `f` while holding the write lock of the slot of message `seq`: no read of that
    /// message is in flight meanwhile, and a read that starts afterwards sees everything
    /// written before `f` returned. Used by an abort to settle a reader's cursor.
    pub(crate) fn with_slot_locked<R>(&self, seq: u64, f: impl FnOnce() -> R) -> R {
        let _slot = self
            .slot(seq)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        f()
    }

    /// Wakes every waiting publisher, which then looks for room again.
    pub(crate) fn release_publishers(&self) {
        let wakers = {
            let mut publishers = lock(&self.publishers);
            self.publisher_needs.store(u64::MAX, Ordering::Relaxed);
            publishers.take()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Marks the ring closed without waking anyone; see [`close`](Self::close).
    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Marks the ring closed and wakes everyone; readers drain what is left, then see the
    /// ring closed.
    pub(crate) fn close(&self) {
        self.mark_closed();
        self.wake_receivers();
        self.release_publishers();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}
