//! Identifiers and metrics of the bus and its subscriptions.

use std::fmt;

use crate::loom::Ordering;
use crate::registry::Shared;
use crate::{LagPolicy, Pattern};

/// Identifies one subscription for the lifetime of its bus; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriberId(pub(crate) u64);

impl SubscriberId {
    /// The numeric id, as it appears in `tracing` events.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SubscriberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A snapshot of the bus's counters, from [`Bus::metrics`](crate::Bus::metrics).
///
/// Every message published to a subscription is, in the end, received by it, missed
/// (`lagged`: reported to it as [`RecvError::Lagged`](crate::RecvError::Lagged)), or
/// discarded by an [`abort`](crate::Bus::abort).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Messages accepted by `publish` or `try_publish` (whether or not anyone matched).
    pub published: u64,
    /// Deliveries: for each published message, how many subscriptions it was queued for.
    pub delivered: u64,
    /// Deliveries refused because the subscription was full (drop-newest subscriptions, and
    /// blocking ones under `try_publish`); see [`Delivery::refused`](crate::Delivery::refused).
    pub refused: u64,
    /// Messages subscriptions missed because they lagged (refused or overwritten), including
    /// those of subscriptions dropped since. Overwritten messages count when the subscriber
    /// notices.
    pub lagged: u64,
    /// Messages discarded by [`Bus::abort`](crate::Bus::abort) or
    /// [`Bus::shutdown`](crate::Bus::shutdown).
    pub discarded: u64,
    /// How many subscriptions exist.
    pub subscriptions: usize,
    /// Every subscription's counters.
    pub subscribers: Vec<SubscriberMetrics>,
}

/// A snapshot of one subscription's counters, from
/// [`Subscription::metrics`](crate::Subscription::metrics) or in [`Metrics::subscribers`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriberMetrics {
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

impl<T> Shared<T> {
    pub(crate) fn metrics(&self) -> Metrics {
        let registry = self.lock();
        let subscribers: Vec<SubscriberMetrics> = registry
            .groups
            .iter()
            .flatten()
            .flat_map(|group| group.members.iter().map(|m| m.metrics(group.tail)))
            .collect();
        let counters = registry.counters;
        let lagged_live: u64 = registry
            .groups
            .iter()
            .flatten()
            .flat_map(|group| group.members.iter())
            .map(|m| m.dropped.load(Ordering::Relaxed))
            .sum();
        Metrics {
            published: counters.published,
            delivered: counters.delivered,
            refused: counters.refused,
            lagged: counters.lagged_by_gone + lagged_live,
            discarded: counters.discarded,
            subscriptions: registry.subscriptions,
            subscribers,
        }
    }
}
