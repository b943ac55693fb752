//! The bridge's counters, and the snapshot and report built from them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Messages missed from one sender, in [`Metrics::gaps_by_origin`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OriginGaps {
    /// The sending bridge's name.
    pub origin: String,
    /// How many of its messages never arrived.
    pub missed: u64,
}

/// A snapshot of a bridge's counters, from [`Bridge::metrics`](crate::Bridge::metrics).
///
/// Every message an exporter took from the local bus is published, buffered, rejected or
/// discarded; every message an importer received is imported, skipped as a duplicate,
/// undecodable, or refused by the local bus. Messages lost on the wire are counted in
/// `gaps` by the importer that noticed the hole in the sender's sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Whether the connection is up right now.
    pub connected: bool,
    /// Messages held by exporters while disconnected (or waiting for a JetStream ack).
    pub buffered: usize,
    /// Messages published to NATS (for durable exports: acknowledged by JetStream).
    pub published: u64,
    /// Messages the local bus missed on the export side: the exporters' subscriptions
    /// lagged (their lag policy dropped them) while the buffer was full.
    pub lagged: u64,
    /// Messages not sent because they could not be encoded or exceeded `max_payload`.
    pub rejected: u64,
    /// Buffered messages thrown away by [`Bridge::abort`](crate::Bridge::abort) or a
    /// [`shutdown`](crate::Bridge::shutdown) past its grace period (and core publishes
    /// refused by a client that was closed).
    pub discarded: u64,
    /// JetStream publishes retried after a failed acknowledgement.
    pub publish_retries: u64,
    /// Messages received from NATS and published to the local bus.
    pub imported: u64,
    /// Messages lost in transit: holes in the senders' sequences.
    pub gaps: u64,
    /// `gaps`, per sender.
    pub gaps_by_origin: Vec<OriginGaps>,
    /// Redelivered messages already delivered locally, skipped (and acknowledged).
    pub duplicates: u64,
    /// JetStream messages delivered more than once by the server.
    pub redeliveries: u64,
    /// Received messages the codec could not decode (counted, logged and dropped).
    pub undecodable: u64,
    /// Received messages the local bus refused (it was closed); durable ones are left
    /// unacknowledged for redelivery.
    pub refused: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) buffered: AtomicUsize,
    pub(crate) published: AtomicU64,
    pub(crate) lagged: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) discarded: AtomicU64,
    pub(crate) publish_retries: AtomicU64,
    pub(crate) imported: AtomicU64,
    pub(crate) gaps: AtomicU64,
    gaps_by_origin: Mutex<HashMap<String, u64>>,
    pub(crate) duplicates: AtomicU64,
    pub(crate) redeliveries: AtomicU64,
    pub(crate) undecodable: AtomicU64,
    pub(crate) refused: AtomicU64,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn gap(&self, origin: &str, subject: &str, missed: u64) {
        add(&self.gaps, missed);
        let mut map = self
            .gaps_by_origin
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *map.entry(origin.to_owned()).or_default() += missed;
        drop(map);
        tracing::warn!(origin, subject, missed, "messages lost in transit");
    }

    pub(crate) fn snapshot(&self, connected: bool) -> Metrics {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut gaps_by_origin: Vec<OriginGaps> = self
            .gaps_by_origin
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .map(|(origin, &missed)| OriginGaps {
                origin: origin.clone(),
                missed,
            })
            .collect();
        gaps_by_origin.sort_by(|a, b| a.origin.cmp(&b.origin));
        Metrics {
            connected,
            buffered: self.buffered.load(Ordering::Relaxed),
            published: load(&self.published),
            lagged: load(&self.lagged),
            rejected: load(&self.rejected),
            discarded: load(&self.discarded),
            publish_retries: load(&self.publish_retries),
            imported: load(&self.imported),
            gaps: load(&self.gaps),
            gaps_by_origin,
            duplicates: load(&self.duplicates),
            redeliveries: load(&self.redeliveries),
            undecodable: load(&self.undecodable),
            refused: load(&self.refused),
        }
    }
}

/// What [`Bridge::shutdown`](crate::Bridge::shutdown) had to give up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Whether the bridge drained within the grace period.
    pub drained: bool,
    /// Buffered messages thrown away because the grace period ran out.
    pub discarded: u64,
}

impl ShutdownReport {
    /// Whether nothing had to be given up.
    pub fn is_clean(&self) -> bool {
        self.drained && self.discarded == 0
    }
}
