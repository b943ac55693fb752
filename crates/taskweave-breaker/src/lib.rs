//! A lock-free circuit breaker for Tokio, with the semantics of Resilience4j.
//!
//! A [`Breaker`] sits in front of calls to a dependency. While the dependency is healthy the
//! breaker is **closed**: calls flow through and their outcomes go into a sliding window (the
//! last N calls, or the last T seconds). Once the window holds at least `minimum_calls` and the
//! failure rate — or the slow-call rate — reaches its threshold, the breaker **opens** and
//! rejects every call at once, with how long until it will try again. After the wait it turns
//! **half-open**: exactly `half_open_calls` trial calls are admitted, and their outcome closes
//! the breaker or opens it again (optionally for longer each time). Trials that hang or leak
//! cannot keep it half-open: once `max_wait_in_half_open` has passed with every slot held, the
//! next call re-opens it.
//!
//! ```text
//!            failure or slow-call rate ≥ threshold
//!            (with ≥ minimum_calls in the window)
//!   ┌────────┐ ───────────────────────────────▶ ┌──────┐
//!   │ Closed │                                  │ Open │ ◀─┐
//!   └────────┘ ◀──┐                             └──────┘   │ trial rates
//!                 │ trial rates                    │       │ ≥ threshold, or
//!                 │ below thresholds               │       │ trials held too long
//!                 │                     wait over, │       │
//!                 │                     next call  ▼       │
//!                 │                           ┌──────────┐ │
//!                 └────────────────────────── │ HalfOpen │─┘
//!                                             └──────────┘
//!   By hand, from any state: force_open() → ForcedOpen, disable() → Disabled,
//!   reset() → Closed, half_open() → HalfOpen.
//! ```
//!
//! - [`Breaker::call`] runs a future if admitted and records its result; the error is the
//!   operation's or a [`Rejected`] saying why and for how long.
//! - [`Breaker::try_acquire`] hands out a [`Permit`] to record later, for streams and callbacks;
//!   a permit dropped unrecorded gives its half-open slot back.
//! - A [`Classify`] predicate decides whether a result is a success, a failure or ignored (a 404
//!   need not trip the breaker); calls that take at least `slow_call_duration` count as slow.
//! - [`Breaker::state`], [`Breaker::metrics`], [`Breaker::subscribe`] and `tracing` events at
//!   each transition show what the breaker does.
//! - Clones share one breaker. With the `tower` feature, `BreakerLayer` wraps any service.
//! - The settings are also plain data, [`BreakerConfig`] (loadable from a file with the `serde`
//!   feature), and the time comes from a [`Clock`]: the [`DefaultClock`] (the CPU's time-stamp
//!   counter, or Tokio's clock with the `test-util` feature, so that paused-time tests drive
//!   the breaker; the example below runs that way), or any other through [`Builder::clock`].
//!
//! The breaker has no queue and no task of its own, so it has none of the lifecycle verbs of
//! the other taskweave crates (`close`, `drain`, `shutdown`): dropping the last clone is all
//! there is to ending it. [`Breaker::metrics`] is there as everywhere.
//!
//! The closed state takes no lock: one atomic load admits a call, and while the window holds only
//! successes, recording another success writes nothing at all (the window would not change);
//! otherwise a success is one uncontended atomic add on the calling thread's counter stripe. The
//! clock is read only if slow calls are counted or the window is time-based. Every transition
//! is one compare-and-swap on a single state word, so none is lost or made twice, and half-open
//! admission never exceeds its trial calls.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use taskweave_breaker::{Breaker, CallError, State};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let breaker = Breaker::builder()
//!     .count_window(10)
//!     .minimum_calls(4)
//!     .failure_rate_threshold(0.5)
//!     .wait_duration(Duration::from_secs(30))
//!     .build()?;
//!
//! for _ in 0..4 {
//!     let result = breaker.call(|| async { Err::<(), _>("connection refused") }).await;
//!     assert!(matches!(result, Err(CallError::Operation("connection refused"))));
//! }
//! assert_eq!(breaker.state(), State::Open);
//!
//! // Rejected at once, without running the operation.
//! match breaker.call(|| async { Ok::<_, &str>("pong") }).await {
//!     Err(CallError::Rejected(rejected)) => {
//!         assert_eq!(rejected.retry_after(), Some(Duration::from_secs(30)));
//!     }
//!     other => panic!("expected a rejection, got {other:?}"),
//! }
//!
//! tokio::time::advance(Duration::from_secs(30)).await;
//! assert_eq!(breaker.call(|| async { Ok::<_, &str>("pong") }).await, Ok("pong"));
//! assert_eq!(breaker.state(), State::HalfOpen);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `tower`: `BreakerLayer` and `BreakerService`, the breaker as tower middleware; their error
//!   is `tower::BoxError`, a rejection downcasts to [`Rejected`].
//! - `serde`: `Serialize` and `Deserialize` for [`BreakerConfig`], with human durations
//!   (`"30s"`).
//! - `test-util`: [`DefaultClock`] reads Tokio's clock instead of the time-stamp counter, so
//!   that `tokio::time::pause` and `advance` drive the breaker in tests. Meant for
//!   `[dev-dependencies]`, like Tokio's feature of the same name.
#![warn(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod breaker;
mod builder;
mod classify;
mod config;
mod error;
#[cfg(feature = "tower")]
mod layer;
mod loom;
mod metrics;
mod state;
mod time;
mod window;

pub use breaker::{Breaker, Permit};
pub use builder::Builder;
pub use classify::{Classify, FailOnErr, Outcome};
pub use config::{
    BreakerConfig, DEFAULT_MAX_WAIT_IN_HALF_OPEN, MAX_COUNT_WINDOW, MAX_EVENT_CAPACITY,
    MAX_HALF_OPEN_CALLS, MAX_MINIMUM_CALLS, MAX_TIME_WINDOW_BUCKETS, SlidingWindow, WaitGrowth,
};
pub use error::{CallError, ConfigError, Rejected};
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use layer::{BreakerLayer, BreakerService, ResponseFuture};
pub use metrics::Metrics;
pub use state::{State, Transition};
pub use taskweave_clock::{Clock, CoarseClock, DefaultClock, ManualClock, QuantaClock, TokioClock};
