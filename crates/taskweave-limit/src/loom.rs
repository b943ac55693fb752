//! Swaps the atomics of the check path for loom's under `cfg(taskweave_loom)`, so that
//! `tests/loom_*.rs` can explore every interleaving of concurrent `check` calls.

#[cfg(taskweave_loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize};
#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize};
