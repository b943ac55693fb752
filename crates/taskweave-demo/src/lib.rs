//! The taskweave demo: one ingest service that uses every pattern crate together.
//!
//! `cargo xtask demo` runs it. A generator produces synthetic sensor readings (about 2%
//! malformed); a pipeline ([`taskweave::pipeline`]) runs each through a worker pool
//! ([`taskweave::pool`]) that validates it and enriches it from an
//! in-process "remote" service with injected latency, failures and an outage, through a
//! circuit breaker ([`taskweave::breaker`]) inside a retry loop with jittered backoff and a
//! retry budget ([`taskweave::backoff`]); accepted events are written to SQLite by a batcher
//! ([`taskweave::batch`]), one transaction per batch; a bus ([`taskweave::bus`]) carries
//! progress and breaker transitions to a progress display and to a statistics actor
//! ([`taskweave::actor`]); and a shutdown coordinator ([`taskweave::shutdown`]) owns every task
//! and stops them in order on Ctrl-C or `--stop-after`. With `--nats URL`, a bridge
//! ([`taskweave::nats`]) exports the bus to a NATS server so other processes can watch the run
//! ([`remote_watch`]).
//!
//! [`pipeline`] shows the wiring; `docs/demo.md` in the repository walks through it.
//!
//! # Example
//!
//! The end-to-end test runs the pipeline like this, and checks that nothing was lost:
//!
//! ```
//! use std::time::Duration;
//! use taskweave_demo::{Config, ProgressMode, run};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), taskweave_demo::Error> {
//! let mut config = Config::default();
//! config.events = 500;
//! config.outage = Duration::ZERO;
//! config.signals = false;
//! config.progress = ProgressMode::Log;
//!
//! let summary = run(config).await?;
//! assert_eq!(summary.generated(), 500);
//! assert_eq!(summary.rows.events, summary.accepted());
//! assert!(summary.is_consistent(), "{summary}");
//! # Ok(())
//! # }
//! ```
#![warn(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
pub mod enrich;
pub mod error;
pub mod events;
pub mod pipeline;
mod progress;
pub mod remote;
pub mod remote_watch;
pub mod stats;
pub mod store;
pub mod summary;
pub mod telemetry;

pub use config::{Command, Config, ConfigError, ProgressMode, USAGE};
pub use error::Error;
pub use pipeline::run;
pub use summary::Summary;
