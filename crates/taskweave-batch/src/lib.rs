//! A Tokio batcher that flushes on size, on the age of a batch's oldest item, or on weight —
//! with backpressure, per-item results, a limit on concurrent flushes and a shutdown that loses
//! nothing.
//!
//! Producers hand items to a [`Batcher`]; it groups them into batches and passes each batch to
//! an async flush handler (a database transaction, a bulk API call, a log shipment). A batch is
//! closed when it reaches `max_items`, when its **oldest item** has waited `max_delay` (the clock
//! starts at that item, not on a free-running tick), when its total weight reaches `max_weight`,
//! on [`Batcher::flush`], or when the batcher is closed.
//!
//! - [`Batcher::submit`] returns a [`Ticket`] resolving to the item's own result (or the
//!   batch's shared error); [`Batcher::push`] is fire-and-forget; the `try_` variants hand the
//!   item back instead of waiting when the buffer is full.
//! - Producers append under a short lock and never wait for a running flush while buffer
//!   space remains; the flush task is woken once per batch, not once per item.
//! - One lifecycle, as in every taskweave crate: [`Batcher::close`] (also a
//!   `CancellationToken`, or dropping the last handle) stops intake and lets accepted items be
//!   flushed; [`Batcher::drain`] closes and waits until every ticket has resolved;
//!   [`Batcher::shutdown`] does the same within a grace period, then cancels what is still
//!   flushing and hands back what was never flushed in a [`ShutdownReport`];
//!   [`Batcher::abort`] is the hard stop, handing back the unflushed items at once.
//! - [`Batcher::sink`] is a `futures::Sink` with backpressure, for
//!   `stream.forward(batcher.sink())`.
//! - A panic in the flush handler (or its [`FlushOutput`]) fails that batch only, with
//!   [`BatchError::FlushPanicked`]; every configurable size has a documented bound.
//! - [`BatchedExt::batched`] cuts a `Stream` into batches by the same [`Limits`].
//! - [`BatcherConfig`] and [`LimitsConfig`] hold the configuration as plain values; with the
//!   `serde` feature they load from a file (durations as `"5ms"`), validated like the builder.
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
//! batcher.drain().await; // closes, flushes the tail; every ticket has resolved
//! assert_eq!(batcher.metrics().items_flushed, 2);
//! # Ok(())
//! # }
//! ```
#![warn(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batcher;
mod builder;
mod config;
mod error;
mod flusher;
mod limits;
mod metrics;
mod outcome;
mod shutdown;
mod sink;
mod state;
mod stream;
mod ticket;

pub use batcher::Batcher;
pub use builder::{
    BatcherBuilder, DEFAULT_MAX_CONCURRENT_FLUSHES, MAX_BUFFERED_ITEMS_LIMIT,
    MAX_CONCURRENT_FLUSHES_LIMIT,
};
pub use config::{BatcherConfig, LimitsConfig};
pub use error::{BatchError, Closed, ConfigError, TrySubmitError};
pub use limits::{DEFAULT_MAX_DELAY, DEFAULT_MAX_ITEMS, Limits, LimitsBuilder, MAX_ITEMS_LIMIT};
pub use metrics::{FlushTrigger, Metrics, TriggerCounts};
pub use outcome::FlushOutput;
pub use shutdown::ShutdownReport;
pub use sink::BatcherSink;
pub use stream::{Batched, BatchedExt};
pub use ticket::Ticket;
