//! Swaps the atomics of the breaker's state machine and windows for loom's under
//! `cfg(taskweave_loom)`, so that `tests/loom_*.rs` can explore every interleaving of concurrent
//! admissions, recordings and transitions.

#[cfg(taskweave_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64};
