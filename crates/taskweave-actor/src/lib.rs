//! Typed Tokio actors with supervision, at the speed of a raw channel.
//!
//! An actor is a task that owns its state and handles one message at a time. You write the
//! hand-rolled `mpsc` + `oneshot` pattern's logic once, as an [`Actor`], and get the rest:
//!
//! - **A typed handle.** [`ActorRef`] is cheap to clone. [`tell`](ActorRef::tell) waits for
//!   mailbox space (backpressure), [`try_tell`](ActorRef::try_tell) hands the message back when
//!   the mailbox is full, [`ask`](ActorRef::ask) returns a typed answer through a [`Reply`],
//!   optionally [with a timeout](ActorRef::ask_timeout); [`sink`](ActorRef::sink) turns the
//!   handle into a [`Sink`](futures_sink::Sink) for `stream.forward(..)`. A [`WeakActorRef`]
//!   does not keep the actor alive.
//! - **A lifecycle.** [`Actor::start`] builds the state (and may fail), [`Actor::handle`] takes
//!   each message, [`Actor::stop`] runs last with the [`ExitReason`]. Dropping the last strong
//!   handle closes the actor: it handles what is queued, then stops by itself.
//! - **The taskweave lifecycle**: [`close`](ActorRef::close) (graceful: refuse new messages,
//!   handle the queued ones), [`drain`](ActorRef::drain) (close and wait for the exit),
//!   [`shutdown(grace)`](ActorRef::shutdown) (close, wait, then abort, with a
//!   [`ShutdownReport`]) and [`abort`](ActorRef::abort) (the hard stop; discards are counted).
//!   They travel on a control channel of their own, so they never wait behind a full mailbox.
//!   A refused message is always handed back in the error; [`metrics`](ActorRef::metrics)
//!   counts what was handled and discarded.
//! - **Failure isolation.** A panic in a handler ends that actor with
//!   [`ExitReason::Panicked`]; nothing else is affected. [`monitor`](ActorRef::monitor) gives a
//!   future of an actor's exit reason; [`link`](ActorRef::link) ties two actors' fates.
//! - **Supervision.** A [`Supervisor`] restarts children by [`Strategy`] (one-for-one,
//!   one-for-all, rest-for-one) and [`Restart`] policy (permanent, transient, temporary) within a
//!   restart intensity limit, and supervisors nest into trees.
//! - **Context utilities.** From a handler, [`Context`] sends messages to the actor itself
//!   [after a delay](Context::send_after) or [at an interval](Context::send_interval), and
//!   [attaches a `Stream`](Context::attach_stream) as a message source. Spawn with a
//!   `CancellationToken` ([`ActorConfigBuilder::cancellation_token`]) so a shutdown coordinator
//!   can close the actor.
//! - **Tracing.** Each actor runs in a span named `actor` with its `name` and `id`; start, stop,
//!   restart and panic are logged as events.
//!
//! The message type is yours, usually an enum: messages move through one bounded Tokio channel
//! with no boxing and no allocation, so an `ask` costs what the hand-written pattern costs.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use taskweave_actor::{Actor, Context, Reply};
//!
//! struct Counter {
//!     count: u64,
//! }
//!
//! enum CounterMsg {
//!     Add(u64),
//!     Get(Reply<u64>),
//! }
//!
//! impl Actor for Counter {
//!     type Args = u64;
//!     type Message = CounterMsg;
//!     type Error = Infallible;
//!
//!     async fn start(initial: u64, _ctx: &mut Context<Self>) -> Result<Self, Infallible> {
//!         Ok(Counter { count: initial })
//!     }
//!
//!     async fn handle(&mut self, msg: CounterMsg, _ctx: &mut Context<Self>) -> Result<(), Infallible> {
//!         match msg {
//!             CounterMsg::Add(n) => self.count += n,
//!             CounterMsg::Get(reply) => {
//!                 let _ = reply.send(self.count);
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let counter = Counter::spawn(10);
//! counter.tell(CounterMsg::Add(5)).await.unwrap();
//! assert_eq!(counter.ask(CounterMsg::Get).await.unwrap(), 15);
//!
//! // Graceful: refuses new messages, handles what is queued, runs `stop`, then resolves.
//! let reason = counter.drain().await;
//! assert!(reason.is_normal());
//! assert_eq!(counter.metrics().handled, 2);
//! # }
//! ```
//!
//! # Supervision
//!
//! ```
//! # use std::convert::Infallible;
//! # use taskweave_actor::{Actor, Context};
//! # struct Worker;
//! # impl Actor for Worker {
//! #     type Args = (); type Message = (); type Error = Infallible;
//! #     async fn start((): (), _: &mut Context<Self>) -> Result<Self, Infallible> { Ok(Worker) }
//! #     async fn handle(&mut self, (): (), _: &mut Context<Self>) -> Result<(), Infallible> { Ok(()) }
//! # }
//! use std::time::Duration;
//! use taskweave_actor::{ChildSpec, Restart, Strategy, Supervisor};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), taskweave_actor::ConfigError> {
//! let spec = Supervisor::builder()
//!     .strategy(Strategy::OneForOne)
//!     .intensity(3, Duration::from_secs(5)) // more than 3 restarts in 5 s: give up
//!     .child(ChildSpec::new::<Worker, _>("worker", || ()))
//!     .child(ChildSpec::new::<Worker, _>("helper", || ()).restart(Restart::Transient))
//!     .build()?;
//! let supervisor = Supervisor::spawn(spec);
//! let worker = supervisor.child::<Worker>("worker").await.expect("running");
//! worker.tell(()).await.unwrap();
//! // Closes the children in reverse order first; anything still running after 5 s is aborted.
//! let report = supervisor.shutdown(Duration::from_secs(5)).await;
//! assert!(report.is_clean());
//! # Ok(())
//! # }
//! ```
//!
//! See `docs/actor.md` in the repository for the lifecycle diagram, choosing a mailbox size,
//! and pitfalls (asking yourself, blocking in a handler).
#![warn(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod actor;
mod child;
mod config;
mod context;
mod control;
mod error;
mod exit;
mod flags;
mod handle;
mod loom;
mod mailbox;
mod metrics;
mod reply;
mod report;
mod shared;
mod sink;
mod spawn;
mod supervisor;

pub use actor::Actor;
pub use child::{ChildInfo, ChildSpec, Restart};
pub use config::{ActorConfig, ActorConfigBuilder};
pub use context::Context;
pub use error::{AskError, ConfigError, SupervisorError, TellError, TryTellError};
pub use exit::{ExitReason, Monitor};
pub use handle::{ActorRef, WeakActorRef};
pub use metrics::Metrics;
pub use reply::Reply;
pub use report::ShutdownReport;
pub use shared::ActorId;
pub use sink::TellSink;
/// Internals exposed to the loom models only.
#[cfg(taskweave_loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::control::Control;
    pub use crate::flags::Flags;
}

pub use supervisor::{Strategy, Supervisor, SupervisorBuilder, SupervisorMessage, SupervisorSpec};
