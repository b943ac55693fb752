//! The types most programs use, for a glob import: `use taskweave::prelude::*;`.
//!
//! Only names that are unambiguous across the crates are here (each crate has its own
//! `ConfigError` and `Metrics`, for example); reach those through their module.

#[cfg(feature = "actor")]
pub use crate::actor::{Actor, ActorRef, Context as ActorContext, Reply, Supervisor};
#[cfg(feature = "backoff")]
pub use crate::backoff::{Backoff, Jitter, RetryBudget, RetryError, RetryExt, StopReason, retry};
#[cfg(feature = "batch")]
pub use crate::batch::{BatchedExt, Batcher};
#[cfg(all(feature = "breaker", feature = "tower"))]
pub use crate::breaker::BreakerLayer;
#[cfg(feature = "breaker")]
pub use crate::breaker::{Breaker, CallError};
#[cfg(feature = "bus")]
pub use crate::bus::{Bus, LagPolicy, Subscription};
#[cfg(feature = "limit")]
pub use crate::limit::{ConcurrencyLimit, Limiter, Quota, RateLimiter};
#[cfg(feature = "pipeline")]
pub use crate::pipeline::{Flow, StageConfig, StreamOps};
#[cfg(feature = "pool")]
pub use crate::pool::{JobHandle, Pool};
#[cfg(feature = "shutdown")]
pub use crate::shutdown::{CancellationToken, Coordinator};
