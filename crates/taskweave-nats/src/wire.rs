//! What travels with each message besides its payload, and the loss accounting built on it.
//!
//! Every exported message carries a stamp: the exporting bridge's name (`origin`), the bridge
//! instance (a nonce drawn at build, so a restarted exporter starts a new sequence) and a
//! sequence number counted per subject by that instance. Counting per subject makes
//! the accounting exact whatever the importer subscribes to: an importer sees either every
//! message of a subject or none.

use async_nats::HeaderMap;
use std::collections::HashMap;

/// The one header of an exported message: `<seq> <instance> <origin>`. One header rather
/// than three: each costs an allocation on both ends.
pub(crate) const STAMP: &str = "Taskweave-Stamp";

/// The most `(instance, subject)` streams one importer tracks. Beyond it the table
/// starts afresh (counted in `tracking_resets`): a gap spanning a reset goes unseen.
pub(crate) const MAX_TRACKED: usize = 1 << 16;

/// The headers of one exported message.
pub(crate) fn headers(origin: &str, instance: &str, seq: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(STAMP, format!("{seq} {instance} {origin}"));
    headers
}

/// Who sent a message and its place in that sender's sequence for the subject.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Stamp<'a> {
    pub(crate) origin: &'a str,
    pub(crate) instance: &'a str,
    pub(crate) seq: u64,
}

/// Reads the stamp of a message; `None` for messages not sent by a bridge.
pub(crate) fn stamp(headers: Option<&HeaderMap>) -> Option<Stamp<'_>> {
    let mut parts = headers?.get(STAMP)?.as_str().splitn(3, ' ');
    let seq = parts.next()?.parse().ok()?;
    let instance = parts.next()?;
    let origin = parts.next()?;
    Some(Stamp {
        origin,
        instance,
        seq,
    })
}

/// What the tracker concluded about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The next message of its stream, or the first one seen: deliver.
    InOrder,
    /// Deliver; `missed` messages before it never arrived.
    Gap { missed: u64 },
    /// Already delivered (a redelivery): skip it.
    Duplicate,
}

/// The last sequence seen per `(instance, subject)`; the instance also names its origin.
///
/// Looked up by borrowed strings: no allocation per message, only per new stream.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    instances: HashMap<Box<str>, HashMap<Box<str>, u64>>,
    streams: usize,
    pub(crate) resets: u64,
}

impl Tracker {
    pub(crate) fn observe(&mut self, stamp: &Stamp<'_>, subject: &str) -> Verdict {
        // The instance is 64 random bits drawn per exporter: it identifies the sender.
        let key = stamp.instance;
        if let Some(last) = self
            .instances
            .get_mut(key)
            .and_then(|subjects| subjects.get_mut(subject))
        {
            return if stamp.seq <= *last {
                Verdict::Duplicate
            } else {
                let missed = stamp.seq - *last - 1;
                *last = stamp.seq;
                if missed == 0 {
                    Verdict::InOrder
                } else {
                    Verdict::Gap { missed }
                }
            };
        }
        if self.streams >= MAX_TRACKED {
            self.instances.clear();
            self.streams = 0;
            self.resets += 1;
            tracing::warn!(
                max = MAX_TRACKED,
                "too many sender streams tracked: starting afresh"
            );
        }
        self.streams += 1;
        self.instances
            .entry(key.into())
            .or_default()
            .insert(subject.into(), stamp.seq);
        // The first message seen from a stream sets the baseline: an importer that starts
        // late has not lost what was sent before it subscribed.
        Verdict::InOrder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seq: u64) -> Stamp<'static> {
        Stamp {
            origin: "a",
            instance: "1",
            seq,
        }
    }

    #[test]
    fn counts_gaps_and_duplicates_per_subject() {
        let mut t = Tracker::default();
        assert_eq!(t.observe(&at(5), "x"), Verdict::InOrder);
        assert_eq!(t.observe(&at(6), "x"), Verdict::InOrder);
        assert_eq!(t.observe(&at(9), "x"), Verdict::Gap { missed: 2 });
        assert_eq!(t.observe(&at(9), "x"), Verdict::Duplicate);
        assert_eq!(t.observe(&at(1), "y"), Verdict::InOrder);
    }

    #[test]
    fn headers_round_trip() {
        let h = headers("orders", "0007", 42);
        let s = stamp(Some(&h)).expect("stamped");
        assert_eq!((s.origin, s.seq), ("orders", 42));
        assert_eq!(stamp(None), None);
    }
}
