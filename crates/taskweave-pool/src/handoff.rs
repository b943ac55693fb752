//! The queue of a fixed pool and its hand-off to idle workers.
//!
//! Protocol: a worker registers its waker in its own [`AtomicWaker`] *before* it looks at the
//! queue; finding fewer items than it wants, it marks itself idle under the queue lock. A
//! pusher, under the same lock, appends its items and takes one idle worker per item, then wakes
//! them after unlocking. Either the worker's look saw the item, or the pusher saw the worker
//! idle and wakes the waker it had registered — an item is never left in the queue while every
//! worker sleeps. Workers are named by their index, never by comparing wakers.
//! `tests/loom_handoff.rs` checks this under every interleaving.
// Public only so that the loom model can reach it.
#![cfg_attr(not(taskweave_loom), allow(unreachable_pub))]

use std::collections::VecDeque;
use std::fmt;
use std::task::Waker;

use crate::loom::{self, Arc, AtomicWaker, Mutex, lock};

/// A FIFO queue shared by a fixed set of workers, each woken through its own [`AtomicWaker`].
pub struct Handoff<T> {
    state: Mutex<State<T>>,
    wakers: Box<[Arc<AtomicWaker>]>,
}

struct State<T> {
    items: VecDeque<T>,
    /// Workers waiting for input, most recent last.
    idle: Vec<usize>,
    is_idle: Vec<bool>,
    closed: bool,
    aborting: bool,
}

/// What a worker's look at the queue found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Popped {
    /// How many items were moved out.
    pub taken: usize,
    /// Whether the queue is closed and empty: no item will ever come.
    pub finished: bool,
}

impl<T> Handoff<T> {
    /// An open, empty queue for `workers` workers.
    pub fn new(workers: usize) -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::new(),
                idle: Vec::with_capacity(workers),
                is_idle: vec![false; workers],
                closed: false,
                aborting: false,
            }),
            wakers: (0..workers).map(|_| Arc::new(AtomicWaker::new())).collect(),
        }
    }

    /// Worker `idx`'s waker slot, which the worker may share (its jobs wake it through it too).
    pub fn waker(&self, idx: usize) -> &Arc<AtomicWaker> {
        &self.wakers[idx]
    }

    /// Registers worker `idx`'s waker; call it before [`pop`](Self::pop) in every poll.
    pub fn register(&self, idx: usize, waker: &Waker) {
        loom::register(&self.wakers[idx], waker);
    }

    /// Appends `item` and wakes an idle worker; hands the item back if the queue is closed.
    pub fn push(&self, item: T) -> Result<(), T> {
        let woken = {
            let mut st = lock(&self.state);
            if st.closed {
                return Err(item);
            }
            st.items.push_back(item);
            st.take_idle()
        };
        if let Some(idx) = woken {
            self.wakers[idx].wake();
        }
        Ok(())
    }

    /// Appends every item of `batch` (leaving it empty) and wakes up to one idle worker per
    /// item; leaves `batch` as it was and returns `false` if the queue is closed.
    pub fn push_batch(&self, batch: &mut Vec<T>) -> bool {
        if batch.is_empty() {
            return true;
        }
        let n = batch.len();
        let mut woken = Vec::new();
        {
            let mut st = lock(&self.state);
            if st.closed {
                return false;
            }
            st.items.extend(batch.drain(..));
            while woken.len() < n {
                match st.take_idle() {
                    Some(idx) => woken.push(idx),
                    None => break,
                }
            }
        }
        for idx in woken {
            self.wakers[idx].wake();
        }
        true
    }

    /// Moves up to `want` items into `out` for worker `idx`. If fewer than `want` were there,
    /// the worker is marked idle: the next push wakes it.
    pub fn pop(&self, idx: usize, want: usize, out: &mut Vec<T>) -> Popped {
        let mut st = lock(&self.state);
        let taken = want.min(st.items.len());
        out.extend(st.items.drain(..taken));
        if taken < want {
            if !st.is_idle[idx] && !st.closed {
                st.is_idle[idx] = true;
                st.idle.push(idx);
            }
        } else if st.is_idle[idx] {
            st.is_idle[idx] = false;
            st.idle.retain(|&i| i != idx);
        }
        Popped {
            taken,
            finished: st.closed && st.items.is_empty(),
        }
    }

    /// Closes the queue: pushes are refused from now on, and workers drain what is left.
    /// Returns `false` if it was already closed.
    pub fn close(&self) -> bool {
        {
            let mut st = lock(&self.state);
            if st.closed {
                return false;
            }
            st.close();
        }
        // Idle workers must wake to notice the close and exit.
        self.wake_all();
        true
    }

    /// Closes the queue and takes every item still in it; `None` if it was already aborted.
    pub fn abort(&self) -> Option<VecDeque<T>> {
        let items = {
            let mut st = lock(&self.state);
            if st.aborting {
                return None;
            }
            st.aborting = true;
            st.close();
            std::mem::take(&mut st.items)
        };
        self.wake_all();
        Some(items)
    }

    /// Wakes every worker (to notice a close or a new share of the limit).
    pub fn wake_all(&self) {
        for waker in self.wakers.iter() {
            waker.wake();
        }
    }

    /// The number of items waiting.
    pub fn queued(&self) -> usize {
        lock(&self.state).items.len()
    }

    /// Whether the queue is closed.
    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Whether the queue was aborted.
    pub fn is_aborting(&self) -> bool {
        lock(&self.state).aborting
    }
}

impl<T> State<T> {
    /// An idle worker to wake for a new item, if any; that worker is no longer idle.
    fn take_idle(&mut self) -> Option<usize> {
        let idx = self.idle.pop()?;
        self.is_idle[idx] = false;
        Some(idx)
    }

    fn close(&mut self) {
        self.closed = true;
        self.idle.clear();
        self.is_idle.iter_mut().for_each(|i| *i = false);
    }
}

impl<T> fmt::Debug for Handoff<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.state);
        f.debug_struct("Handoff")
            .field("items", &st.items.len())
            .field("idle", &st.idle)
            .field("closed", &st.closed)
            .finish()
    }
}
