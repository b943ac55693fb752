//! Rate and concurrency limits for Tokio that keep their promise.
//!
//! - [`RateLimiter`]: one or more [`Quota`]s ("100 per second, burst 10"), enforced with the
//!   generic cell rate algorithm on a single atomic word: no mutex, no refill task. Over any
//!   window of length `W` it admits at most `burst + rate × W`. [`check`](RateLimiter::check)
//!   never waits and returns a [`RetryAfter`] when the request does not conform yet;
//!   [`acquire`](RateLimiter::acquire) waits, in arrival order, and is cancel-safe.
//! - [`KeyedRateLimiter`]: the same quota per key (user, token, IP), with a hard bound on the
//!   number of keys and idle keys forgotten during normal calls.
//! - [`ConcurrencyLimit`]: at most N requests in flight; the permit frees its slot on drop.
//! - [`AdaptiveLimit`]: a concurrency limit that sizes itself with AIMD from the latency and
//!   errors it observes.
//! - [`Limiter`]: a rate and a concurrency limit together.
//! - With the `tower` feature, `Clone` layers for the rate, keyed and concurrency limits that
//!   wait (pushing back through `poll_ready`) or reject with a retry-after.
//!
//! Time comes from [`DefaultClock`]: the CPU's time-stamp counter, the clock governor reads, so
//! that a `check` costs one cheap clock read and one compare-and-swap. With the `test-util`
//! feature (enable it in `[dev-dependencies]`, as you enable Tokio's) it is Tokio's clock
//! instead, so paused-time tests (`tokio::time::pause`) drive every limiter deterministically;
//! the examples below run that way. Any other [`Clock`] can be plugged in with the builders'
//! `clock(..)`. The clock types come from the shared crate [`taskweave_clock`] and are
//! re-exported here.
//!
//! # Lifecycle
//!
//! Every limiter has `close()` / `is_closed()` and a builder method
//! `cancellation_token(token)` that closes it when the token is cancelled: waiters return
//! [`Closed`] at once and later requests are refused with it (the non-waiting `check`s, the
//! hot path, ignore it). The concurrency limits also have `drain()`, which closes and waits
//! for every permit handed out to come back. Permits belong to their callers and nothing is
//! queued on the limiter's behalf, so there is no `shutdown(grace)` or `abort()`.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use taskweave_limit::{Quota, RateLimiter};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 10 per second, at most 2 at once.
//! let limiter = RateLimiter::new(Quota::per_second(10).with_burst(2))?;
//!
//! assert!(limiter.check().is_ok());
//! assert!(limiter.check().is_ok());
//! // The burst is spent: the next one conforms 100 ms from now.
//! let retry = limiter.check().unwrap_err();
//! assert_eq!(retry.duration(), Duration::from_millis(100));
//!
//! // `acquire` waits for it instead.
//! let start = tokio::time::Instant::now();
//! limiter.acquire().await?;
//! assert_eq!(start.elapsed(), Duration::from_millis(100));
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! - `tower`: [`RateLimitLayer`], [`KeyedRateLimitLayer`] and [`ConcurrencyLimitLayer`], whose
//!   services' error is `tower::BoxError` (the limiter's [`Limited`] and [`Closed`] reachable
//!   with `downcast_ref`).
//! - `serde`: `Serialize`/`Deserialize` for [`Quota`] and the plain configs
//!   ([`RateLimiterConfig`], [`KeyedRateLimiterConfig`], [`ConcurrencyLimitConfig`],
//!   [`AdaptiveLimitConfig`]), durations written as `"250ms"`, `"1s"`.
//! - `test-util`: [`DefaultClock`] reads Tokio's clock instead of the time-stamp counter, so
//!   that `tokio::time::pause` and `advance` drive the limiters in tests. Meant for
//!   `[dev-dependencies]`.

#![warn(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod adaptive;
mod concurrency;
mod config;
mod error;
mod gcra;
mod keyed;
#[cfg(feature = "tower")]
mod layer;
mod lifecycle;
mod limiter;
mod loom;
mod metrics;
mod quota;
mod rate;

pub use adaptive::{AdaptiveLimit, AdaptiveLimitBuilder, AdaptivePermit};
pub use concurrency::{ConcurrencyLimit, ConcurrencyLimitBuilder, ConcurrencyPermit};
pub use config::{
    AdaptiveLimitConfig, ConcurrencyLimitConfig, KeyedRateLimiterConfig, RateLimiterConfig,
};
pub use error::{
    AcquireError, CheckError, Closed, ConfigError, ExceedsBurst, Limited, RetryAfter,
    TryAcquireError,
};
pub use keyed::{KeyedRateLimiter, KeyedRateLimiterBuilder};
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use layer::{
    ConcurrencyLimitLayer, ConcurrencyLimitService, DEFAULT_MAX_WAITING, KeyedRateLimitLayer,
    KeyedRateLimitService, KeyedResponseFuture, Overloaded, RateLimitLayer, RateLimitService,
    ResponseFuture,
};
pub use limiter::{Limiter, LimiterBuilder, LimiterPermit};
pub use metrics::Metrics;
pub use quota::Quota;
pub use rate::{RateLimiter, RateLimiterBuilder};
pub use taskweave_clock::{Clock, DefaultClock, ManualClock, QuantaClock, TokioClock};
