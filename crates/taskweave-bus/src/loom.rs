//! The synchronisation primitives of the ring and the registry: `std`'s, or loom's when the
//! crate is built with `--cfg taskweave_loom` so that the models in `tests/loom_*.rs` can
//! explore every interleaving of the lock-free hand-offs (parking readers, waiting
//! publishers).

#[cfg(taskweave_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(taskweave_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard, RwLock};

#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard, RwLock};
