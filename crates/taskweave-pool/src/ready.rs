//! The ready set of a fixed worker: one bit per job slot, set by the slot's waker and taken by
//! the worker, with the worker woken only by the first bit set after it last looked.
//!
//! Protocol: the worker registers its waker *before* taking the bits; a waker sets its bit and,
//! if the word was empty, wakes the worker. Either the worker's take sees the bit, or the
//! setter saw an empty word after the take and wakes the (already registered) worker — a wake
//! is never lost. `tests/loom_ready.rs` checks this under every interleaving.
// Public only so that the loom model can reach it.
#![cfg_attr(not(taskweave_loom), allow(unreachable_pub))]

use std::sync::atomic::Ordering;

use crate::loom::{Arc, AtomicU64, AtomicWaker};

/// Ready bits for up to 64 job slots, and the worker to wake.
#[derive(Debug)]
pub struct ReadyChunk {
    bits: AtomicU64,
    worker: Arc<AtomicWaker>,
}

impl ReadyChunk {
    /// A chunk with no slot ready, waking `worker`.
    pub fn new(worker: Arc<AtomicWaker>) -> Self {
        Self {
            bits: AtomicU64::new(0),
            worker,
        }
    }

    /// Marks the slots in `mask` ready, waking the worker if it has nothing else to look at.
    pub fn wake(&self, mask: u64) {
        if self.bits.fetch_or(mask, Ordering::AcqRel) == 0 {
            self.worker.wake();
        }
    }

    /// Marks the slots in `mask` ready without waking anyone (the worker is marking its own).
    pub fn mark(&self, mask: u64) {
        self.bits.fetch_or(mask, Ordering::Relaxed);
    }

    /// Takes the ready bits (register the worker's waker in its `AtomicWaker` first).
    pub fn take(&self) -> u64 {
        self.bits.swap(0, Ordering::AcqRel)
    }
}
