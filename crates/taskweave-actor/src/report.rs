//! [`ShutdownReport`]: what [`ActorRef::shutdown`](crate::ActorRef::shutdown) had to do.

use crate::ExitReason;

/// The outcome of [`ActorRef::shutdown`](crate::ActorRef::shutdown): how the actor ended, and
/// whether anything had to be aborted or was discarded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Why the actor exited: [`ExitReason::Stopped`] after a clean close,
    /// [`ExitReason::Killed`] if the grace period ran out, or whatever ended it first.
    pub reason: ExitReason,
    /// Whether the grace period ran out and the actor had to be aborted.
    pub aborted: bool,
    /// Accepted messages dropped unhandled (see
    /// [`Metrics::discarded`](crate::Metrics::discarded)); asks among them resolved to
    /// [`AskError::NoReply`](crate::AskError::NoReply).
    pub discarded: u64,
}

impl ShutdownReport {
    /// Whether nothing had to be aborted or discarded: every accepted message was handled.
    pub fn is_clean(&self) -> bool {
        !self.aborted && self.discarded == 0
    }
}
