//! The taskweave bus and work queue beyond one process, on a real NATS server.
//!
//! A service outgrows one process long before it outgrows its patterns: several replicas
//! must see the same events, and jobs must be shared among them. This crate scales the
//! taskweave patterns out over [NATS](https://nats.io) with [`async_nats`]:
//!
//! - A [`Bridge`] exports local [`Bus`](taskweave_bus::Bus) subjects to NATS and imports
//!   NATS subjects into the local bus. Local publishers and subscribers do not change: the
//!   same [`Subscription`](taskweave_bus::Subscription) API, lag policies and wildcard
//!   grammar (`orders.*.created`, `orders.>`), validated once for both sides. Messages
//!   travel encoded by a [`Codec`] ([`Json`], [`Postcard`], or yours) under their original
//!   subject. A subject both exported and imported does not echo back and forth.
//! - Core NATS ([`BridgeBuilder::export`], [`BridgeBuilder::import`]) is at most once;
//!   JetStream ([`BridgeBuilder::export_durable`], [`BridgeBuilder::import_durable`]) is at
//!   least once through a durable consumer that resumes where it stopped, acknowledging a
//!   message only after the local bus accepted it. [`Replay`] maps "the last N" or "since
//!   a time" onto JetStream deliver policies.
//! - **Loss accounting**: each exporter stamps a sequence per subject; importers count the
//!   holes ([`Metrics::gaps`], per sender in [`Metrics::gaps_by_origin`]) and skip
//!   redeliveries ([`Metrics::duplicates`]).
//! - A [`WorkQueue`] shares jobs among replicas through a JetStream work-queue stream: each
//!   replica's [`Worker`] runs at most `max_in_flight` jobs, acknowledges successes, naks
//!   failures with a backoff delay, dead-letters a job after `max_deliver` deliveries, and
//!   drains gracefully.
//! - A [`Connection`] reconnects with a `taskweave-backoff` policy and reports its health;
//!   while it is down, exporters buffer up to a bound and then let the local lag policy
//!   decide (counted, never silent).
//! - Errors are typed ([`Error`], [`ConfigError`]): bad URLs, refused credentials, subjects
//!   NATS would refuse, payloads above the server's `max_payload`.
//!
//! Lifecycle verbs are those of every taskweave crate: `cancellation_token`, `close`,
//! `drain`, `shutdown(grace)`, `abort`, `metrics`.
//!
//! # Example: a codec
//!
//! ```
//! use taskweave_nats::{Codec, Json};
//!
//! #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
//! struct Order { id: u64, region: String }
//!
//! let order = Order { id: 7, region: "eu".into() };
//! let bytes = Json.encode(&order)?;
//! assert_eq!(&bytes[..], br#"{"id":7,"region":"eu"}"#);
//! let back: Order = Json.decode(&bytes)?;
//! assert_eq!(back, order);
//! # Ok::<(), taskweave_nats::BoxError>(())
//! ```
//!
//! # Example: two replicas
//!
//! ```no_run
//! use taskweave_bus::Bus;
//! use taskweave_nats::{Bridge, Connection, Json};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let conn = Connection::connect("nats://127.0.0.1:4222").await?;
//! let bus: Bus<String> = Bus::new(1024);
//! // Orders created here reach every replica; orders created elsewhere arrive here.
//! let bridge = Bridge::builder(&conn, &bus, Json)
//!     .name("replica-1")
//!     .export("orders.>")
//!     .import("orders.>")
//!     .build()
//!     .await?;
//! let mut orders = bus.subscribe("orders.*.created")?;
//! bus.publish("orders.eu.created", "order 1".to_owned()).await?;
//! # let _ = orders.recv().await;
//! bridge.drain().await;
//! # Ok(())
//! # }
//! ```

#![warn(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bridge;
mod codec;
mod connection;
mod error;
mod pull;
mod queue;
mod subject;
pub mod testing;
mod wire;

pub use bridge::{
    Bridge, BridgeBuilder, DEFAULT_BUFFER, MAX_BUFFER, Metrics, OriginGaps, Replay, ShutdownReport,
};
pub use codec::Codec;
#[cfg(feature = "json")]
pub use codec::Json;
#[cfg(feature = "postcard")]
pub use codec::Postcard;
pub use connection::{
    Connection, ConnectionBuilder, ConnectionMetrics, DEFAULT_SUBSCRIPTION_CAPACITY,
    MAX_SUBSCRIPTION_CAPACITY,
};
pub use error::{BoxError, ConfigError, Error};
pub use queue::{
    DEFAULT_MAX_DELIVER, DEFAULT_MAX_IN_FLIGHT, MAX_DELIVER, MAX_IN_FLIGHT, WorkQueue,
    WorkQueueBuilder, Worker, WorkerMetrics, WorkerReport,
};
pub use subject::MAX_NATS_SUBJECT_LEN;
