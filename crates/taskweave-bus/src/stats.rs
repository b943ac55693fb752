//! Identifiers and metrics of subscriptions.

use std::fmt;

use crate::{LagPolicy, Pattern};

/// Identifies one subscription for the lifetime of its bus; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriberId(pub(crate) u64);

impl SubscriberId {
    /// The numeric id, as it appears in `tracing` events.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SubscriberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A snapshot of one subscription's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriberStats {
    /// The subscription.
    pub id: SubscriberId,
    /// What it subscribed to.
    pub pattern: Pattern,
    /// Its lag policy.
    pub policy: LagPolicy,
    /// Its buffer size.
    pub capacity: usize,
    /// Its lag: messages waiting in the bus that it has not taken yet (at most its
    /// capacity).
    pub queued: usize,
    /// Messages it has received since it subscribed (replayed ones not included).
    pub received: u64,
    /// Messages addressed to it that were lost because it lagged: overwritten
    /// (drop-oldest, counted when it notices) or refused (counted at once).
    pub dropped: u64,
}
