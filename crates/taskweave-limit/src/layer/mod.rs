//! `tower` layers for rate, keyed rate and concurrency limits.
//!
//! Every layer and service is `Clone` and shares its limiter between clones. Each works in one
//! of two modes ([`WhenLimited`]): wait until the request is admitted, or fail the request at
//! once with a [`Limited`](crate::Limited) error that carries the retry-after duration for
//! rate limits.
//!
//! Every service's error is `tower::BoxError`: the limiter's own errors
//! ([`Limited`](crate::Limited) for a refusal, [`Closed`](crate::Closed) once the limiter is
//! closed) are boxed and reachable with `downcast_ref`, and the inner service's errors are
//! passed through boxed as they are. So the stack the guides recommend (limit outermost, then
//! retry, breaker, timeout) composes, and a `tower::timeout::error::Elapsed` from an inner
//! `Timeout` is still downcastable.
//!
//! The waiting rate and concurrency services push back through `poll_ready`, like tower's own
//! `RateLimit` and `ConcurrencyLimit`: `poll_ready` is pending until the limiter has admitted a
//! permit, which it then reserves for the next `call`; there is no internal queue of waiting
//! requests. The keyed service cannot: the key is only known in `call`, so its response future
//! waits, and a bound (`max_waiting`, default [`DEFAULT_MAX_WAITING`]) keeps those waits from
//! piling up: past it a request fails at once with a boxed [`Overloaded`].
//!
//! The limiter's metrics say what happened: a request a waiting layer makes wait counts in
//! `waited` (and, once through, `admitted`), never in `rejected`, and does not trigger the
//! "limiter started rejecting" event; only a rejecting layer's refusals do.

mod concurrency;
mod future;
mod keyed;
mod rate;

pub use self::concurrency::{ConcurrencyLimitLayer, ConcurrencyLimitService};
pub use self::future::ResponseFuture;
pub use self::keyed::{
    DEFAULT_MAX_WAITING, KeyedRateLimitLayer, KeyedRateLimitService, KeyedResponseFuture,
    Overloaded,
};
pub use self::rate::{RateLimitLayer, RateLimitService};

/// What a layer does with a request its limit does not admit now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum WhenLimited {
    /// Wait until it is admitted (the default).
    #[default]
    Wait,
    /// Fail it at once with a `Limited` error.
    Reject,
}
