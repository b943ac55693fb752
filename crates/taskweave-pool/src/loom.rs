//! Swaps the synchronisation primitives of the lock-free ready set for loom's when the crate is
//! built with `--cfg taskweave_loom` (see `tests/loom_ready.rs`).

#[cfg(taskweave_loom)]
pub(crate) use loom::future::AtomicWaker;
#[cfg(taskweave_loom)]
pub(crate) use loom::sync::Arc;
#[cfg(taskweave_loom)]
pub(crate) use loom::sync::atomic::AtomicU64;

#[cfg(not(taskweave_loom))]
pub(crate) use futures_util::task::AtomicWaker;
#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::atomic::AtomicU64;
