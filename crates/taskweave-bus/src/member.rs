//! One subscription's place in its group: its cursor, its counters and the gaps it must
//! report.

use std::collections::VecDeque;

use crate::loom::{AtomicBool, AtomicU64, Mutex, Ordering};
use crate::ring::lock;
use crate::{LagPolicy, Pattern, SubscriberId, SubscriberMetrics};

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
    /// Gaps to report and the abort state, behind one lock; `has_gaps` says whether there is
    /// anything to look at, so that the read path only pays for an atomic load.
    gaps: Mutex<Gaps>,
    has_gaps: AtomicBool,
}

#[derive(Default)]
struct Gaps {
    /// Messages refused for this member: (sequence number the gap precedes, how many).
    queue: VecDeque<(u64, u64)>,
    /// Set by an abort: the subscription ends at its next look.
    aborted: bool,
    /// Once the abort or the reader has settled where the subscription ends: messages from
    /// this sequence number on are counted as discarded and never handed out. Whichever of
    /// the two takes this lock first after the abort decides; see [`Member::settle`].
    settled: Option<u64>,
    /// Messages the subscription holds outside the ring (replayed ones, or one read just
    /// before a gap report), kept in step under this lock so that an abort counts them
    /// exactly.
    held: usize,
}

/// What a reader must report before reading on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gap {
    /// This many messages addressed to the member were refused here.
    Missed(u64),
    /// The bus was aborted.
    Aborted,
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
            gaps: Mutex::new(Gaps::default()),
            has_gaps: AtomicBool::new(false),
        }
    }

    /// Records that the message which would have been number `at` was refused.
    pub(crate) fn refused(&self, at: u64) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        let mut gaps = lock(&self.gaps);
        match gaps.queue.back_mut() {
            Some((last, count)) if *last == at => *count += 1,
            _ => gaps.queue.push_back((at, 1)),
        }
        self.has_gaps.store(true, Ordering::Release);
    }

    /// The gap a reader at `cursor` must report before reading on, if any.
    #[inline]
    pub(crate) fn take_gap(&self, cursor: u64) -> Option<Gap> {
        // Inlined, as every read asks: the answer is almost always this one load.
        if !self.has_gaps.load(Ordering::Acquire) {
            return None;
        }
        self.take_flagged_gap(cursor)
    }

    /// [`take_gap`](Self::take_gap) once the flag is set: the gap queue, under its lock.
    #[cold]
    fn take_flagged_gap(&self, cursor: u64) -> Option<Gap> {
        let mut gaps = lock(&self.gaps);
        if gaps.aborted {
            return Some(Gap::Aborted);
        }
        let (at, count) = *gaps.queue.front()?;
        if at > cursor {
            return None;
        }
        gaps.queue.pop_front();
        if gaps.queue.is_empty() {
            self.has_gaps.store(false, Ordering::Release);
        }
        Some(Gap::Missed(count))
    }

    /// Takes the next message the subscription holds outside the ring; `Err` once aborted.
    pub(crate) fn pop_held<T>(&self, held: &mut VecDeque<T>) -> Result<Option<T>, ()> {
        let mut gaps = lock(&self.gaps);
        if gaps.aborted {
            held.clear();
            gaps.held = 0;
            return Err(());
        }
        let msg = held.pop_front();
        gaps.held = held.len();
        Ok(msg)
    }

    /// Puts `msg` back in front of what the subscription holds outside the ring.
    pub(crate) fn push_held<T>(&self, held: &mut VecDeque<T>, msg: T) {
        let mut gaps = lock(&self.gaps);
        held.push_front(msg);
        gaps.held = held.len();
    }

    /// Records how many replayed messages the new subscription holds.
    pub(crate) fn set_held(&self, count: usize) {
        lock(&self.gaps).held = count;
    }

    /// Marks the member aborted and returns how many messages it holds outside the ring, or
    /// `None` if it was aborted already. From here on every look at the gaps ends the
    /// subscription.
    pub(crate) fn begin_abort(&self) -> Option<usize> {
        let mut gaps = lock(&self.gaps);
        if gaps.aborted {
            return None;
        }
        gaps.aborted = true;
        self.has_gaps.store(true, Ordering::Release);
        Some(gaps.held)
    }

    /// For an abort, after [`begin_abort`](Self::begin_abort) and a `SeqCst` fence: where
    /// the subscription ends, every message from there on counted as discarded.
    ///
    /// The hand-off with a read in flight: the reader moves its cursor past the message with
    /// a `SeqCst` store, then looks at the gap flag. If its store came before our fence, we
    /// see the cursor moved and the message is the reader's. Otherwise it sees the flag and
    /// asks [`discards`](Self::discards) about the message; if it gets to this lock first,
    /// it settles at that message and we take its answer.
    pub(crate) fn settle(&self) -> u64 {
        let mut gaps = lock(&self.gaps);
        *gaps
            .settled
            .get_or_insert_with(|| self.next.load(Ordering::Acquire))
    }

    /// For a reader that has just read message `seq`, moved its cursor past it (`SeqCst`)
    /// and found the gap flag set: whether an abort counts the message as
    /// discarded, so that it must not be handed out. See [`settle`](Self::settle).
    pub(crate) fn discards(&self, seq: u64) -> bool {
        let mut gaps = lock(&self.gaps);
        gaps.aborted && seq >= *gaps.settled.get_or_insert(seq)
    }

    /// Set while there are gaps to report or once aborted: a reader that finds it clear
    /// need not call [`take_gap`](Self::take_gap).
    pub(crate) fn gap_flag(&self) -> &AtomicBool {
        &self.has_gaps
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.has_gaps.load(Ordering::Acquire) && lock(&self.gaps).aborted
    }

    pub(crate) fn metrics(&self, tail: u64) -> SubscriberMetrics {
        let next = self.next.load(Ordering::Acquire);
        SubscriberMetrics {
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
