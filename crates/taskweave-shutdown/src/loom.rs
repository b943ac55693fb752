//! Swaps `std::sync` atomics for loom's when the crate is built with `--cfg taskweave_loom`, so
//! the models in `tests/loom_*.rs` can explore every interleaving of the lock-free parts.

#[cfg(taskweave_loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
