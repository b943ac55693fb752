//! The buffer behind a group of subscriptions: a ring of slots written once per message and
//! read by every member at its own cursor.
//!
//! Subscriptions with the same pattern, capacity and lag policy (and no filter) share one
//! ring, so a publish costs the same whether one or a hundred of them listen. Publishers are
//! serialised by the bus's registry lock, so `tail` has a single writer.
//!
//! How a slot is shared between the publisher and the readers depends on the ring:
//!
//! - A ring that never overwrites an unread message (blocking and drop-newest groups: the
//!   publisher waits or refuses while any member still has to read the slot) takes no lock
//!   at all. A slot a reader has seen written stays untouched until every member has moved
//!   past it, so readers only share the slot's line, instead of taking turns at a lock on it
//!   (two atomic read-modify-writes per read, on a line the publisher writes: the largest cost
//!   of a read in a lossless fan-out). This is the one `unsafe` module of the crate: `write`
//!   and `read` hold the proof, the models in `tests/loom_*.rs` check the hand-offs, and
//!   `tests/prop_rings.rs` checks the rings against a reference model.
//! - A drop-oldest ring may overwrite a slot while a slow member reads it, so there every slot
//!   has a lock, as in `tokio::sync::broadcast`, which the publisher takes to write and
//!   readers to read. A reader waits for the writer only when both want the very same slot.
#![allow(unsafe_code)]

use std::sync::{Arc, PoisonError};
use std::task::Waker;

use crossbeam_utils::CachePadded;

use crate::loom::{AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering, RwLock, UnsafeCell, fence};
use crate::waiters::{Ticket, Waiters};

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section in this crate leaves its data consistent between statements, so
    // a poisoned lock (a panicking filter, say) is still safe to use.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One message's place in the ring, on a cache line of its own. Unpadded, four slots share
/// three lines, so the publisher writing the next slot and readers of the one just written
/// fight over the same line: that false sharing was the largest single cost of a lossless
/// fan-out.
#[repr(align(64))]
struct Slot<T> {
    /// In a drop-oldest ring, held by the publisher while it writes `seq` and `value`, and
    /// by readers while they read them; unused in the others (see the module docs).
    lock: RwLock<()>,
    /// Sequence number of the message held; `u64::MAX` while never written. Readers of a
    /// drop-oldest ring learn from it whether the message was overwritten.
    seq: AtomicU64,
    /// The message and its subject: the publisher's one `Arc` for the subject, cloned once
    /// per ring, so readers that do not ask for it never touch its count.
    value: UnsafeCell<Option<(Arc<str>, T)>>,
}

impl<T> Slot<T> {
    /// Puts `msg` (to `subject`) in the slot; returns what it held, for the caller to drop.
    ///
    /// # Safety
    ///
    /// The caller is the publisher, and no reader is reading the slot: it holds the slot's
    /// write lock, or the ring does not overwrite and every member has read the slot's
    /// previous message.
    #[inline(always)]
    unsafe fn replace(&self, subject: &Arc<str>, msg: T) -> (Option<Arc<str>>, Option<T>) {
        // SAFETY: the caller guarantees that nobody else is in the cell.
        self.value.with_mut(|value| match unsafe { &mut *value } {
            // A run of messages to one subject shares the publisher's `Arc`: the slot keeps
            // the one it holds, which spares two atomic count updates per ring and message.
            Some((held, value)) if Arc::ptr_eq(held, subject) => {
                (None, Some(std::mem::replace(value, msg)))
            }
            empty_or_other => match empty_or_other.replace((Arc::clone(subject), msg)) {
                Some((subject, value)) => (Some(subject), Some(value)),
                None => (None, None),
            },
        })
    }
}

// SAFETY: `value` is written only by the publisher. In a drop-oldest ring, it writes under the
// slot's write lock and readers read under its read lock; in the others, the room check keeps
// the writer and the readers of a slot apart (see `Ring::write` and `Ring::read`). Readers
// share `&T` across threads (`T: Sync`); the publisher moves values in and out (`T: Send`).
unsafe impl<T: Send + Sync> Sync for Slot<T> {}

pub(crate) struct Ring<T> {
    slots: Box<[Slot<T>]>,
    capacity: u64,
    /// Whether the publisher may write over a message a member has not read (drop-oldest):
    /// then readers must take the slot's lock.
    overwrites: bool,
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
    /// Read by every member after every read, written only when a publisher starts or stops
    /// waiting: on a line of its own, away from the parked readers' list, which changes
    /// whenever one parks.
    publisher_needs: CachePadded<AtomicU64>,
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
    /// A ring of `capacity` slots; `overwrites` for a drop-oldest group.
    pub(crate) fn new(capacity: usize, overwrites: bool) -> Self {
        Self {
            slots: (0..capacity)
                .map(|_| Slot {
                    lock: RwLock::new(()),
                    seq: AtomicU64::new(u64::MAX),
                    value: UnsafeCell::new(None),
                })
                .collect(),
            capacity: capacity as u64,
            overwrites,
            tail: CachePadded::new(AtomicU64::new(0)),
            closed: AtomicBool::new(false),
            receivers: Mutex::new(Waiters::default()),
            receivers_waiting: AtomicBool::new(false),
            publishers: Mutex::new(Waiters::default()),
            publisher_needs: CachePadded::new(AtomicU64::new(u64::MAX)),
        }
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The index of the slot that holds message `seq`. Readers and the publisher call this
    /// only when they jump; otherwise they step their index along with their sequence number
    /// ([`following`](Self::following)): a 64-bit division takes tens of cycles on some CPUs,
    /// and was the largest cost of a read.
    pub(crate) fn slot_of(&self, seq: u64) -> usize {
        (seq % self.capacity) as usize
    }

    /// The index of the slot after `index`.
    pub(crate) fn following(&self, index: usize) -> usize {
        if index + 1 == self.slots.len() {
            0
        } else {
            index + 1
        }
    }

    /// The slot at `index`, which holds message `seq`.
    fn slot(&self, seq: u64, index: usize) -> &Slot<T> {
        debug_assert_eq!(index, self.slot_of(seq), "a slot index out of step");
        &self.slots[index]
    }

    pub(crate) fn tail(&self) -> u64 {
        self.tail.load(Ordering::Acquire)
    }

    /// Writes message `seq` to the slot at `index`. Only called with the registry lock held, so
    /// there is one writer, and, in a ring that does not overwrite, only once every member has read
    /// message `seq - capacity`, the slot's previous occupant. The caller then wakes parked readers
    /// with [`take_parked`](Self::take_parked).
    pub(crate) fn write(&self, seq: u64, index: usize, subject: &Arc<str>, msg: T) {
        // The old message is dropped last, and in its two halves: moved as one pair across
        // the unlock, it went to the stack in 8-byte stores and came back in 16-byte loads, a
        // store-forwarding stall that took a fifth of a fan-out to eight rings on one thread.
        let slot = self.slot(seq, index);
        if self.overwrites {
            let guard = slot.lock.write().unwrap_or_else(PoisonError::into_inner);
            // SAFETY: we hold the slot's write lock, and readers take its read lock.
            let (old_subject, old_msg) = unsafe { slot.replace(subject, msg) };
            self.publish(slot, seq);
            drop(guard);
            // The old message, outside the slot's lock.
            drop(old_msg);
            drop(old_subject);
        } else {
            // SAFETY: no reader is in the cell: every member's cursor is past this slot's
            // previous message (the room check read them with `Acquire`), and none reads
            // message `seq` before the tail stored by `publish` says it is there.
            let (old_subject, old_msg) = unsafe { slot.replace(subject, msg) };
            self.publish(slot, seq);
            drop(old_msg);
            drop(old_subject);
        }
    }

    /// Makes message `seq`, just written to `slot`, visible to readers.
    #[inline]
    fn publish(&self, slot: &Slot<T>, seq: u64) {
        // Readers learn that the message is there from the tail, so that one polling for the
        // next message leaves this slot's line to us (see `read`).
        slot.seq.store(seq, Ordering::Relaxed);
        self.tail.store(seq + 1, Ordering::Release);
    }

    /// Moves the wakers of the readers parked on this ring into `woken`, for the publisher to
    /// wake once it has released the registry lock. The publisher calls it after writing a
    /// message to every ring it goes to and then passing one `SeqCst` fence. A parking reader
    /// sets `receivers_waiting`, passes a fence and looks at the tail (see `park`): if its
    /// fence came first, we see the flag; if ours did, it sees the new tail and does not
    /// sleep.
    pub(crate) fn take_parked(&self, woken: &mut Vec<Waker>) {
        if self.receivers_waiting.load(Ordering::Relaxed) {
            let mut receivers = lock(&self.receivers);
            self.receivers_waiting.store(false, Ordering::Relaxed);
            receivers.take_into(woken);
        }
    }

    /// Reads message `seq` from the slot at `index`: the slot says whether it holds that
    /// message, an older one (not written yet) or a newer one (overwritten). `take` makes the
    /// reader's copy of the subject and message. The caller moves its cursor afterwards, then
    /// calls [`reached`](Self::reached).
    ///
    /// `known_tail` is the reader's copy of the tail: below it, a read need not look at the
    /// tail again. A reader that has caught up with it reloads the tail, and never polls the
    /// slot itself, which would pull the slot's line away from the publisher about to write it.
    ///
    /// # Safety
    ///
    /// The caller is a member of this ring's group whose cursor is at `seq`, and does not
    /// move it past `seq` until `take` has returned.
    pub(crate) unsafe fn read<R>(
        &self,
        seq: u64,
        index: usize,
        known_tail: &mut u64,
        take: impl FnOnce(&Arc<str>, &T) -> R,
    ) -> Read<R> {
        if seq >= *known_tail {
            *known_tail = self.tail();
            if seq >= *known_tail {
                return Read::Empty;
            }
        }
        let slot = self.slot(seq, index);
        if !self.overwrites {
            debug_assert_eq!(
                slot.seq.load(Ordering::Relaxed),
                seq,
                "the publisher overwrote a message of a ring that must not overwrite"
            );
            // SAFETY: the tail we loaded with `Acquire` was stored after message `seq` was
            // written, so the write happened before this read. The next write of this slot is
            // message `seq + capacity`, which the publisher makes only once every member's
            // cursor, ours included, is past `seq`; we move ours only after `take` returns,
            // and the publisher reads cursors with `Acquire`, so that write happens after this
            // read.
            return slot.value.with(|value| match unsafe { &*value } {
                Some((subject, value)) => Read::Message(take(subject, value)),
                None => Read::Empty,
            });
        }
        let guard = slot.lock.read().unwrap_or_else(PoisonError::into_inner);
        let held = slot.seq.load(Ordering::Relaxed);
        if held == seq {
            // SAFETY: we hold the slot's read lock; the publisher writes only under its write
            // lock.
            let value = slot
                .value
                .with(|value| unsafe { &*value }.as_ref().map(|(s, v)| take(s, v)));
            if let Some(msg) = value {
                return Read::Message(msg);
            }
        }
        drop(guard);
        if held == u64::MAX || held < seq {
            return Read::Empty;
        }
        // Overwritten: resume at the oldest message still buffered.
        let resume_at = self.tail().saturating_sub(self.capacity).max(seq + 1);
        Read::Overrun { resume_at }
    }

    /// Wakes the publishers waiting for a member to reach `cursor`, if they wait for that.
    ///
    /// The caller is the member, which has just moved its cursor there with a `SeqCst`
    /// store. `wait_for_room` passes a `SeqCst` fence between storing what it needs and
    /// looking at the cursors, so either the waiting publisher sees this cursor, or we see
    /// what it needs and wake it.
    pub(crate) fn reached(&self, cursor: u64) {
        if self.publisher_needs.load(Ordering::SeqCst) == cursor {
            // This read freed the slot a publisher waits for.
            self.release_publishers();
        }
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
        // The hand-off with the publisher; see `take_parked`.
        fence(Ordering::SeqCst);
        let arrived = self.tail() > cursor;
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
        // The hand-off with `reached`: the reader that frees the slot moves its cursor with a
        // `SeqCst` store and looks at `publisher_needs`. Passing one between the
        // store above and the caller's re-check orders us with that reader: if its fence came
        // first, the re-check sees its cursor; if ours did, it sees `needs` and wakes us.
        fence(Ordering::SeqCst);
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
