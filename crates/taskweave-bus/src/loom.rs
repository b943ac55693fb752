//! The synchronisation primitives of the ring and the registry: `std`'s, or loom's when the
//! crate is built with `--cfg taskweave_loom` so that the models in `tests/loom_*.rs` can
//! explore every interleaving of the lock-free hand-offs (parking readers, waiting
//! publishers, lock-free reads of the ring).

#[cfg(taskweave_loom)]
pub(crate) use loom::cell::UnsafeCell;
#[cfg(taskweave_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(taskweave_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard, RwLock};

#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard, RwLock};

/// `std`'s `UnsafeCell` behind loom's interface, so that loom can check every access.
#[cfg(not(taskweave_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(taskweave_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a pointer through which it may read the value.
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a pointer through which it may write the value.
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Stores `value` in `atomic` with `SeqCst`, for the Dekker-style hand-offs where the other
/// side stores, passes a `SeqCst` fence and loads: a `SeqCst` store followed by `SeqCst`
/// loads orders with such a fence as a store, fence and loads would (C++20 [atomics.order]),
/// and costs one locked instruction on x86 where a fence costs a full barrier. Loom models
/// `SeqCst` accesses as acquire/release only, but fences exactly, so its build passes the
/// fence.
pub(crate) fn store_seq_cst(atomic: &AtomicU64, value: u64) {
    #[cfg(taskweave_loom)]
    {
        atomic.store(value, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }
    #[cfg(not(taskweave_loom))]
    atomic.store(value, Ordering::SeqCst);
}
