//! Retry with backoff and jitter, in one expression, with limits that make it safe.
//!
//! - **Policies are values.** [`Backoff`] is a validated, `Copy` description of the delays
//!   between attempts: [constant](Backoff::constant), [linear](Backoff::linear),
//!   [exponential](Backoff::exponential), [Fibonacci](Backoff::fibonacci) or
//!   [decorrelated jitter](Backoff::decorrelated), with a [`Jitter`] mode, a cap on a single
//!   delay, on attempts and on total time, and an optional seed for reproducible jitter.
//!   Iterate one to get its delays. Bad settings are a [`ConfigError`] from `build()`.
//! - **Retrying is one expression.** [`retry`]`(policy, || op()).await` (or
//!   [`op.retry(policy)`](RetryExt::retry)) with, as needed, a predicate choosing which errors
//!   to retry ([`when`](Retry::when)), a hook before each sleep ([`notify`](Retry::notify)), a
//!   server's hint overriding the delay ([`retry_after`](Retry::retry_after)), a
//!   [`CancellationToken`](tokio_util::sync::CancellationToken) that stops retrying, ending the
//!   wait at once and letting an attempt in flight finish
//!   ([`cancellation_token`](Retry::cancellation_token)), and a shared [`RetryBudget`]
//!   ([`budget`](Retry::budget)).
//!   [`retry_blocking`] is the same for sync code.
//! - **The caller learns why it stopped.** A failure is a [`RetryError`] holding the last error,
//!   the [`StopReason`] and the number of attempts.
//! - **Fleets stay polite.** A [`RetryBudget`] caps retries at a fraction of successful calls
//!   across every caller that shares it, so an outage does not multiply its own load.
//! - **tower** (feature `tower`): `RetryLayer` retries a `Service` with the same policy,
//!   predicate and budget. Its error is a `tower::BoxError`, so it stacks with tower's own
//!   middleware: errors it does not retry pass through as they are, and a call it gave up on
//!   fails with a `GaveUp` holding the last error.
//! - **serde** (feature `serde`): [`BackoffConfig`] and [`RetryBudgetConfig`] load a policy and
//!   a budget from a config file, with durations written as `"250ms"` or `"2s"`, validated by
//!   the builders.
//!
//! A call that succeeds at first try draws no random number and allocates nothing, and it reads
//! the clock only if the policy has a total time budget.
//!
//! ```
//! use std::time::Duration;
//! use taskweave_backoff::{Backoff, Jitter, StopReason, retry};
//!
//! #[derive(Debug)]
//! enum FetchError { Unavailable, NotFound }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = Backoff::exponential(Duration::from_millis(50))
//!     .max_delay(Duration::from_secs(2))
//!     .jitter(Jitter::Full)
//!     .max_attempts(5)
//!     .build()?;
//!
//! let mut calls = 0;
//! let body = retry(policy, || {
//!     calls += 1;
//!     let up = calls >= 3;
//!     async move { if up { Ok("hello") } else { Err(FetchError::Unavailable) } }
//! })
//! .when(|e| matches!(e, FetchError::Unavailable))
//! .await
//! .map_err(|e| e.into_error())
//! .unwrap();
//! assert_eq!(body, "hello");
//!
//! let err = retry(policy, || async { Err::<(), _>(FetchError::NotFound) })
//!     .when(|e| matches!(e, FetchError::Unavailable))
//!     .await
//!     .unwrap_err();
//! assert_eq!(err.reason(), StopReason::NotRetryable);
//! assert_eq!(err.attempts(), 1);
//! # Ok(())
//! # }
//! ```
#![warn(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod blocking;
mod budget;
mod config;
mod error;
#[cfg(feature = "tower")]
mod layer;
mod loom;
pub mod policy;
mod retry;
mod rng;
mod schedule;
pub mod slot;

pub use blocking::RetryBlocking;
pub use budget::{RetryBudget, RetryBudgetBuilder};
pub use config::{BackoffConfig, RetryBudgetConfig, Strategy};
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use error::GaveUp;
pub use error::{ConfigError, RetryError, StopReason};
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use layer::{RetryFuture, RetryLayer, RetryService};
pub use policy::{Backoff, BackoffBuilder, Delays, Jitter};
pub use retry::{Retry, RetryExt, retry, retry_blocking};
