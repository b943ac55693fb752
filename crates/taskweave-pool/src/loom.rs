//! Swaps the synchronisation primitives of the lock-free and hand-off code for loom's when the
//! crate is built with `--cfg taskweave_loom`, so that the models in `tests/loom_*.rs` explore
//! every interleaving of the production types: the fixed worker's ready set
//! ([`ready`](crate::ready), `tests/loom_ready.rs`) and the fixed pool's queue and idle-worker
//! hand-off ([`handoff`](crate::handoff), `tests/loom_handoff.rs`).
//!
//! Only those two protocols go through this shim; the rest of the crate uses `std` and Tokio
//! directly (Tokio's primitives are not loom-aware and are not part of the protocols).

use std::sync::PoisonError;
use std::task::Waker;

#[cfg(taskweave_loom)]
pub(crate) use loom::future::AtomicWaker;
#[cfg(taskweave_loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(taskweave_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

#[cfg(not(taskweave_loom))]
pub(crate) use futures_util::task::AtomicWaker;
#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::atomic::AtomicU64;
#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

/// Locks `m`, ignoring poison: every critical section in this crate leaves its data consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers `waker` to be woken by `slot` (loom's `AtomicWaker` spells it differently).
pub(crate) fn register(slot: &AtomicWaker, waker: &Waker) {
    #[cfg(taskweave_loom)]
    slot.register_by_ref(waker);
    #[cfg(not(taskweave_loom))]
    slot.register(waker);
}
