//! Atomics from `std`, or from `loom` when the crate is built with `--cfg taskweave_loom` so
//! that the loom models in `tests/loom_*.rs` can explore every interleaving.

#[cfg(taskweave_loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::atomic::{AtomicU8, Ordering};
