//! A Tokio worker pool with bounded concurrency, a bounded queue, and shutdowns that never
//! lose a job.
//!
//! - [`Pool`] runs any `Send` future: at most `max_concurrency` at once, at most
//!   `queue_capacity` more waiting. [`Pool::submit`] waits for queue space (backpressure);
//!   [`Pool::try_submit`] hands the job back when the queue is full.
//! - Every accepted job has a [`JobHandle`] that resolves to its output or to a [`JobError`]:
//!   panicked (with the message), timed out, or cancelled. Dropping a handle detaches the job;
//!   [`JobHandle::abort`] cancels it.
//! - [`Pool::submit_blocking`] runs blocking closures on Tokio's blocking threads, counted
//!   against the same limit.
//! - [`Pool::keyed`] gives a [`KeyedPool`]: jobs with the same key run one at a time, in
//!   submission order; different keys run in parallel.
//! - [`Pool::process`] / [`Pool::process_unordered`] push a `Stream` of inputs through the
//!   pool, with results in input or completion order and bounded read-ahead.
//! - [`FixedPool`] (from [`PoolBuilder::build_fixed`]) is the fast path for homogeneous jobs:
//!   a fixed set of workers, one handler, no spawn per job.
//!
//! # Lifecycle
//!
//! Both kinds of pool share one lifecycle, the same as every taskweave component's:
//!
//! - [`Pool::close`] stops intake (jobs are handed back in [`SubmitError::Closed`]); accepted
//!   jobs still run. A [`CancellationToken`](tokio_util::sync::CancellationToken) given to
//!   [`PoolBuilder::cancellation_token`] does the same when it is cancelled, and so does
//!   dropping the last handle.
//! - [`Pool::drain`] closes and waits until every accepted job has finished;
//!   [`Pool::shutdown`] does the same within a grace period, then cancels the rest and returns
//!   a [`ShutdownReport`] naming every job it aborted or never started.
//! - [`Pool::abort`] is the hard stop: queued jobs are dropped, running ones aborted, and each
//!   handle resolves to [`JobError::Cancelled`].
//! - If the runtime is dropped under a busy pool, the pool cancels what it held: every handle
//!   resolves to [`JobError::Cancelled`], even one awaited elsewhere, and the pool refuses new
//!   work.
//!
//! The limit can change at run time ([`Pool::set_max_concurrency`]) and [`Pool::metrics`]
//! returns a [`Metrics`] snapshot. With the `serde` feature, a [`PoolConfig`] can be loaded
//! from a configuration file.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use taskweave_pool::{JobError, Pool};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = Pool::builder()
//!     .max_concurrency(4)
//!     .queue_capacity(16)
//!     .job_timeout(Duration::from_secs(5))
//!     .build()?;
//!
//! let answer = pool.submit(async { 6 * 7 }).await?;
//! let boom = pool.submit(async { panic!("bad input") }).await?;
//!
//! assert_eq!(answer.await, Ok(42));
//! assert_eq!(boom.await.unwrap_err().panic_message(), Some("bad input"));
//!
//! let report = pool.shutdown(Duration::from_secs(1)).await;
//! assert!(report.is_clean());
//! # Ok(())
//! # }
//! ```
#![warn(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod error;
mod fixed;
#[cfg(taskweave_loom)]
#[doc(hidden)]
pub mod handoff;
#[cfg(not(taskweave_loom))]
mod handoff;
mod job;
mod keyed;
mod loom;
mod metrics;
mod pool;
mod pool_config;
#[cfg(taskweave_loom)]
#[doc(hidden)]
pub mod ready;
#[cfg(not(taskweave_loom))]
mod ready;
mod shutdown;
mod stream;

pub use config::{
    DEFAULT_KEY_QUEUE_CAPACITY, DEFAULT_QUEUE_CAPACITY, MAX_CAPACITY, MAX_FIXED_WORKERS,
    PoolBuilder,
};
pub use error::{ConfigError, JobError, SubmitError};
pub use fixed::{FixedPool, Results};
pub use job::{JobHandle, JobId};
pub use keyed::KeyedPool;
pub use metrics::Metrics;
pub use pool::Pool;
pub use pool_config::PoolConfig;
pub use shutdown::ShutdownReport;
