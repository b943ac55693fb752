//! Typed Tokio pipelines: a source, then stages that each run on their own task with a bounded
//! buffer in front, per-stage concurrency (in order or not), a per-item timeout and an error
//! policy — and a stop that accounts for every item.
//!
//! - A [`Flow`] starts from a `Stream`, an iterator or an `mpsc` channel and adds stages:
//!   [`map`](Flow::map), [`filter_map`](Flow::filter_map), [`flat_map`](Flow::flat_map),
//!   [`inspect`](Flow::inspect), a keyed stage ([`map_keyed`](Flow::map_keyed): per-key
//!   order, a slow key holds back only its own items), or a type implementing [`Stage`].
//!   Each stage's
//!   [`StageConfig`] sets its name, concurrency, order, buffer and timeout.
//! - Fan-out and fan-in: [`broadcast`](Flow::broadcast) every item to several branches, or
//!   [`partition`](Flow::partition) items by key into ordered lanes; [`Flow::merge`] joins
//!   the branches back.
//! - Backpressure end to end: every buffer is bounded, so a slow stage slows the ones before
//!   it down to the source, and nothing piles up.
//! - Per stage, what happens to an item it fails on (an error, a [`TimedOut`], a panic) is an
//!   [`ErrorPolicy`]: stop the pipeline, skip the item, or send it to the [`DeadLetters`]
//!   with its error and the stage's name. A panic is an error like any other.
//! - The taskweave lifecycle on [`PipelineHandle`]: [`close`](PipelineHandle::close) (also
//!   a `CancellationToken`, or dropping the last handle) stops the source and lets every stage
//!   flush what it holds; [`drain`](PipelineHandle::drain) waits for that;
//!   [`shutdown`](PipelineHandle::shutdown) does it within a grace period, then aborts and
//!   reports per stage what was dropped; [`abort`](PipelineHandle::abort) is the hard stop.
//!   An overall [`deadline`](Flow::deadline) aborts too.
//! - Counts reconcile exactly: items in = items out + filtered + skipped + dead-lettered +
//!   failed + dropped ([`Metrics::reconciles`]). [`metrics`](PipelineHandle::metrics) also
//!   gives per stage what is in flight and buffered, busy time and p50/p99 time per item; each
//!   stage runs in a `tracing` span named `pipeline_stage`.
//! - Sibling crates behind features (none by default): `limit` (`Flow::rate_limit`: a rate
//!   limiter as a stage), `batch` (`Flow::batched`: a batcher as a stage), `breaker`
//!   (`Flow::map_with_breaker`) and `backoff` (`Flow::map_with_retry`) around a stage's work.
//! - [`StreamOps`] adds time-based operators to any `Stream`: `debounce` (with `max_wait`),
//!   `throttle` (leading/trailing), `sample`, `timeout_each` and `batch`.
//!
//! ```
//! use std::time::Duration;
//! use taskweave_pipeline::{ErrorPolicy, Flow, StageConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut pipeline = Flow::from_iter(["1", "2", "x", "4"])
//!     .map(
//!         StageConfig::new("parse").on_error(ErrorPolicy::DeadLetter),
//!         |s: &str| async move { s.parse::<u64>() },
//!     )
//!     .map(
//!         StageConfig::new("square").concurrency(4).timeout(Duration::from_secs(1)),
//!         |n| async move { Ok::<_, std::convert::Infallible>(n * n) },
//!     )
//!     .dead_letters(16)
//!     .build()?;
//! let mut dead = pipeline.dead_letters().unwrap();
//! let handle = pipeline.handle();
//!
//! let mut squares = Vec::new();
//! while let Some(n) = pipeline.recv().await {
//!     squares.push(n);
//! }
//! assert_eq!(squares, [1, 4, 16]); // in input order: the stage is ordered
//! let letter = dead.recv().await.unwrap();
//! assert_eq!((letter.stage(), letter.item::<&str>()), ("parse", Some(&"x")));
//!
//! handle.finished().await?;
//! drop(pipeline);
//! assert!(handle.metrics().reconciles()); // 4 in = 3 out + 1 dead-lettered
//! # Ok(())
//! # }
//! ```
#![warn(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod build;
mod config;
mod ctx;
mod dead_letter;
mod error;
mod fanout;
mod flow;
mod handle;
mod inflight;
mod integrations;
mod keyed;
mod metrics;
pub mod ops;
mod pipeline;
mod report;
mod send;
mod source;
mod stage;
mod worker;

pub use config::{
    DEFAULT_BUFFER, ErrorPolicy, MAX_BRANCHES, MAX_BUFFER, MAX_CONCURRENCY, MAX_STAGES, StageConfig,
};
pub use dead_letter::{DeadLetter, DeadLetters};
pub use error::{BoxError, ConfigError, PipelineError, StageError, TimedOut};
pub use flow::Flow;
pub use handle::PipelineHandle;
pub use metrics::{Metrics, StageMetrics};
pub use ops::StreamOps;
pub use pipeline::Pipeline;
pub use report::ShutdownReport;
pub use stage::Stage;
