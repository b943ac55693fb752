//! A typed broadcast bus for Tokio with topics, filters, replay and a lag policy per
//! subscriber.
//!
//! `tokio::sync::broadcast` gives every receiver every message and silently skips what a slow
//! receiver missed. This bus routes each message by *subject* to the subscriptions whose
//! *pattern* matches, and lets each subscription choose what happens when it falls behind:
//!
//! | [`LagPolicy`] | when the buffer is full | publisher |
//! |---|---|---|
//! | [`DropOldest`](LagPolicy::DropOldest) (default) | oldest queued message dropped; told via [`RecvError::Lagged`] | never waits |
//! | [`DropNewest`](LagPolicy::DropNewest) | new message dropped; told via [`RecvError::Lagged`] | never waits |
//! | [`Block`](LagPolicy::Block) | [`Bus::publish`] waits for room: lossless | waits for this subscriber |
//!
//! - **Subjects and patterns** follow NATS: `orders.eu.created`; `*` matches one token,
//!   a final `>` one or more (`orders.*.created`, `orders.>`). Routing walks an index of the
//!   patterns, so its cost does not grow with subscriptions that cannot match.
//! - **Filters**: a predicate per subscription, run by the publisher.
//! - **Replay**: with [`BusBuilder::retain_last`], a new subscription can first receive the
//!   last messages of each matching subject ([`SubscriptionBuilder::replay`]).
//! - **Subjects for subscribers**: [`Subscription::recv_with_subject`] returns an
//!   [`Envelope`] with the subject each message was published to, for wildcard and replay
//!   subscriptions.
//! - **Publishing from a stream**: [`Bus::sink`] is a `futures` `Sink` ([`PublishSink`]) with
//!   the backpressure of [`Bus::publish`].
//! - **Accounting**: nothing is dropped silently. Every message is either received, reported
//!   to its subscriber in a [`RecvError::Lagged`] count, or reported to the publisher in
//!   [`Delivery::refused`]; [`Bus::metrics`] has bus-wide and per-subscriber counters, and a
//!   `tracing` warning marks the start of each lag episode.
//! - **Limits**: every size has an upper bound and a typed error above it:
//!   [`MAX_CAPACITY`], [`MAX_RETAIN`] ([`ConfigError`]), [`MAX_TOKENS`] and
//!   [`MAX_SUBJECT_LEN`] ([`SubjectError`]).
//! - **Lifecycle** (the same verbs as every taskweave crate): [`Bus::close`], a
//!   [`CancellationToken`](tokio_util::sync::CancellationToken)
//!   ([`BusBuilder::cancellation_token`]) or dropping the last [`Bus`] handle closes the bus;
//!   subscriptions read what is queued, then see [`RecvError::Closed`]. [`Bus::drain`] waits
//!   until they have; [`Bus::shutdown`] waits at most a grace period, then, like
//!   [`Bus::abort`], ends every subscription and counts what each lost in a
//!   [`ShutdownReport`].
//!
//! # Example
//!
//! ```
//! use taskweave_bus::{Bus, LagPolicy, RecvError};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bus: Bus<String> = Bus::new(64);
//!
//! // Every created order, whatever the region; this one must not lose any.
//! let mut audit = bus
//!     .subscription("orders.*.created")
//!     .lag_policy(LagPolicy::Block)
//!     .build()?;
//! // Everything about European orders.
//! let mut eu = bus.subscribe("orders.eu.>")?;
//!
//! let delivery = bus.publish("orders.eu.created", "order 1".to_owned()).await?;
//! assert_eq!(delivery.delivered(), 2);
//! bus.publish("orders.us.created", "order 2".to_owned()).await?;
//! bus.publish("orders.eu.shipped", "order 1".to_owned()).await?;
//! bus.close();
//!
//! assert_eq!(audit.recv().await?, "order 1");
//! assert_eq!(audit.recv().await?, "order 2");
//! assert_eq!(audit.recv().await, Err(RecvError::Closed));
//! assert_eq!(eu.recv().await?, "order 1");
//! assert_eq!(eu.recv().await?, "order 1");
//! assert_eq!(eu.recv().await, Err(RecvError::Closed));
//! # Ok(())
//! # }
//! ```
//!
//! Payloads that are costly to clone can travel as `Bus<Arc<P>>`: only the `Arc` is cloned
//! per subscriber, and `P` need not be `Clone`.

#![warn(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod bus;
mod envelope;
mod error;
mod index;
mod lifecycle;
mod loom;
mod member;
mod metrics;
mod policy;
mod registry;
mod retain;
mod ring;
mod sink;
mod subject;
mod subscription;
mod waiters;

pub use builder::{BusBuilder, DEFAULT_CAPACITY, MAX_CAPACITY, MAX_RETAIN};
pub use bus::{Bus, Delivery};
pub use envelope::Envelope;
pub use error::{
    ConfigError, Lagged, PublishError, RecvError, SubjectError, SubscribeError, TryRecvError,
};
pub use lifecycle::{Discarded, ShutdownReport};
pub use metrics::{Metrics, SubscriberId, SubscriberMetrics};
pub use policy::LagPolicy;
pub use sink::PublishSink;
pub use subject::{MAX_SUBJECT_LEN, MAX_TOKENS, Pattern};
pub use subscription::{Subscription, SubscriptionBuilder};
