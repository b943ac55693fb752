//! Swaps `std::sync` for loom's under `cfg(taskweave_loom)`, so the lock-free retry budget can be
//! model-checked (`tests/loom_budget.rs`).

#[cfg(taskweave_loom)]
pub(crate) use loom::sync::Arc;
#[cfg(taskweave_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};

#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
