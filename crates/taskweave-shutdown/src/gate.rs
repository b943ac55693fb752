//! The admission gate of one phase: counts its live tasks and closes when shutdown begins.

// The items are `pub` so that the loom models in `tests/loom_gate.rs` can reach them; outside
// `cfg(taskweave_loom)` the module itself is private.
#![allow(unreachable_pub)]

use crate::loom::{AtomicUsize, Ordering};

/// Set once shutdown has begun: no task may enter any more.
const CLOSED: usize = 1;
/// One live task (the count sits above the `CLOSED` bit).
const ONE: usize = 2;

/// Live-task count and "closed" flag of one phase, in a single atomic word.
///
/// Keeping both in one word is what makes a spawn that races with the start of shutdown safe:
/// the increment and the close are read-modify-writes of the same location, so either the spawn
/// sees the gate closed (and is refused), or the close sees the spawn's task (and the phase waits
/// for it). Two separate atomics would need a `SeqCst` store-load fence on both sides.
#[derive(Debug)]
pub struct Gate {
    word: AtomicUsize,
}

/// What [`Gate::enter`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    /// The task is counted; it must call [`Gate::leave`] exactly once.
    Admitted,
    /// The gate is closed; nothing is counted. `now_idle` is true when undoing the tentative
    /// increment brought the count back to zero, so waiters must be woken.
    Refused {
        /// Whether the undo made the gate idle.
        now_idle: bool,
    },
}

impl Gate {
    /// An open gate with no live task.
    pub fn new() -> Self {
        Self {
            word: AtomicUsize::new(0),
        }
    }

    /// Counts one more live task, unless the gate is closed.
    pub fn enter(&self) -> Entry {
        // fetch_add, not a compare-exchange loop: under contention with `leave` on other
        // threads it never retries. A refusal undoes the increment.
        let before = self.word.fetch_add(ONE, Ordering::AcqRel);
        if before & CLOSED == 0 {
            Entry::Admitted
        } else {
            Entry::Refused {
                now_idle: self.leave(),
            }
        }
    }

    /// Counts one task less; returns true when this was the last live task.
    pub fn leave(&self) -> bool {
        let before = self.word.fetch_sub(ONE, Ordering::AcqRel);
        before / ONE == 1
    }

    /// Closes the gate for good; returns how many tasks were live at that instant.
    pub fn close(&self) -> usize {
        self.word.fetch_or(CLOSED, Ordering::AcqRel) / ONE
    }

    /// How many tasks are live now.
    pub fn live(&self) -> usize {
        self.word.load(Ordering::Acquire) / ONE
    }
}
