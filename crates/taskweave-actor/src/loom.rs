//! Synchronisation primitives from `std`, or from `loom` when the crate is built with
//! `--cfg taskweave_loom`, so that the loom models in `tests/loom_*.rs` explore every
//! interleaving of the production code in [`control`](crate::control) and [`flags`](crate::flags).
//!
//! Only the lock-free control protocol goes through this shim; the rest of the crate uses `std`
//! and Tokio directly (Tokio's channels are not loom-aware, and are not part of the protocol).

#[cfg(taskweave_loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(taskweave_loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};

#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::Mutex;
#[cfg(not(taskweave_loom))]
pub(crate) use std::sync::atomic::{AtomicU8, Ordering};
