//! [`Metrics`]: a snapshot of one actor's counters, and the counters behind it.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of one actor, from [`ActorRef::metrics`](crate::ActorRef::metrics).
///
/// The counters cover the actor's whole life. A restarted child is a new actor with its own
/// counters; its supervisor counts the restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Messages waiting in the mailbox (including sends that have taken a slot and not yet
    /// pushed their message).
    pub queued: usize,
    /// How many messages the mailbox holds before `tell` waits.
    pub mailbox_capacity: usize,
    /// Messages the actor has finished handling (whether `handle` succeeded or not).
    pub handled: u64,
    /// Accepted messages that were dropped unhandled because the actor exited first (aborted,
    /// failed, panicked, linked death, `start` failed, or its runtime shut down). Each `ask`
    /// among them resolved to [`AskError::NoReply`](crate::AskError::NoReply). A graceful
    /// close discards nothing.
    pub discarded: u64,
    /// Children restarted by this actor, if it is a [`Supervisor`](crate::Supervisor) (one per
    /// child started again); `0` for any other actor.
    pub restarts: u64,
    /// Whether the actor refuses new messages (closing, aborting or exited).
    pub closed: bool,
    /// Whether the actor has exited.
    pub exited: bool,
}

/// The counters behind [`Metrics`], kept in the actor's shared state.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Written by the actor's own task only.
    handled: AtomicU64,
    discarded: AtomicU64,
    restarts: AtomicU64,
}

impl Counters {
    /// Counts one handled message. Only the actor's task writes this counter, so a load and a
    /// store do (no read-modify-write instruction on the per-message path).
    #[inline]
    pub(crate) fn handled_one(&self) {
        let handled = self.handled.load(Ordering::Relaxed);
        self.handled.store(handled + 1, Ordering::Relaxed);
    }

    pub(crate) fn add_discarded(&self, discarded: usize) {
        self.discarded.fetch_add(
            u64::try_from(discarded).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn restarted(&self, children: usize) {
        self.restarts.fetch_add(
            u64::try_from(children).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }

    pub(crate) fn discarded(&self) -> u64 {
        self.discarded.load(Ordering::Relaxed)
    }

    pub(crate) fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }
}
