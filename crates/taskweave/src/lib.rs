//! taskweave: production-grade Tokio concurrency patterns, one small crate each.
//!
//! This crate is the facade. It re-exports every pattern crate as a module behind a feature of
//! the same name, so you can depend on one crate (`taskweave-breaker`) or on the facade with the
//! features you need (`taskweave = { features = ["breaker", "backoff"] }`). No feature is on by
//! default; `full` enables all of them.
//!
//! | pattern | feature | module | use it to |
//! |---|---|---|---|
//! | graceful shutdown | `shutdown` | [`shutdown`] | own a service's tasks: named tasks, groups stopped in phases with grace periods, a report and an exit code |
//! | retry with backoff | `backoff` | [`backoff`] | retry transient failures with capped, jittered delays, a retry budget and a typed reason for giving up |
//! | circuit breaker | `breaker` | [`breaker`] | stop calling a failing dependency, lock-free when closed, with Resilience4j's semantics |
//! | actors | `actor` | [`actor`] | own state in a task behind a handle: bounded mailbox, ask/tell, supervision |
//! | worker pool | `pool` | [`pool`] | run jobs at most N at a time from a bounded queue, keyed ordering, clean drains |
//! | broadcast bus | `bus` | [`bus`] | fan events out by NATS-style topics with a lag policy per subscriber |
//! | across processes | `nats` | [`nats`] | bridge the bus to a NATS server and share a work queue among replicas, with loss accounting |
//! | batching | `batch` | [`batch`] | turn many small writes into few large ones, flushing on size, age or weight |
//! | rate and concurrency limits | `limit` | [`limit`] | GCRA rate limits, keyed limits with bounded memory, adaptive concurrency |
//! | pipelines | `pipeline` | [`pipeline`] | chain typed async stages, each on its own task with a bounded buffer, per-stage concurrency and error policy; debounce, throttle, sample, batch |
//! | the shared clock | `clock` | [`clock`] | the `Clock` that limits and breakers read: TSC by default, Tokio's (paused-time testable), or manual |
//!
//! Integrations: `tower` turns on the `tower::Layer`s of the enabled crates that have one
//! (backoff, breaker, limit); `test-util` (for `[dev-dependencies]`, like tokio's) makes the
//! default clock of limits, breakers and the shutdown report's times Tokio's, so that
//! paused-time tests drive them, instead of the CPU's time-stamp counter;
//! `serde` adds `Serialize`/`Deserialize` to the configurations of the crates that have one
//! (`breaker::BreakerConfig`, …); `postcard` adds the nats bridge's compact binary codec.
//!
//! # Index
//!
//! The types most programs start from, by task:
//!
//! - **Starting and stopping a service:** [`shutdown::Coordinator`] (spawn named tasks and groups,
//!   `close()` or a signal starts the ordered shutdown, `run().await` returns a
//!   [`shutdown::Report`]); every component below accepts, as its `cancellation_token`, the
//!   [`CancellationToken`](shutdown::CancellationToken) a coordinator's task receives.
//! - **Calling a flaky dependency:** [`limit::RateLimiter`] outermost, then
//!   [`backoff::retry`] with a [`backoff::Backoff`] policy and a [`backoff::RetryBudget`], then
//!   [`breaker::Breaker`] innermost so that each attempt is seen by the breaker.
//! - **Owning state behind a handle:** [`actor::Actor`], [`actor::ActorRef`],
//!   [`actor::Supervisor`].
//! - **Running many jobs:** [`pool::Pool`], [`pool::KeyedPool`], [`pool::FixedPool`].
//! - **Moving events:** [`bus::Bus`] for fan-out, [`batch::Batcher`] for fan-in,
//!   [`pipeline::Flow`] for a chain of stages (validate → transform → enrich) with
//!   backpressure and dead letters.
//! - **Beyond one process:** [`nats::Bridge`] (the bus over NATS, core or JetStream),
//!   [`nats::WorkQueue`] (jobs shared by replicas).
//!
//! [`prelude`] re-exports the handful of types above that do not clash with each other.
//!
//! # Example
//!
//! A coordinator owns a task that retries a flaky call through a breaker (this is
//! `examples/resilient_call.rs`; run it with
//! `cargo run -p taskweave --features full --example resilient_call`):
//!
#![cfg_attr(
    all(feature = "shutdown", feature = "backoff", feature = "breaker"),
    doc = concat!("```\n", include_str!("../examples/resilient_call.rs"), "```")
)]
#![cfg_attr(
    not(all(feature = "shutdown", feature = "backoff", feature = "breaker")),
    doc = "(Enable the `shutdown`, `backoff` and `breaker` features to see it here.)"
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "actor")]
#[cfg_attr(docsrs, doc(cfg(feature = "actor")))]
#[doc(inline)]
pub use taskweave_actor as actor;

#[cfg(feature = "backoff")]
#[cfg_attr(docsrs, doc(cfg(feature = "backoff")))]
#[doc(inline)]
pub use taskweave_backoff as backoff;

#[cfg(feature = "batch")]
#[cfg_attr(docsrs, doc(cfg(feature = "batch")))]
#[doc(inline)]
pub use taskweave_batch as batch;

#[cfg(feature = "breaker")]
#[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
#[doc(inline)]
pub use taskweave_breaker as breaker;

#[cfg(feature = "bus")]
#[cfg_attr(docsrs, doc(cfg(feature = "bus")))]
#[doc(inline)]
pub use taskweave_bus as bus;

#[cfg(feature = "clock")]
#[cfg_attr(docsrs, doc(cfg(feature = "clock")))]
#[doc(inline)]
pub use taskweave_clock as clock;

#[cfg(feature = "limit")]
#[cfg_attr(docsrs, doc(cfg(feature = "limit")))]
#[doc(inline)]
pub use taskweave_limit as limit;

#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
#[doc(inline)]
pub use taskweave_nats as nats;

#[cfg(feature = "pipeline")]
#[cfg_attr(docsrs, doc(cfg(feature = "pipeline")))]
#[doc(inline)]
pub use taskweave_pipeline as pipeline;

#[cfg(feature = "pool")]
#[cfg_attr(docsrs, doc(cfg(feature = "pool")))]
#[doc(inline)]
pub use taskweave_pool as pool;

#[cfg(feature = "shutdown")]
#[cfg_attr(docsrs, doc(cfg(feature = "shutdown")))]
#[doc(inline)]
pub use taskweave_shutdown as shutdown;

pub mod prelude;
