//! A Tokio batcher that flushes on size, on the age of a batch's oldest item, or on weight —
//! with backpressure, per-item results, a limit on concurrent flushes and a shutdown that loses
//! nothing.
//!
//! Producers hand items to a [`Batcher`]; it groups them into batches and passes each batch to
//! an async flush handler (a database transaction, a bulk API call, a log shipment). A batch is
//! closed when it reaches `max_items`, when its **oldest item** has waited `max_delay` (the clock
//! starts at that item, not on a free-running tick), when its total weight reaches `max_weight`,
//! on [`Batcher::flush`], or on shutdown.
//!
//! - [`Batcher::submit`] returns a [`Ticket`] resolving to the item's own result (or the
//!   batch's shared error); [`Batcher::push`] is fire-and-forget; the `try_` variants hand the
//!   item back instead of waiting when the buffer is full.
//! - Producers append under a short lock and never wait for a running flush while buffer
//!   space remains; the flush task is woken once per batch, not once per item.
//! - [`Batcher::shutdown`] (or a `CancellationToken`) stops intake, flushes the tail, awaits
//!   in-flight flushes and resolves every ticket; [`Batcher::shutdown_timeout`] does the same
//!   within a grace period, then cancels what is still flushing and hands back what was never
//!   flushed in a [`ShutdownReport`].
//! - A panic in the flush handler (or its [`FlushOutput`]) fails that batch only, with
//!   [`BatchError::FlushPanicked`]; every configurable size has a documented bound.
//! - [`BatchedExt::batched`] cuts a `Stream` into batches by the same [`Limits`].
//!
//! ```
//! use std::time::Duration;
//! use taskweave_batch::Batcher;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let batcher = Batcher::builder()
//!     .max_items(100)
//!     .max_delay(Duration::from_millis(5))
//!     .build(|rows: Vec<String>| async move {
//!         // e.g. one INSERT per batch; here: one result per row, in batch order
//!         Ok::<_, std::io::Error>(rows.iter().map(|row| row.len()).collect::<Vec<_>>())
//!     })?;
//!
//! let ticket = batcher.submit("hello".to_owned()).await?;
//! batcher.push("fire and forget".to_owned()).await?;
//! assert_eq!(ticket.await?, 5); // resolves once its batch was flushed (after 5 ms here)
//!
//! batcher.shutdown().await; // flushes the tail; every ticket has resolved
//! assert_eq!(batcher.metrics().items_flushed, 2);
//! # Ok(())
//! # }
//! ```
#![warn(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batcher;
mod config;
mod error;
mod flusher;
mod metrics;
mod outcome;
mod shutdown;
mod state;
mod stream;
mod ticket;

pub use batcher::Batcher;
pub use config::{
    BatcherBuilder, DEFAULT_MAX_DELAY, DEFAULT_MAX_ITEMS, Limits, LimitsBuilder,
    MAX_BUFFERED_ITEMS_LIMIT, MAX_CONCURRENT_FLUSHES_LIMIT, MAX_ITEMS_LIMIT,
};
pub use error::{BatchError, Closed, ConfigError, TrySubmitError};
pub use metrics::{FlushTrigger, Metrics, TriggerCounts};
pub use outcome::FlushOutput;
pub use shutdown::ShutdownReport;
pub use stream::{Batched, BatchedExt};
pub use ticket::Ticket;
