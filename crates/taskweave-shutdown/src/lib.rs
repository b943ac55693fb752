//! Graceful shutdown for Tokio services.
//!
//! A [`Coordinator`] owns a service's tasks from start to a clean exit:
//!
//! - **Named tasks** receive a [`CancellationToken`] and return `Result<(), E>`. They live in
//!   [groups](Group) — `coordinator.group("workers")`, nested with `group.group("parsers")` —
//!   whose tasks are cancelled together through child tokens.
//! - **Ordered phases**: the builder declares phases by the name of the top-level group they
//!   stop, each with its own grace period. The **default order** is: the default phase first
//!   (tasks spawned on the coordinator itself and groups not named after a phase), then the
//!   declared phases in the order they were declared. Without declared phases everything
//!   stops at once, with a 30 s grace period.
//! - **Triggers**: SIGINT or SIGTERM (Ctrl-C on non-Unix), [`close`](Coordinator::close),
//!   the token given to [`Builder::cancellation_token`], a task that fails or panics (unless
//!   spawned with [`OnFailure::Continue`]), or no task being left. The second signal
//!   received forces the shutdown, aborting every remaining task at once ([`ForceOn`] says
//!   otherwise), as [`abort`](Coordinator::abort) does; a first signal never cuts short a
//!   shutdown that started for another reason.
//! - **Grace, then abort**: a task still running when its phase's grace period is over is
//!   aborted and named in a `tracing::warn!` (`still running after 30s: workers/db-writer`)
//!   and in the report. Every wait is bounded: a task that does not end even after its abort
//!   (its thread is blocked) is reported as [`Outcome::Abandoned`] and no longer waited for.
//! - **A report**: [`run`](Coordinator::run) returns a [`Report`] with each task's
//!   [`Outcome`] and shutdown duration, the [`Cause`], and an
//!   [`exit_code`](Report::exit_code) for `main`.
//! - **The taskweave lifecycle**: [`close`](Coordinator::close) stops intake and starts the
//!   graceful shutdown, [`abort`](Coordinator::abort) is the hard stop (like a second signal),
//!   [`run`](Coordinator::run) is the `drain`, [`is_closed`](Coordinator::is_closed) and
//!   [`metrics`](Coordinator::metrics) observe, and dropping the coordinator without running
//!   it closes it.
//! - **Spawn any time until shutdown**, including from inside tasks; a spawn after shutdown
//!   began, or with an empty name or one containing `/`, is refused with a [`SpawnError`].
//! - **Bounded memory**: tasks that complete while the service runs are only counted; tolerated
//!   failures keep at most [`Builder::max_failure_records`] lines, the rest are counted.
//!
//! ```
//! use std::time::Duration;
//! use taskweave_shutdown::{Cause, Coordinator, Outcome};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let coordinator = Coordinator::builder()
//!     .phase("ingress", Duration::from_secs(5))
//!     .phase("storage", Duration::from_secs(10))
//!     .build()?;
//!
//! coordinator.group("ingress").spawn("http", |token| async move {
//!     token.cancelled().await; // stop accepting, then return
//!     Ok::<_, std::io::Error>(())
//! })?;
//! coordinator.group("storage").spawn("db-writer", |token| async move {
//!     token.cancelled().await; // flush, then return
//!     Ok::<_, std::io::Error>(())
//! })?;
//!
//! // Normally SIGINT/SIGTERM starts the shutdown; here we ask for it.
//! coordinator.close();
//! let report = coordinator.run().await;
//!
//! assert_eq!(*report.cause(), Cause::Requested);
//! assert_eq!(*report.task("storage/db-writer").unwrap().outcome(), Outcome::Completed);
//! assert!(report.is_clean());
//! # Ok(())
//! # }
//! ```
//!
//! Components that are not tasks of the coordinator (an actor, a pool, a server from another
//! crate) join in by token: hand them [`Group::token`], and spawn a task in the same group that
//! awaits their end, so the phase waits for them.
//!
//! # Feature flags
//!
//! - `test-util`: each task's time to stop ([`TaskReport::shutdown_duration`]) is measured on
//!   Tokio's clock, so that paused-time tests see exact durations, instead of the CPU's
//!   time-stamp counter (read once per task that ends during the shutdown). Meant for
//!   `[dev-dependencies]`, like Tokio's feature of the same name.

#![warn(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod coordinator;
mod error;
#[cfg(taskweave_loom)]
#[doc(hidden)]
pub mod gate;
#[cfg(not(taskweave_loom))]
mod gate;
mod group;
mod loom;
mod metrics;
mod phase;
mod report;
mod run;
mod shared;
mod signal;
mod table;
mod task;

pub use config::Builder;
pub use coordinator::Coordinator;
pub use error::{ConfigError, SpawnError, SpawnErrorKind};
pub use group::{Group, TaskBuilder};
pub use metrics::Metrics;
pub use report::{AbortReason, Cause, Outcome, Report, TaskReport};
pub use signal::{ForceOn, Signal};
pub use task::OnFailure;
#[doc(no_inline)]
pub use tokio_util::sync::CancellationToken;
